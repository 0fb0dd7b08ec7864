//! Class-style routes: an annotated `impl` block whose instance lives as long as its
//! connection, driven through lifecycle methods with a [`Session`].

use std::fmt;
use std::future::Future;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::close::{CloseCode, CloseFrame};
use crate::error::Error;
use crate::handler::{Connection, Outcome};
use crate::outbox::Sender;
use crate::path::RoutePath;
use crate::request::Request;
use crate::socket::{Message, WebSocket};

/// The connection as a class-style route's lifecycle methods see it: send on it, hand out
/// [`Sender`]s for pushing from other tasks, close it, and read the handshake request.
pub struct Session {
    socket: WebSocket,
    request: Request,
}

impl Session {
    /// Sends a message now (text for `&str` and `String`, binary for bytes).
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.socket.send(message).await
    }

    /// A cloneable handle that can be moved into a spawned task to push messages to this
    /// client at any time; see [`WebSocket::sender`].
    pub fn sender(&mut self) -> Sender {
        self.socket.sender()
    }

    /// Starts closing the connection; `on_close` runs once the client has answered.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.socket.close(code, reason).await
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.socket.protocol()
    }

    /// The round trip of the last keepalive ping the client answered.
    pub fn latency(&self) -> Option<std::time::Duration> {
        self.socket.latency()
    }

    /// The handshake request: headers, peer address, shared state.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The matched path and its parameters.
    pub fn path(&self) -> &RoutePath {
        self.request.path()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

/// The lifecycle of a class-style route, implemented by `#[route]` on an `impl` block by
/// forwarding to the methods the block defines. Not public API.
#[doc(hidden)]
pub trait ClassRoute: Send + Sized + 'static {
    fn __on_open(&mut self, _session: &mut Session) -> impl Future<Output = Outcome> + Send {
        async { Outcome::Finished }
    }

    fn __on_text(
        &mut self,
        _session: &mut Session,
        _text: Utf8Bytes,
    ) -> impl Future<Output = Outcome> + Send {
        async { Outcome::Finished }
    }

    fn __on_binary(
        &mut self,
        _session: &mut Session,
        _data: Bytes,
    ) -> impl Future<Output = Outcome> + Send {
        async { Outcome::Finished }
    }

    fn __on_error(
        &mut self,
        _session: &mut Session,
        _error: Error,
    ) -> impl Future<Output = Outcome> + Send {
        async { Outcome::Finished }
    }

    fn __on_close(&mut self, _frame: Option<CloseFrame>) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Runs a class-style route's lifecycle: `on_open`, then `on_text` / `on_binary` per message
/// (and `on_error` when the connection fails), then `on_close` exactly once. A method that
/// returns an error ends the connection with it.
#[doc(hidden)]
pub async fn run<C: ClassRoute>(mut instance: C, connection: Connection) -> Outcome {
    let (socket, request) = connection.into_parts();
    let Some(socket) = socket else {
        return Outcome::Failed("the connection has no socket".into());
    };
    let mut session = Session { socket, request };
    let mut peer_frame = None;
    let mut outcome = instance.__on_open(&mut session).await;
    while matches!(outcome, Outcome::Finished) {
        outcome = match session.socket.recv().await {
            None => break,
            Some(Ok(Message::Text(text))) => instance.__on_text(&mut session, text).await,
            Some(Ok(Message::Binary(data))) => instance.__on_binary(&mut session, data).await,
            Some(Ok(Message::Close(frame))) => {
                peer_frame = frame;
                Outcome::Finished
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Outcome::Finished,
            Some(Err(error)) => instance.__on_error(&mut session, error).await,
        };
    }
    instance.__on_close(peer_frame).await;
    outcome
}

/// The text argument of `on_text`: `String`, or `Utf8Bytes` to avoid a copy.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`on_text` takes its text as `String` or `Utf8Bytes`, not `{Self}`",
    label = "the text of a message"
)]
pub trait FromText {
    fn __from_text(text: Utf8Bytes) -> Self;
}

impl FromText for Utf8Bytes {
    fn __from_text(text: Utf8Bytes) -> Self {
        text
    }
}

impl FromText for String {
    fn __from_text(text: Utf8Bytes) -> Self {
        text.as_str().to_owned()
    }
}

/// The data argument of `on_binary`: `Bytes`, or `Vec<u8>`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`on_binary` takes its data as `Bytes` or `Vec<u8>`, not `{Self}`",
    label = "the data of a message"
)]
pub trait FromBinary {
    fn __from_binary(data: Bytes) -> Self;
}

impl FromBinary for Bytes {
    fn __from_binary(data: Bytes) -> Self {
        data
    }
}

impl FromBinary for Vec<u8> {
    fn __from_binary(data: Bytes) -> Self {
        data.into()
    }
}

/// How a class-style route without `accept` or `init` gets its instance: `Default`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no way to build an instance per connection",
    label = "no `accept` hook, no `init = ...` and no `Default` implementation",
    note = "a class-style route builds one instance per connection: write an `accept` hook, name a constructor with `#[route(\"...\", init = path)]`, or derive `Default`"
)]
pub trait DefaultInstance {
    fn __default() -> Self;
}

impl<T: Default> DefaultInstance for T {
    fn __default() -> Self {
        T::default()
    }
}
