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
//! matching; read it with [`Query`](extract::Query). When several routes match, the one that wins is decided
//! segment by segment from the left: a static segment beats `{param}`, which beats `{*rest}`.
//! Two routes that match exactly the same paths are a compile error.
//!
//! # Handler arguments
//!
//! An argument whose name is a parameter of the pattern receives it, percent-decoded and parsed
//! with [`FromStr`]; when it does not parse, the connection is closed with code 4000 and a
//! reason naming it. Every other argument is the [`WebSocket`] itself or an extractor
//! ([`FromRequest`](extract::FromRequest), which you can implement): the whole
//! [`RoutePath`](extract::RoutePath), the [`Query`](extract::Query), the request's
//! [`HeaderMap`](https://docs.rs/http/1/http/header/struct.HeaderMap.html), the peer's
//! [`SocketAddr`](std::net::SocketAddr) or a [`State`].
//!
//! # Class-style routes
//!
//! `#[route]` on an `impl` block makes a route with one instance per connection: an optional
//! `accept` hook runs during the handshake and builds the instance or refuses with a
//! [`Reject`] (an HTTP status, headers and body); `on_open`, `on_text` (or `on_message`, for
//! [typed messages](#typed-messages)), `on_binary`, `on_error` and `on_close`, or one `handle`
//! method, serve the connection through a [`Session`].
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
//! # Typed messages
//!
//! With the `json` feature (on by default), messages are serde values sent as JSON text:
//! [`WebSocket::recv_json`] and [`WebSocket::send_json`] in function routes, an `on_message`
//! method taking [`Json<T>`] in class-style routes, [`Sender::send_json`],
//! [`Session::send_json`] and [`Rooms::broadcast_json`] (which writes the JSON once for every
//! member). A serde-tagged enum of client events is dispatched with one `match`. A message that
//! does not decode is bad input: the connection is closed with 1007 and serde's error as the
//! reason (1003 for a binary message), unless the route takes the error
//! ([`WebSocket::recv_json_lenient`], or `Result<Json<T>, JsonError>` as `on_message`'s
//! argument) and the connection stays open.
//!
//! JSON is one [`codec`]: with the `msgpack` feature, the same works over MessagePack in
//! binary messages, with `MsgPack<T>` in `on_message` and [`WebSocket::recv_as`] /
//! [`WebSocket::send_as`] with `MsgPackCodec` (any [`Codec`](codec::Codec) of your own too).
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use ws_routes::{route, routes, Json, Rooms, Server, Session, State};
//!
//! #[derive(Deserialize)]
//! #[serde(tag = "type", rename_all = "lowercase")]
//! enum ClientEvent {
//!     Join { name: String },
//!     Say { text: String },
//! }
//!
//! #[derive(Serialize)]
//! #[serde(tag = "type", rename_all = "lowercase")]
//! enum ServerEvent {
//!     Said { name: String, text: String },
//! }
//!
//! struct Chat {
//!     rooms: Rooms,
//!     name: String,
//! }
//!
//! #[route("/chat")]
//! impl Chat {
//!     fn accept(State(rooms): State<Rooms>) -> Self {
//!         Chat { rooms, name: "anonymous".into() }
//!     }
//!
//!     async fn on_message(&mut self, session: &mut Session, Json(event): Json<ClientEvent>) {
//!         match event {
//!             ClientEvent::Join { name } => {
//!                 self.name = name;
//!                 self.rooms.join("lobby", &session.sender());
//!             }
//!             ClientEvent::Say { text } => {
//!                 let said = ServerEvent::Said { name: self.name.clone(), text };
//!                 let _ = self.rooms.broadcast_json("lobby", &said);
//!             }
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::new(routes![Chat]).with_state(Rooms::new()).bind("127.0.0.1:0").await?;
//! let url = format!("ws://{}/chat", server.local_addr()?);
//! tokio::spawn(server.run());
//!
//! let mut ada = ws_routes::connect(&url).await?;
//! ada.send(r#"{"type":"join","name":"ada"}"#).await?;
//! ada.send(r#"{"type":"say","text":"hello"}"#).await?;
//! let said: serde_json::Value = ada.recv_json().await.unwrap()?;
//! assert_eq!(said, serde_json::json!({ "type": "said", "name": "ada", "text": "hello" }));
//!
//! ada.send(r#"{"type":"dance"}"#).await?; // not a ClientEvent: closed with 1007
//! while ada.recv().await.is_some() {}
//! assert_eq!(ada.close_frame().unwrap().code, ws_routes::CloseCode::INVALID_PAYLOAD);
//! # Ok(())
//! # }
//! ```
//!
//! # AsyncAPI
//!
//! With the `asyncapi` feature, [`Routes::asyncapi`] generates the AsyncAPI 3.0 document of a
//! route table: a channel per route, its parameters, its doc comment, and the JSON Schemas
//! (schemars) of the messages it receives (`on_message`'s type, or `receives = T`) and sends
//! (`sends = T`): `#[route("/chat/{room}", sends = ServerEvent)]`.
//!
//! # Pushing, rooms, state and settings
//!
//! [`WebSocket::sender`] and [`Session::sender`] hand out cloneable, bounded [`Sender`]s to
//! push from any task; [`Rooms`] broadcasts to groups of them, closing members too slow to
//! keep up. With [`WebSocket::enable_replies`], either side of a connection asks the other
//! and awaits its answer ([`reply`]). [`Server::with_state`] shares values that handlers take
//! as [`State<T>`]. Every limit, timeout, the keepalive, origin checks, TLS (feature `tls`)
//! and graceful shutdown are settings of [`Server`], each with a safe default.
//!
//! # Mounting and testing
//!
//! `Server::into_service` (feature `tower`) turns the route table into a `tower::Service`
//! that hyper, tower and axum apps mount on their own port, or put in front of their own
//! service as a layer (`WsService::layer`); the `axum` module puts it in an axum `Router`.
//! [`test::TestServer`] serves it in process, without a port, for tests.
//!
//! # Modules
//!
//! The crate root holds what a first program uses: the macros, [`WebSocket`], [`Message`],
//! [`Server`] and [`serve`], [`Rooms`], [`Sender`], [`Session`], [`State`], [`Error`]. The rest
//! lives in modules named for their job: [`extract`] (handler arguments), [`routing`] (route
//! tables), [`server`] (settings, shutdown, fallback, mounting), [`rooms`], [`class`],
//! [`codec`], [`reply`], [`handler`], [`error`], [`reconnect`], [`test`](mod@test).
//!
//! # Features
//!
//! - `tls`: `wss://` on both sides, with rustls.
//! - `redis`: [`Rooms`] shared between server processes through Redis Streams.
//! - `tower`: `Server::into_service` and `WsService`, the route table as a `tower::Service`
//!   doing the upgrade through hyper 1.x.
//! - `axum`: `tower`, and the `axum` module for axum 0.8.
//! - `metrics`: connections, handshakes, messages and bytes, close codes, broadcasts, slow
//!   consumers and the backplane, recorded on the `metrics` facade and labelled by route
//!   pattern; nothing is recorded until the application installs a recorder. The README's
//!   "Metrics" section lists every metric with its type and labels.
//! - `json` (default): typed messages as JSON text, [`Json<T>`] and the `*_json` methods, on
//!   serde_json.
//! - `msgpack`: typed messages as MessagePack binary messages, `MsgPack<T>` and `MsgPackCodec`,
//!   on rmp-serde.
//! - `codec`: the [`Codec`](codec::Codec) trait and the `*_as` methods alone, for a codec of
//!   your own (`json` and `msgpack` turn it on).
//! - `asyncapi`: [`Routes::asyncapi`], the AsyncAPI document of a route table, with the JSON
//!   Schemas of the typed messages that implement `schemars::JsonSchema` (schemars; implies
//!   `json`). Turning it on never breaks a build: a type without a schema is documented as JSON
//!   without one.
//!
//! [`FromStr`]: std::str::FromStr

extern crate self as ws_routes;

#[cfg(feature = "asyncapi")]
pub mod asyncapi;
#[cfg(feature = "axum")]
pub mod axum;
pub mod class;
mod client;
pub mod codec;
mod compression;
pub mod error;
pub mod extract;
pub mod handler;
mod metrics;
mod prefetch;
mod rate_limit;
pub mod reconnect;
pub mod reply;
pub mod rooms;
pub mod routing;
pub mod server;
mod socket;
pub mod test;
#[cfg(test)]
mod test_wakers;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "asyncapi")]
mod typescript;
mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's Rust examples, compiled (and run where they can) as doctests.
#[cfg(all(
    doctest,
    feature = "redis",
    feature = "tls",
    feature = "axum",
    feature = "asyncapi",
    feature = "msgpack"
))]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

pub use bytes::Bytes;
pub use http;
pub use ws_routes_macros::{route, routes};

pub use crate::class::Session;
pub use crate::client::{Client, connect};
#[cfg(feature = "json")]
pub use crate::codec::Json;
pub use crate::compression::Compression;
pub use crate::error::Error;
pub use crate::extract::{Reject, Request, State};
pub use crate::handler::Close;
pub use crate::rate_limit::RateLimit;
pub use crate::rooms::Rooms;
pub use crate::routing::Routes;
pub use crate::server::{Server, serve};
pub use crate::socket::{Sender, WebSocket};
#[cfg(feature = "tls")]
pub use crate::tls::TlsConfig;
pub use crate::wire::{CloseCode, CloseFrame, Message, Utf8Bytes};
