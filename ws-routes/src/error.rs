//! The error type of sockets and clients.

use std::io;

use tokio_tungstenite::tungstenite;

use crate::http::{HeaderMap, StatusCode};

/// What can go wrong on a WebSocket connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection is closed: the close handshake finished, or the socket was used after it.
    #[error("the connection is closed")]
    Closed,
    /// The server answered the handshake with an HTTP status instead of upgrading.
    #[error("the server refused the WebSocket handshake with HTTP {status}")]
    Refused {
        /// The response status, such as 403 or 426.
        status: StatusCode,
        /// The response headers.
        headers: HeaderMap,
        /// The response body, if any.
        body: Option<Vec<u8>>,
    },
    /// The client did not answer a keepalive ping in time (it is closed with 1011).
    #[error("keepalive ping timeout")]
    KeepaliveTimeout,
    /// The connection's outgoing queue is full: the client is not reading fast enough.
    #[error("the outgoing queue is full")]
    QueueFull,
    /// The connection was closed through [`Sender::close`](crate::Sender::close), for instance
    /// by a room's [slow-consumer policy](crate::SlowConsumer); the frame is the one sent.
    #[error("the connection was closed by the server: {}", .0.reason)]
    Kicked(crate::close::CloseFrame),
    /// The Redis backplane of [`Rooms`](crate::Rooms) could not answer or be set up.
    #[cfg(feature = "redis")]
    #[error("the Redis backplane failed: {0}")]
    Backplane(String),
    /// A message was larger than the configured limit (the peer is closed with 1009).
    #[error("message too big")]
    MessageTooBig,
    /// A text message was not valid UTF-8 (the peer is closed with 1007).
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// The peer broke the WebSocket protocol (the peer is closed with 1002).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The URL given to [`connect`](crate::connect) is not a `ws://` URL this client can reach.
    #[error("invalid URL: {0}")]
    Url(String),
    /// An I/O error on the underlying connection.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<tungstenite::Error> for Error {
    fn from(error: tungstenite::Error) -> Self {
        use tungstenite::Error as E;
        match error {
            E::ConnectionClosed | E::AlreadyClosed => Error::Closed,
            E::Io(error) => Error::Io(error),
            E::Capacity(_) => Error::MessageTooBig,
            E::Utf8(_) => Error::InvalidUtf8,
            E::Url(error) => Error::Url(error.to_string()),
            E::Http(response) => {
                let (parts, body) = (*response).into_parts();
                Error::Refused {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                }
            }
            other => Error::Protocol(other.to_string()),
        }
    }
}
