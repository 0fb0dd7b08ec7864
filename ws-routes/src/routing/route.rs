//! Static route descriptions, as `#[route]` emits them, and the tables `routes![]` builds.

use std::fmt;

use crate::extract::state::StateKey;
use crate::handler::Entry;

/// One `/`-separated segment of a route pattern, parsed by the `#[route]` macro at compile time.
///
/// A pattern such as `/files/{owner}/{*rest}` is the segments
/// `[Static("files"), Param("owner"), CatchAll("rest")]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Text that must equal the request's segment byte for byte (before percent-decoding).
    Static(&'static str),
    /// `{name}`: exactly one non-empty segment.
    Param(&'static str),
    /// `{*name}`: the non-empty remainder of the path, slashes included; always last.
    CatchAll(&'static str),
}

impl Segment {
    /// The parameter name of a `{name}` or `{*name}` segment.
    pub const fn param_name(&self) -> Option<&'static str> {
        match self {
            Segment::Static(_) => None,
            Segment::Param(name) | Segment::CatchAll(name) => Some(name),
        }
    }

    /// Two segments match exactly the same request segments.
    const fn same_shape(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Static(a), Segment::Static(b)) => str_eq(a, b),
            (Segment::Param(_), Segment::Param(_))
            | (Segment::CatchAll(_), Segment::CatchAll(_)) => true,
            _ => false,
        }
    }
}

/// Whether two strings are equal, in a `const fn` (where `==` on `str` is not allowed).
pub(super) const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A route: a pattern bound to a handler.
///
/// Routes are made by the [`route`](crate::route) attribute and gathered into a [`Routes`]
/// table by [`routes!`](crate::routes); they are plain `'static` data.
#[derive(Clone, Copy)]
pub struct Route {
    /// What `#[route]` parsed.
    pub(crate) parts: RouteParts,
    /// How the handler is entered.
    pub(crate) entry: Entry,
}

/// What `#[route]` parsed, common to both kinds of route: the description a [`Route`] holds
/// beside its entry. Built by the macro's expansion (through `__private`); not public API.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct RouteParts {
    pub pattern: &'static str,
    pub segments: &'static [Segment],
    /// The name of the handler (the function or type the attribute is on).
    pub handler: &'static str,
    /// The state types the route's arguments take, checked when the server is bound.
    pub requires: &'static [fn() -> Option<StateKey>],
    /// The subprotocols the route speaks, most preferred first.
    pub protocols: &'static [&'static str],
    /// Refuse (HTTP 400) a client that offers none of `protocols`.
    pub protocol_required: bool,
    /// The route may agree on permessage-deflate (`compression = false` turns it off).
    pub compression: bool,
    /// The handler's doc comment.
    pub doc: &'static str,
    /// What clients send on the route.
    pub receives: Messages,
    /// What the route sends its clients.
    pub sends: Messages,
}

/// The messages one side of a route sends, as its documentation (the
/// [AsyncAPI document](crate::Routes::asyncapi)) describes them: see [`Route::receives`] and
/// [`Route::sends`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Messages {
    /// Text or binary, not described further.
    Untyped,
    /// Messages of one type, written by a codec (JSON unless the route names another).
    Typed(MessageType),
}

/// A type of typed messages: with the `asyncapi` feature, its name, JSON Schema and the
/// content type of its codec.
#[derive(Clone, Copy)]
pub struct MessageType {
    #[cfg(feature = "asyncapi")]
    pub(crate) describe: fn(&mut Generator) -> Described,
    #[cfg(feature = "asyncapi")]
    pub(crate) content_type: fn() -> &'static str,
}

/// The name [`MessageType`] had while typed messages were JSON only.
pub type JsonType = MessageType;

/// What makes JSON Schemas (the `asyncapi` feature's schemars generator; nothing without it).
#[doc(hidden)]
#[cfg(feature = "asyncapi")]
pub type Generator = schemars::SchemaGenerator;
#[doc(hidden)]
#[cfg(not(feature = "asyncapi"))]
pub type Generator = ();

/// A type of typed messages as documented: its name, and its JSON Schema when it implements
/// `schemars::JsonSchema` (nothing without the `asyncapi` feature).
#[doc(hidden)]
#[cfg(feature = "asyncapi")]
pub type Described = (std::borrow::Cow<'static, str>, Option<schemars::Schema>);
#[doc(hidden)]
#[cfg(not(feature = "asyncapi"))]
pub type Described = ();

#[cfg(feature = "asyncapi")]
impl MessageType {
    /// The type's name and, when it implements `schemars::JsonSchema`, its JSON Schema made by
    /// `generator` (a reference into the generator's definitions for a type with a name). A
    /// type without one is named by `std::any::type_name`.
    pub fn describe(
        &self,
        generator: &mut schemars::SchemaGenerator,
    ) -> (std::borrow::Cow<'static, str>, Option<schemars::Schema>) {
        (self.describe)(generator)
    }

    /// The media type of the messages: their codec's, such as `application/json` or
    /// `application/vnd.msgpack`.
    pub fn content_type(&self) -> &'static str {
        (self.content_type)()
    }
}

impl fmt::Debug for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageType").finish_non_exhaustive()
    }
}

impl Route {
    /// The pattern as written in `#[route("...")]`.
    pub const fn pattern(&self) -> &'static str {
        self.parts.pattern
    }

    /// The pattern's segments, parsed at compile time.
    pub const fn segments(&self) -> &'static [Segment] {
        self.parts.segments
    }

    /// The subprotocols the route speaks, most preferred first (`protocols = [...]`).
    pub const fn protocols(&self) -> &'static [&'static str] {
        self.parts.protocols
    }

    /// The name of the handler (the function or type the attribute is on).
    pub const fn handler_name(&self) -> &'static str {
        self.parts.handler
    }

    /// The handler's doc comment (`///` lines above the function or the `impl` block), one
    /// line per line, without the leading space; empty when it has none.
    pub const fn doc(&self) -> &'static str {
        self.parts.doc
    }

    /// What clients send on the route: the type `on_message` decodes or `receives = T` names,
    /// else [`Messages::Untyped`].
    pub const fn receives(&self) -> Messages {
        self.parts.receives
    }

    /// What the route sends its clients: the type `sends = T` names, else
    /// [`Messages::Untyped`].
    pub const fn sends(&self) -> Messages {
        self.parts.sends
    }

    /// Both routes match exactly the same set of paths (they differ at most in parameter names),
    /// so no precedence rule could choose between them.
    pub const fn is_ambiguous_with(&self, other: &Route) -> bool {
        if self.parts.segments.len() != other.parts.segments.len() {
            return false;
        }
        let mut i = 0;
        while i < self.parts.segments.len() {
            if !self.parts.segments[i].same_shape(&other.parts.segments[i]) {
                return false;
            }
            i += 1;
        }
        true
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("pattern", &self.parts.pattern)
            .field("handler", &self.parts.handler)
            .finish_non_exhaustive()
    }
}

/// A route table: what [`routes!`](crate::routes) builds and a [`Server`](crate::Server) serves.
///
/// The table is checked at compile time: two routes that match the same paths are a compile
/// error. Overlapping routes are resolved segment by segment from the left: a static segment
/// beats `{param}`, which beats `{*rest}`.
///
/// ```
/// use ws_routes::{route, routes, Routes, WebSocket};
///
/// #[route("/users/me")]
/// async fn me(ws: WebSocket) {}
///
/// #[route("/users/{id}")]
/// async fn user(ws: WebSocket, id: u64) {}
///
/// const ROUTES: Routes = routes![me, user];
/// assert_eq!(ROUTES.len(), 2);
/// assert_eq!(ROUTES.iter().next().unwrap().pattern(), "/users/me");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Routes {
    table: &'static [Route],
}

impl Routes {
    /// Wraps a table that `routes![]` has checked. Not public API: use `routes![]`.
    #[doc(hidden)]
    pub const fn __from_checked(table: &'static [Route]) -> Self {
        Routes { table }
    }

    /// The number of routes.
    pub const fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the table has no routes (every connection then gets close code 4040).
    pub const fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The routes in the order they were listed.
    pub fn iter(&self) -> impl Iterator<Item = &'static Route> {
        self.table.iter()
    }

    pub(crate) fn table(&self) -> &'static [Route] {
        self.table
    }
}
