//! [`Session`]: the connection as a class-style route's lifecycle methods see it.

use std::fmt;

use crate::error::Error;
use crate::extract::Request;
use crate::routing::RoutePath;
use crate::socket::{Sender, WebSocket};
use crate::wire::{CloseCode, Message};

/// The connection as a class-style route's lifecycle methods see it: send on it, hand out
/// [`Sender`]s for pushing from other tasks, close it, and read the handshake request.
pub struct Session {
    pub(super) socket: WebSocket,
    pub(super) request: Request,
}

impl Session {
    /// Sends a message now (text for `&str` and `String`, binary for bytes).
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.socket.send(message).await
    }

    /// Sends `value` encoded with codec `C` now (a text message for JSON, binary for
    /// MessagePack); fails with the codec's error when it cannot be encoded.
    ///
    /// ```
    /// use ws_routes::codec::JsonCodec;
    /// use ws_routes::{route, Session};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Hello {
    ///     visitor: u64,
    /// }
    ///
    /// #[derive(Default)]
    /// struct Greeter;
    ///
    /// #[route("/hello")]
    /// impl Greeter {
    ///     async fn on_open(&mut self, session: &mut Session) {
    ///         let _ = session.send_as::<JsonCodec>(&Hello { visitor: 1 }).await;
    ///     }
    /// }
    /// ```
    #[cfg(feature = "codec")]
    pub async fn send_as<C: crate::codec::Codec>(
        &mut self,
        value: &(impl serde::Serialize + ?Sized),
    ) -> Result<(), Error> {
        self.socket.send_as::<C>(value).await
    }

    /// Sends `value` as a JSON text message now.
    ///
    /// ```
    /// use ws_routes::{route, Session};
    ///
    /// #[derive(Default)]
    /// struct Hello;
    ///
    /// #[route("/hello")]
    /// impl Hello {
    ///     async fn on_open(&mut self, session: &mut Session) {
    ///         let _ = session.send_json(&serde_json::json!({ "type": "hello" })).await;
    ///     }
    /// }
    /// ```
    #[cfg(feature = "json")]
    pub async fn send_json<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), Error> {
        self.socket.send_json(value).await
    }

    /// A cloneable handle that can be moved into a spawned task to push messages to this
    /// client at any time; see [`WebSocket::sender`].
    pub fn sender(&mut self) -> Sender {
        self.socket.sender()
    }

    /// Takes requests and replies on for this connection ([`WebSocket::enable_replies`]), in
    /// `on_open`: the route can then ask the client through [`sender`](Self::sender), from a
    /// spawned task (a lifecycle method that awaits an answer holds up the loop that reads
    /// it). The loop reads with [`recv`](WebSocket::recv), so the client's own requests are
    /// answered with an error.
    ///
    /// ```
    /// use ws_routes::reply::Replies;
    /// use ws_routes::{route, Session};
    ///
    /// #[derive(Default)]
    /// struct Greeter;
    ///
    /// #[route("/greet")]
    /// impl Greeter {
    ///     async fn on_open(&mut self, session: &mut Session) {
    ///         session.enable_replies(Replies::new());
    ///         let sender = session.sender();
    ///         tokio::spawn(async move {
    ///             if let Ok(name) = sender.request_json::<String>(&"name?").await {
    ///                 let _ = sender.send(format!("hello {name}")).await;
    ///             }
    ///         });
    ///     }
    /// }
    /// ```
    pub fn enable_replies(&mut self, replies: crate::reply::Replies) {
        self.socket.enable_replies(replies);
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
