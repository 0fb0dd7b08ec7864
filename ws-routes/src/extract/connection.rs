//! [`Connection`]: an upgraded connection on its way to a handler, and [`FromConnection`], how
//! each handler argument is taken from it.

use std::fmt;
use std::net::SocketAddr;

use super::state::StateKey;
use super::{FromRequest, Request};
use crate::http::HeaderMap;
use crate::routing::RoutePath;
use crate::socket::WebSocket;
use crate::wire::{CloseCode, CloseFrame};

/// An upgraded connection on its way to a handler: the socket and the handshake request.
///
/// Handler arguments are taken from it by [`FromConnection`].
pub struct Connection {
    socket: Option<WebSocket>,
    request: Request,
}

impl Connection {
    pub(crate) fn new(socket: WebSocket, request: Request) -> Self {
        Connection {
            socket: Some(socket),
            request,
        }
    }

    /// The handshake request: path, headers, peer address and shared state.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The matched path, its parameters and the query string.
    pub fn path(&self) -> &RoutePath {
        self.request.path()
    }

    /// The headers of the handshake request.
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    /// The address of the client.
    pub fn peer_addr(&self) -> SocketAddr {
        self.request.peer_addr()
    }

    /// Takes the socket; `None` if an argument took it already.
    pub fn take_socket(&mut self) -> Option<WebSocket> {
        self.socket.take()
    }

    /// The socket (if still here) and the request.
    pub(crate) fn into_parts(self) -> (Option<WebSocket>, Request) {
        (self.socket, self.request)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

/// A handler argument that is not a path parameter: the [`WebSocket`] itself, or an extractor,
/// which is anything [`FromRequest`] reads from the handshake request.
///
/// The macros use this trait; to write an extractor of your own, implement [`FromRequest`],
/// which gives it this one too.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a path parameter nor an extractor",
    label = "not a parameter of the pattern, and `FromRequest` is not implemented for `{Self}`",
    note = "an argument binds a path parameter when its name is a `{{name}}` of the pattern; any other argument must be the `WebSocket` or implement `FromRequest` (`RoutePath`, `Query`, `State<T>`, ...)"
)]
pub trait FromConnection: Sized {
    /// Takes the argument, or closes the connection with a frame.
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame>;

    /// The state type this argument needs, checked when the server is bound.
    #[doc(hidden)]
    fn __state() -> Option<StateKey> {
        None
    }
}

impl FromConnection for WebSocket {
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame> {
        connection.take_socket().ok_or_else(|| {
            tracing::error!("a handler takes the WebSocket twice; only one argument can own it");
            CloseFrame::new(CloseCode::INTERNAL, "internal error")
        })
    }
}

impl<T: FromRequest> FromConnection for T {
    /// After the upgrade a refusal can no longer be an HTTP response: it closes with 1008
    /// and the refusal's status as the reason.
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame> {
        T::from_request(&connection.request).map_err(|refusal| {
            let reason = refusal.status().canonical_reason().unwrap_or("refused");
            CloseFrame::new(CloseCode::POLICY, reason)
        })
    }

    fn __state() -> Option<StateKey> {
        T::__state()
    }
}
