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
//! [`FromStr`]: std::str::FromStr

extern crate self as ws_routes;

mod client;
pub mod close;
mod error;
mod handler;
mod handshake;
mod matcher;
mod path;
mod route;
mod server;
mod socket;

pub use bytes::Bytes;
pub use http;
pub use tokio_tungstenite::tungstenite::Utf8Bytes;
pub use ws_routes_macros::{route, routes};

pub use crate::client::connect;
pub use crate::error::Error;
pub use crate::handler::{BoxFuture, Connection, FromConnection, HandlerReturn};
pub use crate::path::{ParamError, Query, RoutePath};
pub use crate::route::{Route, Routes, Segment};
pub use crate::server::{Listening, Server, Unmatched, serve};
pub use crate::socket::{Message, WebSocket};

/// What the macros' expansions use. Not public API: no stability promises.
#[doc(hidden)]
pub mod __private {
    pub use crate::handler::{HandlerReturn, Outcome};
    pub use crate::route::Conflict;

    use crate::Connection;
    use crate::handler::BoxFuture;
    use crate::route::{Route, Segment};

    /// Builds the description of a route from what `#[route]` parsed.
    pub const fn route(
        pattern: &'static str,
        segments: &'static [Segment],
        handler: &'static str,
        entry: fn(Connection) -> BoxFuture<Outcome>,
    ) -> Route {
        Route {
            pattern,
            segments,
            handler,
            entry,
        }
    }

    /// Implemented by `#[route]` for the item it annotates, so that `routes![name]` finds it.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a route",
        label = "not annotated with `#[route(\"...\")]`",
        note = "`routes![]` lists functions and types annotated with `#[route(\"/pattern\")]`"
    )]
    pub trait RouteItem {
        /// The route's static description.
        const ROUTE: Route;
    }
}
