//! WebSocket servers with URI routing.
//!
//! Bind async functions to URI patterns with [`#[route]`](route), gather them into a table with
//! [`routes!`], and [`serve`] it. Patterns, parameter names and the table itself are checked at
//! compile time; path parameters are percent-decoded and parsed with [`FromStr`].
//!
//! ```no_run
//! use ws_routes::{route, routes, WebSocket};
//!
//! #[route("/light/{status}")]
//! async fn light(mut ws: WebSocket, status: String) {
//!     while let Some(Ok(_address)) = ws.recv().await {
//!         let reply = match status.as_str() {
//!             "on" => "the light has turned on",
//!             "off" => "the light has turned off",
//!             _ => "invalid params",
//!         };
//!         if ws.send(reply).await.is_err() {
//!             break;
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     ws_routes::serve("127.0.0.1:8765", routes![light]).await
//! }
//! ```
//!
//! # Patterns
//!
//! A pattern is `/` followed by segments separated by `/`:
//!
//! - `light`: a static segment, equal byte for byte to the request's (write reserved
//!   characters percent-encoded);
//! - `{status}`: a parameter, exactly one non-empty segment, bound to the handler argument of
//!   the same name;
//! - `{*rest}`: a catch-all, the non-empty remainder of the path with its slashes; last only.
//!
//! Matching is exact: a trailing slash is a segment of its own, so `/light/on/` does not match
//! `/light/{status}` (write `/light/{status}/` for that). The query string never takes part in
//! matching; read it with [`Query`]. When several routes match, the one that wins is decided
//! segment by segment from the left: a static segment beats `{param}`, which beats `{*rest}`.
//! Two routes that match exactly the same paths are a compile error.
//!
//! # Handler arguments
//!
//! An argument whose name is a parameter of the pattern receives it, percent-decoded and parsed
//! with [`FromStr`]; when it does not parse, the connection is closed with code 4000 and a
//! reason naming it. Every other argument is an extractor ([`FromConnection`]): the
//! [`WebSocket`] itself, the whole [`RoutePath`], the [`Query`], the request's
//! [`HeaderMap`](http::HeaderMap) or the peer's [`SocketAddr`](std::net::SocketAddr).
//!
//! # Class-style routes
//!
//! `#[route]` on an `impl` block makes a route with one instance per connection: an optional
//! `accept` hook runs during the handshake and builds the instance or refuses with a
//! [`Reject`] (an HTTP status, headers and body); `on_open`, `on_text`, `on_binary`,
//! `on_error` and `on_close`, or one `handle` method, serve the connection through a
//! [`Session`].
//!
//! ```
//! use ws_routes::http::StatusCode;
//! use ws_routes::{route, routes, Reject, Request, Session};
//!
//! struct Counter {
//!     name: String,
//!     seen: u64,
//! }
//!
//! #[route("/counter/{name}")]
//! impl Counter {
//!     async fn accept(request: &Request, name: String) -> Result<Self, Reject> {
//!         match request.query().get("token") {
//!             Some(_) => Ok(Counter { name, seen: 0 }),
//!             None => Err(Reject::new(StatusCode::UNAUTHORIZED).body("token required")),
//!         }
//!     }
//!
//!     async fn on_text(&mut self, session: &mut Session, text: String) {
//!         self.seen += 1;
//!         let _ = session.send(format!("{} #{}: {text}", self.name, self.seen)).await;
//!     }
//! }
//!
//! let routes = routes![Counter];
//! ```
//!
//! # Pushing, rooms, state and settings
//!
//! [`WebSocket::sender`] and [`Session::sender`] hand out cloneable, bounded [`Sender`]s to
//! push from any task; [`Rooms`] broadcasts to groups of them, closing members too slow to
//! keep up. [`Server::with_state`] shares values that handlers take as
//! [`State<T>`]. Every limit, timeout, the keepalive, origin checks, TLS (feature `tls`) and
//! graceful shutdown are settings of [`Server`], each with a safe default.
//!
//! # Features
//!
//! - `tls`: `wss://` on both sides, with rustls.
//! - `redis`: [`Rooms`] shared between server processes through Redis pub/sub.
//!
//! [`FromStr`]: std::str::FromStr

extern crate self as ws_routes;

mod client;
pub mod close;
mod connection;
mod error;
mod fallback;
mod handler;
mod handshake;
mod limits;
mod listening;
mod liveness;
mod matcher;
mod origin;
mod outbox;
mod path;
mod request;
mod rooms;
mod route;
mod server;
mod session;
mod shutdown;
mod socket;
#[cfg(feature = "tls")]
mod tls;
mod transport;

pub use bytes::Bytes;
pub use http;
pub use tokio_tungstenite::tungstenite::Utf8Bytes;
pub use ws_routes_macros::{route, routes};

pub use crate::client::{Client, connect};
pub use crate::error::Error;
pub use crate::fallback::{Fallback, Pages};
pub use crate::handler::{
    AcceptReturn, BoxFuture, Close, Connection, FromConnection, HandlerReturn,
};
pub use crate::listening::Listening;
pub use crate::outbox::Sender;
pub use crate::path::{ParamError, Query, RoutePath};
pub use crate::request::{FromRequest, Reject, Request, State};
#[cfg(feature = "redis")]
pub use crate::rooms::BackplaneStats;
pub use crate::rooms::{Rooms, RoomsBuilder, SlowConsumer};
pub use crate::route::{Route, Routes, Segment};
pub use crate::server::{Server, Unmatched, serve};
pub use crate::session::Session;
pub use crate::shutdown::{ServerHandle, shutdown_signal};
pub use crate::socket::{Message, WebSocket};
#[cfg(feature = "tls")]
pub use crate::tls::TlsConfig;

/// What the macros' expansions use. Not public API: no stability promises.
#[doc(hidden)]
pub mod __private {
    pub use crate::handler::{AcceptReturn, Admitted, HandlerReturn, Outcome};
    pub use crate::request::StateKey;
    pub use crate::route::Conflict;
    pub use crate::session::{ClassRoute, DefaultInstance, FromBinary, FromText, run as run_class};

    use crate::handler::{BoxFuture, Entry};
    use crate::path::{ParamError, RoutePath};
    use crate::route::{Route, Routes, Segment};
    use crate::{Connection, Reject, Request};

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

    /// What `#[route]` parsed, common to both kinds of route.
    pub struct RouteParts {
        pub pattern: &'static str,
        pub segments: &'static [Segment],
        pub handler: &'static str,
        pub requires: &'static [fn() -> Option<StateKey>],
        pub protocols: &'static [&'static str],
        pub protocol_required: bool,
    }

    /// The description of a function route.
    pub const fn function_route(
        parts: RouteParts,
        entry: fn(Connection) -> BoxFuture<Outcome>,
    ) -> Route {
        route(parts, Entry::Upgrade(entry))
    }

    /// The description of a class-style route, entered through its `accept` hook.
    pub const fn class_route(
        parts: RouteParts,
        accept: fn(Request) -> BoxFuture<Result<Admitted, Reject>>,
    ) -> Route {
        route(parts, Entry::Accept(accept))
    }

    const fn route(parts: RouteParts, entry: Entry) -> Route {
        let RouteParts {
            pattern,
            segments,
            handler,
            requires,
            protocols,
            protocol_required,
        } = parts;
        Route {
            pattern,
            segments,
            handler,
            requires,
            protocols,
            protocol_required,
            entry,
        }
    }

    /// The route matcher, for the fuzz targets and benchmarks.
    #[derive(Debug)]
    pub struct Matcher(crate::matcher::Matcher);

    impl Matcher {
        /// Builds the matcher for `routes`.
        pub fn new(routes: Routes) -> Self {
            Matcher(crate::matcher::Matcher::new(routes))
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
}
