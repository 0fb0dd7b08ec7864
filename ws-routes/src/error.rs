//! The error types: [`Error`] for sockets and clients, with the typed causes some of its
//! variants hold ([`ProtocolError`], [`UrlError`], and [`BackplaneError`] with the `redis`
//! feature), and [`MissingState`] for a server bound without a state its routes take.
//! [`Error`] and [`MissingState`] are at the crate root too.

use std::{fmt, io};

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
        /// The response headers (boxed: they are larger than all the rest of an `Error`,
        /// which every `Result` of a socket carries).
        headers: Box<HeaderMap>,
        /// The response body, if any.
        body: Option<Vec<u8>>,
    },
    /// A write did not finish within the write timeout (the keepalive's pong timeout, or the
    /// close timeout without keepalive): the peer stopped reading, and the connection is
    /// dropped.
    #[error("the peer stopped reading: a write timed out")]
    WriteTimeout,
    /// The client did not answer a keepalive ping in time (it is closed with 1011).
    #[error("keepalive ping timeout")]
    KeepaliveTimeout,
    /// The connection's outgoing queue is full: the client is not reading fast enough.
    #[error("the outgoing queue is full")]
    QueueFull,
    /// The connection was closed through [`Sender::close`](crate::Sender::close), for instance
    /// by a room's [slow-consumer policy](crate::rooms::SlowConsumer); the frame is the one sent.
    #[error("the connection was closed by the server: {}", .0.reason)]
    Kicked(crate::wire::CloseFrame),
    /// The Redis backplane of [`Rooms`](crate::Rooms) could not be set up or could not answer
    /// (feature `redis`); see [`BackplaneError`] for when each happens.
    #[cfg(feature = "redis")]
    #[error(transparent)]
    Backplane(#[from] BackplaneError),
    /// The peer sent past the server's [`RateLimit`](crate::RateLimit) (it is closed with
    /// 1008).
    #[error("the peer sent past the rate limit")]
    RateLimited,
    /// A message was larger than the configured limit (the peer is closed with 1009).
    #[error("message too big")]
    MessageTooBig,
    /// A text message was not valid UTF-8 (the peer is closed with 1007).
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// A compressed message (permessage-deflate) was not valid deflate data (the peer is
    /// closed with 1007).
    #[error("invalid compressed data in a message")]
    InvalidCompression,
    /// The peer broke the WebSocket protocol: a frame against RFC 6455's rules (the peer is
    /// closed with 1002), or, on the client, a server's answer to the handshake that is not a
    /// switch to WebSocket; see [`ProtocolError`] for when each happens.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The URL given to [`connect`](crate::connect) is not a `ws://` or `wss://` URL this
    /// client can reach; see [`UrlError`].
    #[error("invalid URL: {0}")]
    Url(#[from] UrlError),
    /// A message was not the JSON expected, or a value could not be written as JSON
    /// (feature `json`); see [`JsonError`](crate::codec::JsonError).
    #[cfg(feature = "json")]
    #[error(transparent)]
    Json(crate::codec::JsonError),
    /// A message was not what a route's codec expects, or a value could not be encoded, with
    /// any codec but JSON (feature `codec`); see [`CodecError`](crate::codec::CodecError).
    /// [`Error::codec_error`] finds the error of any codec, JSON's included.
    #[cfg(feature = "codec")]
    #[error(transparent)]
    Codec(crate::codec::CodecError),
    /// A request to the peer ([`WebSocket::request`](crate::WebSocket::request),
    /// [`Sender::request`](crate::Sender::request)) got no answer: see [`RequestError`] for
    /// why. The connection itself may well be open still.
    #[error("request failed: {0}")]
    Request(#[from] RequestError),
    /// An I/O error on the underlying connection.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Why a request to the peer got no answer, in [`Error::Request`]; see
/// [the `reply` module](crate::reply) for the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The connection did not take replies on with
    /// [`WebSocket::enable_replies`](crate::WebSocket::enable_replies).
    #[error("replies are not enabled on this connection: call `WebSocket::enable_replies` first")]
    NotEnabled,
    /// No answer came within the request's timeout. An answer that comes later is ignored.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// As many requests as the connection allows were waiting for their answers already
    /// ([`Replies::max_in_flight`](crate::reply::Replies::max_in_flight)): the request was not
    /// sent.
    #[error("{limit} requests are in flight already, the most this connection allows")]
    TooMany {
        /// The connection's limit.
        limit: usize,
    },
    /// The connection closed, or was closed, before the answer came (or before the request
    /// was made).
    #[error("the connection closed before an answer came")]
    Closed,
    /// The peer answered with an error instead of a reply: the reason it gave. The library's
    /// own reasons name the rule the request broke (too many in flight, malformed, not read,
    /// dropped without an answer).
    #[error("the peer answered with an error: {0}")]
    Refused(String),
    /// While [`WebSocket::request`](crate::WebSocket::request) waited for its answer, more
    /// messages arrived than it holds for [`recv`](crate::WebSocket::recv) (64, or 1 MiB):
    /// read them first, or make the request through a [`Sender`](crate::Sender) while the
    /// connection's own loop reads.
    #[error(
        "{held} messages arrived while waiting for the answer, more than are held back for `recv`"
    )]
    Backlog {
        /// How many messages were held back (they are still there for `recv`).
        held: usize,
    },
}

/// How the WebSocket protocol was broken, in [`Error::Protocol`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame against the framing rules of RFC 6455 section 5, named in the text: reserved
    /// bits or opcodes, a masked frame from a server or an unmasked one from a client, a
    /// fragmented control frame or one over 125 bytes (sent or received), a continuation
    /// without a message, an invalid close code. A peer that sends one is closed with 1002.
    #[error("{0}")]
    InvalidFrame(&'static str),
    /// The server's answer to the opening handshake (on the client) is not a switch to
    /// WebSocket, for the reason named: its head is too large, or it lacks `Upgrade:
    /// websocket`, `Connection: upgrade` or the right `Sec-WebSocket-Accept`.
    #[error("handshake: {0}")]
    InvalidResponse(&'static str),
    /// The server's answer to the opening handshake accepts permessage-deflate in a way the
    /// client cannot take: not offered, twice, with malformed parameters or ones beyond the
    /// offer (RFC 7692 section 7.1); [`source`](std::error::Error::source) says which.
    #[error("handshake: {0}")]
    InvalidExtension(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server's answer to the opening handshake is not HTTP/1.1 that parses (a TLS
    /// server's alert read as `ws://`, say); [`source`](std::error::Error::source) gives the
    /// parser's error.
    #[error("invalid handshake response: {0}")]
    UnreadableResponse(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A subprotocol given to [`Client::protocols`](crate::Client::protocols) is not a
    /// valid header value, so the handshake was not sent.
    #[error("a subprotocol name is not a valid header value")]
    InvalidSubprotocol(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why a URL given to the client cannot be reached, in [`Error::Url`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The text does not parse as a URL ([`source`](std::error::Error::source) says why).
    #[error("{url} is not a URL: {source}")]
    Invalid {
        /// The URL as given.
        url: String,
        /// The parser's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The URL has no scheme: `localhost:8765/chat` instead of `ws://localhost:8765/chat`.
    #[error("{url} has no scheme: write ws://{url} (or wss:// for TLS)")]
    NoScheme {
        /// The URL as given.
        url: String,
    },
    /// The scheme is neither `ws` nor `wss`.
    #[error("{url}: the scheme must be ws:// or wss://, not {scheme}://")]
    UnsupportedScheme {
        /// The URL as given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The URL names no host.
    #[error("{url} has no host")]
    NoHost {
        /// The URL as given.
        url: String,
    },
    /// A `wss://` URL, but ws-routes was built without its `tls` feature.
    #[error("wss:// needs the `tls` feature of ws-routes")]
    TlsNotEnabled,
    /// The host of a `wss://` URL is not a name or address a TLS certificate can be checked
    /// against ([`source`](std::error::Error::source) says why).
    #[error("{host} is not a valid TLS server name")]
    InvalidServerName {
        /// The host as given.
        host: String,
        /// The TLS library's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The path given to [`TestServer::connect`](crate::test::TestServer::connect) does not
    /// parse as the path of a URL.
    #[error("{path} is not a path: {source}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// The parser's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What went wrong with the Redis backplane of [`Rooms`](crate::Rooms) (feature `redis`), in
/// [`Error::Backplane`]. Where Redis itself failed, [`source`](std::error::Error::source) gives
/// its error.
#[cfg(feature = "redis")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackplaneError {
    /// [`RoomsBuilder::build`](crate::rooms::RoomsBuilder::build) was given a Redis URL it cannot use:
    /// malformed, or `rediss://` without the `tls` feature.
    #[error("the Redis backplane's URL is invalid")]
    InvalidUrl(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// [`Rooms::count`](crate::Rooms::count) or [`Rooms::presence`](crate::Rooms::presence)
    /// was asked while the backplane has no connection to Redis (it is reconnecting with
    /// backoff, or has not connected yet): it fails rather than count this server alone.
    #[error("the Redis backplane cannot reach Redis")]
    Unreachable,
    /// Redis answered a presence query with an error, or the connection failed during it.
    #[error("a Redis command of the backplane failed")]
    Command(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A route takes `State<T>` but the server was given no `T` with
/// [`Server::with_state`](crate::Server::with_state): [`Server::bind`](crate::Server::bind)
/// fails with an [`io::Error`] of kind `InvalidInput` that wraps this (reach it with
/// [`io::Error::get_ref`] and `downcast_ref`).
///
/// The check runs when the server is bound, before any connection, rather than at compile
/// time: states are kept by type in any number and order, which a typed router state (as in
/// axum) would restrict to one type per server.
///
/// ```
/// use ws_routes::{route, routes, Server, State, WebSocket};
/// use ws_routes::error::MissingState;
///
/// #[derive(Clone)]
/// struct Db;
///
/// #[route("/items")]
/// async fn items(_ws: WebSocket, State(_db): State<Db>) {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let error = Server::new(routes![items]).bind("127.0.0.1:0").await.unwrap_err();
/// let missing = error.get_ref().and_then(|e| e.downcast_ref::<MissingState>()).unwrap();
/// assert_eq!(missing.state(), "Db");
/// assert!(format!("{error:?}").ends_with("add one with `Server::with_state` }"));
/// assert_eq!(
///     error.to_string(),
///     "route `items` (\"/items\") takes `State<Db>`, but the server has no `Db`: \
///      add one with `Server::with_state`"
/// );
/// # }
/// ```
///
/// Its `Debug` text is that sentence too, so that a `main` returning `std::io::Result<()>`,
/// which prints its error with `Debug`, ends with what to add rather than a dump of fields:
///
/// ```text
/// Error: Custom { kind: InvalidInput, error: route `items` ("/items") takes `State<Db>`, but the server has no `Db`: add one with `Server::with_state` }
/// ```
#[derive(Clone, thiserror::Error)]
#[error(
    "route `{handler}` (\"{pattern}\") takes `State<{state}>`, but the server has no `{state}`: \
     add one with `Server::with_state`"
)]
pub struct MissingState {
    pub(crate) handler: &'static str,
    pub(crate) pattern: &'static str,
    pub(crate) state: String,
}

impl MissingState {
    /// The state's type, without its module path (`Db` for `my_app::db::Db`).
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The pattern of the route that takes it.
    pub fn pattern(&self) -> &'static str {
        self.pattern
    }

    /// The name of the route's handler.
    pub fn handler(&self) -> &'static str {
        self.handler
    }
}

impl fmt::Debug for MissingState {
    /// The sentence [`Display`](fmt::Display) writes, for a `main` that prints errors with
    /// `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message a socket receives comes in a `Result` with an `Error`, moved through each
    /// layer from the socket to the handler: a variant that grew the error past a message
    /// and a tag would be paid for by every message (a 128-byte error cost an echo about 125
    /// instructions).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_error_is_no_larger_than_a_message_and_a_tag() {
        assert!(std::mem::size_of::<Error>() <= 48);
        assert!(std::mem::size_of::<Option<Result<crate::Message, Error>>>() <= 48);
    }
}
