//! WebSocket servers with URI routing.
//!
//! Bind async functions to URI patterns with [`#[route]`](route), gather them into a table with
//! [`routes!`], and [`serve`] it. Patterns, parameter names and the table itself are checked at
//! compile time; path parameters are percent-decoded and parsed with [`FromStr`].
//!
//! ```no_run
//! # // Not run: it serves the fixed port 8765 until SIGINT or SIGTERM.
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
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let routes = routes![Counter];
//! # let server = ws_routes::Server::new(routes).bind("127.0.0.1:0").await?;
//! # let addr = server.local_addr()?;
//! # tokio::spawn(server.run());
//! # let refused = ws_routes::connect(&format!("ws://{addr}/counter/ada")).await;
//! # assert!(matches!(refused, Err(ws_routes::Error::Refused { status: StatusCode::UNAUTHORIZED, .. })));
//! # let mut ws = ws_routes::connect(&format!("ws://{addr}/counter/ada?token=t")).await?;
//! # ws.send("hi").await?;
//! # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("ada #1: hi"));
//! # Ok(())
//! # }
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

mod class;
mod client;
mod error;
mod extract;
mod handler;
mod rooms;
mod routing;
mod server;
mod socket;
#[cfg(feature = "tls")]
mod tls;
mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use bytes::Bytes;
pub use http;
pub use ws_routes_macros::{route, routes};

pub use crate::class::{AcceptReturn, Session};
pub use crate::client::{Client, connect};
pub use crate::error::{Error, MissingState};
pub use crate::extract::{Connection, FromConnection, FromRequest, Query, Reject, Request, State};
pub use crate::handler::{Close, HandlerReturn};
pub use crate::rooms::{Rooms, RoomsBuilder, SlowConsumer};
pub use crate::routing::{ParamError, Route, RoutePath, Routes, Segment};
pub use crate::server::{
    Fallback, Listening, Pages, Server, ServerHandle, Unmatched, serve, shutdown_signal,
};
pub use crate::socket::{Sender, WebSocket};
#[cfg(feature = "tls")]
pub use crate::tls::TlsConfig;
pub use crate::wire::{CloseCode, CloseFrame, Message, Utf8Bytes};
