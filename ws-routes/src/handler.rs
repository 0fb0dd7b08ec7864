//! How a connection reaches a handler: the accepted [`Connection`], the extractors that take
//! handler arguments from it, and what a handler's return value means.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use crate::close::{self, CloseFrame};
use crate::http::HeaderMap;
use crate::path::{ParamError, Query, RoutePath};
use crate::socket::WebSocket;

/// A boxed, sendable future, as generated route entry points return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The entry point `#[route]` generates: takes the connection, runs the handler.
pub(crate) type Entry = fn(Connection) -> BoxFuture<Outcome>;

/// An upgraded connection on its way to a handler: the socket, the matched path and the
/// handshake request's headers and peer address.
///
/// Handler arguments are taken from it by [`FromConnection`].
pub struct Connection {
    socket: Option<WebSocket>,
    path: RoutePath,
    headers: HeaderMap,
    peer_addr: SocketAddr,
}

impl Connection {
    pub(crate) fn new(
        socket: WebSocket,
        path: RoutePath,
        headers: HeaderMap,
        peer_addr: SocketAddr,
    ) -> Self {
        Connection {
            socket: Some(socket),
            path,
            headers,
            peer_addr,
        }
    }

    /// The matched path, its parameters and the query string.
    pub fn path(&self) -> &RoutePath {
        &self.path
    }

    /// The headers of the handshake request.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The address of the client.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// Takes the socket; `None` if an extractor took it already.
    pub fn take_socket(&mut self) -> Option<WebSocket> {
        self.socket.take()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("path", &self.path)
            .field("peer_addr", &self.peer_addr)
            .finish_non_exhaustive()
    }
}

/// A handler argument that is not a path parameter: taken from the [`Connection`] before the
/// handler runs.
///
/// Implemented for [`WebSocket`], [`RoutePath`], [`Query`], [`HeaderMap`] and
/// [`SocketAddr`] (the peer's address). Implement it to write your own; returning `Err` closes
/// the connection with that frame and the handler does not run.
///
/// ```
/// use ws_routes::{close::CloseFrame, route, Connection, FromConnection, WebSocket};
///
/// struct UserAgent(String);
///
/// impl FromConnection for UserAgent {
///     fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame> {
///         let agent = connection.headers().get("user-agent").and_then(|v| v.to_str().ok());
///         Ok(UserAgent(agent.unwrap_or("unknown").to_owned()))
///     }
/// }
///
/// #[route("/whoami")]
/// async fn whoami(mut ws: WebSocket, agent: UserAgent) {
///     let _ = ws.send(agent.0).await;
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a path parameter nor an extractor",
    label = "not a parameter of the pattern, and `FromConnection` is not implemented for `{Self}`",
    note = "an argument binds a path parameter when its name is a `{{name}}` of the pattern; any other argument must implement `FromConnection` (`WebSocket`, `RoutePath`, `Query`, ...)"
)]
pub trait FromConnection: Sized {
    /// Takes the argument from the connection, or refuses with a close frame.
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame>;
}

impl FromConnection for WebSocket {
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame> {
        connection.take_socket().ok_or_else(|| {
            tracing::error!("a handler takes the WebSocket twice; only one argument can own it");
            close::frame(close::CloseCode::Error, "internal error")
        })
    }
}

impl FromConnection for RoutePath {
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame> {
        Ok(connection.path.clone())
    }
}

impl FromConnection for Query {
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame> {
        let query = connection.path.query();
        Ok(Query::new((!query.is_empty()).then(|| query.to_owned())))
    }
}

impl FromConnection for HeaderMap {
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame> {
        Ok(connection.headers.clone())
    }
}

impl FromConnection for SocketAddr {
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame> {
        Ok(connection.peer_addr)
    }
}

/// How a handler's run ended; decides the close frame the server sends.
#[doc(hidden)]
#[derive(Debug)]
pub enum Outcome {
    /// Returned normally: close with 1000.
    Finished,
    /// Close with this frame (a parameter or extractor refused the connection).
    Closed(CloseFrame),
    /// Returned an error: logged, close with 1011.
    Failed(String),
}

impl From<ParamError> for Outcome {
    fn from(error: ParamError) -> Self {
        Outcome::Closed(close::frame(close::INVALID_PARAMETER, &error.to_string()))
    }
}

impl From<CloseFrame> for Outcome {
    fn from(frame: CloseFrame) -> Self {
        Outcome::Closed(frame)
    }
}

/// What a route handler may return: `()`, or `Result<(), E>` where an `Err` is logged and
/// closes the connection with 1011.
#[diagnostic::on_unimplemented(
    message = "a route handler must return `()` or `Result<(), E>` with `E: Display`, not `{Self}`"
)]
pub trait HandlerReturn {
    #[doc(hidden)]
    fn __outcome(self) -> Outcome;
}

impl HandlerReturn for () {
    fn __outcome(self) -> Outcome {
        Outcome::Finished
    }
}

impl<E: fmt::Display> HandlerReturn for Result<(), E> {
    fn __outcome(self) -> Outcome {
        match self {
            Ok(()) => Outcome::Finished,
            Err(error) => Outcome::Failed(error.to_string()),
        }
    }
}
