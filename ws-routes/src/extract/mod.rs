//! What handlers and hooks take as arguments: the handshake [`Request`], the extractors read
//! from it ([`FromRequest`]: [`RoutePath`], [`Query`], headers, the peer's address,
//! [`State`]), the upgraded [`Connection`] they are taken from, and the [`Reject`] that
//! refuses a connection.

mod connection;
mod query;
mod reject;
mod request;
pub(crate) mod state;

use std::net::SocketAddr;

pub use crate::routing::path::{ParamError, RoutePath};
pub use connection::{Connection, FromConnection};
pub use query::Query;
pub(crate) use reject::PLAIN_TEXT;
pub use reject::Reject;
pub use request::Request;
pub use state::State;
use state::StateKey;
pub(crate) use state::States;

use crate::http::HeaderMap;

/// An extractor: a handler or hook argument read from the handshake [`Request`].
///
/// Implemented for [`RoutePath`], [`Query`], [`HeaderMap`](https://docs.rs/http/1/http/header/struct.HeaderMap.html), [`SocketAddr`] (the peer's) and
/// [`State<T>`]. Implement it for your own types; an `Err` refuses the connection (with that
/// HTTP response in an `accept` hook, or with close code 1008 after the upgrade).
///
/// ```
/// use ws_routes::{route, Reject, Request, WebSocket};
/// use ws_routes::extract::FromRequest;
///
/// struct UserAgent(String);
///
/// impl FromRequest for UserAgent {
///     fn from_request(request: &Request) -> Result<Self, Reject> {
///         let agent = request.headers().get("user-agent").and_then(|v| v.to_str().ok());
///         Ok(UserAgent(agent.unwrap_or("unknown").to_owned()))
///     }
/// }
///
/// #[route("/whoami")]
/// async fn whoami(mut ws: WebSocket, agent: UserAgent) {
///     let _ = ws.send(agent.0).await;
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = ws_routes::Server::new(ws_routes::routes![whoami]).bind("127.0.0.1:0").await?;
/// # let url = format!("ws://{}/whoami", server.local_addr()?);
/// # tokio::spawn(server.run());
/// # let mut ws = ws_routes::Client::new().header("user-agent", "doctest/1").connect(&url).await?;
/// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("doctest/1"));
/// # Ok(())
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a path parameter nor an extractor",
    label = "not a parameter of the pattern, and `FromRequest` is not implemented for `{Self}`",
    note = "an argument binds a path parameter when its name is a `{{name}}` of the pattern; any other argument must implement `FromRequest` (`RoutePath`, `Query`, `State<T>`, ...)"
)]
pub trait FromRequest: Sized {
    /// Reads the argument from the request, or refuses the connection.
    fn from_request(request: &Request) -> Result<Self, Reject>;

    /// The state type this extractor needs, checked when the server is bound.
    #[doc(hidden)]
    fn __state() -> Option<StateKey> {
        None
    }
}

impl FromRequest for RoutePath {
    fn from_request(request: &Request) -> Result<Self, Reject> {
        Ok(request.path().clone())
    }
}

impl FromRequest for Query {
    fn from_request(request: &Request) -> Result<Self, Reject> {
        Ok(request.query())
    }
}

impl FromRequest for HeaderMap {
    fn from_request(request: &Request) -> Result<Self, Reject> {
        Ok(request.headers().clone())
    }
}

impl FromRequest for SocketAddr {
    fn from_request(request: &Request) -> Result<Self, Reject> {
        Ok(request.peer_addr())
    }
}
