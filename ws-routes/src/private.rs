//! What the macros' expansions (and the fuzz targets and benchmarks) call: re-exports and the
//! few functions that build route descriptions. Not public API: no stability promises.

pub use crate::class::{
    AcceptReturn, Admitted, ClassRoute, DefaultInstance, FromBinary, FromJsonText, FromText,
    JsonPayload, run as run_class,
};
pub use crate::extract::StateKey;
pub use crate::handler::{BoxFuture, HandlerReturn, Outcome};
pub use crate::routing::Conflict;

use crate::extract::{Connection, Reject, Request};
use crate::handler::Entry;
pub use crate::routing::{JsonType, Messages, RouteParts};
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

/// The description of JSON messages whose type `describe` reports (the macro's `__describe`).
pub const fn json_message(describe: fn(&mut Generator) -> Described) -> Messages {
    // Only the AsyncAPI document reads it; the macro cannot see the feature, so it always
    // writes it.
    #[cfg(not(feature = "asyncapi"))]
    let _ = describe;
    Messages::Json(JsonType {
        #[cfg(feature = "asyncapi")]
        describe,
    })
}

pub use crate::routing::{Described, Generator};

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
