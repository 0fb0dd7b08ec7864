//! What the macros' expansions (and the fuzz targets and benchmarks) call: re-exports and the
//! few functions that build route descriptions. Not public API: no stability promises.

pub use crate::class::{
    AcceptReturn, Admitted, ClassRoute, DefaultInstance, FromBinary, FromMessage, FromText,
    MessagePayload, run as run_class,
};
pub use crate::codec::MessageKind;
pub use crate::extract::StateKey;
pub use crate::handler::{BoxFuture, HandlerReturn, Outcome};
pub use crate::routing::Conflict;

use crate::extract::{Connection, Reject, Request};
use crate::handler::Entry;
pub use crate::routing::{MessageType, Messages, RouteParts};
use crate::routing::{ParamError, Route, RoutePath, Routes};

/// Parses the parameter at segment `index` of the pattern (the macro knows the index).
pub fn parse_param<T: PathParam>(
    path: &RoutePath,
    index: usize,
    name: &'static str,
) -> Result<T, ParamError> {
    path.parse(index, name)
}

/// The type of a path parameter: anything `FromStr`.
#[diagnostic::on_unimplemented(
    message = "the path parameter type `{Self}` does not implement `FromStr`",
    label = "a path parameter is parsed with `FromStr`",
    note = "use `String`, a number, or a type that implements `std::str::FromStr`"
)]
pub trait PathParam: std::str::FromStr {}

impl<T: std::str::FromStr> PathParam for T {}

/// The description of typed messages whose type `describe` reports, written by the codec
/// whose media type `content_type` returns (the macro's `__describe` and `__content_type`).
pub const fn typed_message(
    describe: fn(&mut Generator) -> Described,
    content_type: fn() -> &'static str,
) -> Messages {
    // Only the AsyncAPI document reads them; the macro cannot see the feature, so it always
    // writes them.
    #[cfg(not(feature = "asyncapi"))]
    let _ = (describe, content_type);
    Messages::Typed(MessageType {
        #[cfg(feature = "asyncapi")]
        describe,
        #[cfg(feature = "asyncapi")]
        content_type,
    })
}

pub use crate::routing::{Described, Generator};

/// A type named in `receives = T` or `sends = T`, or the one `on_message` decodes: a
/// [`TypedMessage`](crate::codec::TypedMessage) wrapper names its codec and the value it
/// holds ([`Wrapped`], found first by method resolution on `&&Declared<T>`); any other type is
/// JSON (the inherent method, found on `&Declared<T>`).
pub struct Declared<T: ?Sized>(pub std::marker::PhantomData<T>);

impl<T: ?Sized> Declared<T> {
    /// A bare type: JSON of it.
    pub fn __typed(&self) -> (&'static str, Probe<T>) {
        ("application/json", Probe(std::marker::PhantomData))
    }
}

/// A wrapper: its codec's media type, and the value it holds.
pub trait Wrapped {
    type Value: ?Sized;
    fn __typed(&self) -> (&'static str, Probe<Self::Value>);
}

#[cfg(feature = "codec")]
impl<W: crate::codec::TypedMessage> Wrapped for &Declared<W> {
    type Value = W::Value;
    fn __typed(&self) -> (&'static str, Probe<W::Value>) {
        (
            <W::Codec as crate::codec::Codec>::CONTENT_TYPE,
            Probe(std::marker::PhantomData),
        )
    }
}

/// Picks, for a concrete `T`, the description with `T`'s JSON Schema when it has one and the
/// feature is on ([`WithSchema`], found first by method resolution on `&&Probe<T>`), else the
/// one without (the inherent method, found on `&Probe<T>`): a type without a JSON Schema is
/// documented without one rather than refused, so that the `asyncapi` feature never breaks a
/// build.
pub struct Probe<T: ?Sized>(pub std::marker::PhantomData<T>);

impl<T: ?Sized> Probe<T> {
    /// Without a JSON Schema: the type's name only.
    pub fn __describe(&self, _generator: &mut Generator) -> Described {
        #[cfg(feature = "asyncapi")]
        return (std::borrow::Cow::Borrowed(std::any::type_name::<T>()), None);
    }
}

/// With a JSON Schema: its name and a reference into the generator's definitions.
pub trait WithSchema {
    fn __describe(&self, generator: &mut Generator) -> Described;
}

#[cfg(feature = "asyncapi")]
impl<T: ?Sized + schemars::JsonSchema> WithSchema for &Probe<T> {
    fn __describe(&self, generator: &mut Generator) -> Described {
        (T::schema_name(), Some(generator.subschema_for::<T>()))
    }
}

/// The description of a function route.
pub const fn function_route(
    parts: RouteParts,
    entry: fn(Connection) -> BoxFuture<Outcome>,
) -> Route {
    Route {
        parts,
        entry: Entry::Upgrade(entry),
    }
}

/// The description of a class-style route, entered through its `accept` hook.
pub const fn class_route(
    parts: RouteParts,
    accept: fn(Request) -> BoxFuture<Result<Admitted, Reject>>,
) -> Route {
    Route {
        parts,
        entry: Entry::Accept(accept),
    }
}

/// The route matcher, for the fuzz targets and benchmarks.
#[derive(Debug)]
pub struct Matcher(crate::routing::matcher::Matcher);

impl Matcher {
    /// Builds the matcher for `routes`.
    pub fn new(routes: Routes) -> Self {
        Matcher(crate::routing::matcher::Matcher::new(routes))
    }

    /// The index of the route `path` matches (no allocation).
    pub fn find(&self, path: &str) -> Option<usize> {
        self.0.find(path)
    }

    /// The match for `path`, as a handler would see it.
    pub fn route_path(&self, path: &str, query: Option<&str>) -> Option<RoutePath> {
        let route = self.0.route(path)?;
        Some(RoutePath::new(
            route,
            path.to_owned(),
            query.map(str::to_owned),
        ))
    }
}

/// The request target as the handshake routes it: `None` when it is answered with 400.
pub fn request_target(target: &str) -> Option<crate::http::Uri> {
    crate::server::handshake::request_target(target).ok()
}

/// A query string, as the `Query` extractor would see it.
pub fn query(raw: &str) -> crate::Query {
    crate::Query::new(Some(raw.to_owned()))
}

/// Implemented by `#[route]` for the item it annotates, so that `routes![name]` finds it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a route",
    label = "not annotated with `#[route(\"...\")]`",
    note = "`routes![]` lists functions and `impl` blocks annotated with `#[route(\"/pattern\")]`"
)]
pub trait RouteItem {
    /// The route's static description.
    const ROUTE: Route;
}
