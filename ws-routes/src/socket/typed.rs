//! Typed messages on a [`WebSocket`] and a [`Sender`] (feature `codec`): receive and send serde
//! values with any [`Codec`], and with JSON by name.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Sender, WebSocket};
#[cfg(feature = "json")]
use crate::codec::JsonCodec;
use crate::codec::{self, Codec};
use crate::error::Error;

impl WebSocket {
    /// Receives the next message and decodes it into `T` with codec `C`, as
    /// [`recv`](Self::recv) receives messages.
    ///
    /// A message that does not decode is bad input: the connection is closed (1007, or 1003
    /// for a message of the other kind than the codec's: see [the codecs' rule]) with the
    /// decoder's error as reason, the error is returned once (as [`Error::Codec`], or
    /// [`Error::Json`] for JSON), then `None`. To answer bad input and keep the connection
    /// open, use [`recv_as_lenient`](Self::recv_as_lenient).
    ///
    /// [the codecs' rule]: crate::codec#one-kind-of-message-per-codec
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use ws_routes::codec::JsonCodec;
    /// use ws_routes::{route, WebSocket};
    ///
    /// #[derive(Deserialize)]
    /// struct Move {
    ///     x: i32,
    ///     y: i32,
    /// }
    ///
    /// #[derive(Serialize)]
    /// struct Moved {
    ///     distance: i32,
    /// }
    ///
    /// #[route("/board")]
    /// async fn board(mut ws: WebSocket) {
    ///     while let Some(Ok(Move { x, y })) = ws.recv_as::<JsonCodec, Move>().await {
    ///         let moved = Moved { distance: x.abs() + y.abs() };
    ///         if ws.send_as::<JsonCodec>(&moved).await.is_err() {
    ///             break;
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn recv_as<C: Codec, T: DeserializeOwned>(&mut self) -> Option<Result<T, Error>> {
        let message = match self.recv().await? {
            Ok(message) => message,
            Err(error) => return Some(Err(error)),
        };
        match codec::decode::<C, T>(&message) {
            Ok(value) => Some(Ok(value)),
            Err(error) => {
                // Best effort: the peer may be gone already, and the error says what happened.
                let _ = self.close_with(error.close_frame()).await;
                self.done = true;
                Some(Err(codec::into_error::<C>(error)))
            }
        }
    }

    /// Receives the next message and decodes it into `T` with codec `C`, leaving the
    /// connection open when it does not decode: the handler gets the codec's error
    /// ([`Error::codec_error`] finds it) and may answer it and go on receiving. Every other
    /// error ends the connection, as with [`recv`](Self::recv).
    pub async fn recv_as_lenient<C: Codec, T: DeserializeOwned>(
        &mut self,
    ) -> Option<Result<T, Error>> {
        let received = match self.recv().await? {
            Ok(message) => codec::decode::<C, T>(&message).map_err(codec::into_error::<C>),
            Err(error) => Err(error),
        };
        Some(received)
    }

    /// Sends `value` encoded with codec `C` (a text message for JSON, binary for MessagePack);
    /// fails with the codec's error when it cannot be encoded.
    pub async fn send_as<C: Codec>(
        &mut self,
        value: &(impl Serialize + ?Sized),
    ) -> Result<(), Error> {
        let message = codec::encode::<C>(value).map_err(codec::into_error::<C>)?;
        self.send(message).await
    }

    /// Receives the next message and decodes it from JSON into `T`, as [`recv`](Self::recv)
    /// receives messages: [`recv_as`](Self::recv_as) with [`JsonCodec`].
    ///
    /// A message that does not decode is bad input: the connection is closed with 1007 (1003
    /// for a binary message) and a reason naming serde's error (see
    /// [`JsonError`](crate::codec::JsonError)), the error is returned once as [`Error::Json`], then
    /// `None`. To answer bad input and keep the connection open, use
    /// [`recv_json_lenient`](Self::recv_json_lenient).
    ///
    /// ```
    /// use serde::Deserialize;
    /// use ws_routes::{route, WebSocket};
    ///
    /// #[derive(Deserialize)]
    /// #[serde(tag = "type", rename_all = "lowercase")]
    /// enum ClientEvent {
    ///     Join { name: String },
    ///     Say { text: String },
    /// }
    ///
    /// #[route("/chat")]
    /// async fn chat(mut ws: WebSocket) {
    ///     let mut name = String::from("anonymous");
    ///     while let Some(Ok(event)) = ws.recv_json::<ClientEvent>().await {
    ///         match event {
    ///             ClientEvent::Join { name: joined } => name = joined,
    ///             ClientEvent::Say { text } => {
    ///                 let reply = serde_json::json!({ "type": "said", "name": name, "text": text });
    ///                 if ws.send_json(&reply).await.is_err() {
    ///                     break;
    ///                 }
    ///             }
    ///         }
    ///     }
    /// }
    /// ```
    #[cfg(feature = "json")]
    pub async fn recv_json<T: DeserializeOwned>(&mut self) -> Option<Result<T, Error>> {
        self.recv_as::<JsonCodec, T>().await
    }

    /// Receives the next message and decodes it from JSON into `T`, leaving the connection
    /// open when it does not decode: the handler gets [`Error::Json`] and may answer it and go
    /// on receiving. Every other error ends the connection, as with [`recv`](Self::recv).
    ///
    /// ```
    /// use ws_routes::{route, Error, WebSocket};
    ///
    /// #[route("/sum")]
    /// async fn sum(mut ws: WebSocket) {
    ///     while let Some(received) = ws.recv_json_lenient::<Vec<i64>>().await {
    ///         let reply = match received {
    ///             Ok(numbers) => numbers.iter().sum::<i64>().to_string(),
    ///             Err(Error::Json(error)) => format!("send a list of numbers ({error})"),
    ///             Err(_) => break,
    ///         };
    ///         if ws.send(reply).await.is_err() {
    ///             break;
    ///         }
    ///     }
    /// }
    /// ```
    #[cfg(feature = "json")]
    pub async fn recv_json_lenient<T: DeserializeOwned>(&mut self) -> Option<Result<T, Error>> {
        self.recv_as_lenient::<JsonCodec, T>().await
    }

    /// Sends `value` as a JSON text message; fails with [`Error::Json`] when it cannot be
    /// written as JSON.
    #[cfg(feature = "json")]
    pub async fn send_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.send_as::<JsonCodec>(value).await
    }
}

impl Sender {
    /// Queues `value` encoded with codec `C`, as [`send`](Self::send) does; fails with the
    /// codec's error when it cannot be encoded.
    pub async fn send_as<C: Codec>(&self, value: &(impl Serialize + ?Sized)) -> Result<(), Error> {
        self.send(codec::encode::<C>(value).map_err(codec::into_error::<C>)?)
            .await
    }

    /// Queues `value` encoded with codec `C` without waiting, as [`try_send`](Self::try_send)
    /// does.
    pub fn try_send_as<C: Codec>(&self, value: &(impl Serialize + ?Sized)) -> Result<(), Error> {
        self.try_send(codec::encode::<C>(value).map_err(codec::into_error::<C>)?)
    }

    /// Queues `value` as a JSON text message, as [`send`](Self::send) does; fails with
    /// [`Error::Json`] when it cannot be written as JSON.
    ///
    /// ```
    /// use ws_routes::{route, WebSocket};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Tick {
    ///     n: u64,
    /// }
    ///
    /// #[route("/ticks")]
    /// async fn ticks(mut ws: WebSocket) {
    ///     let sender = ws.sender();
    ///     tokio::spawn(async move {
    ///         for n in 0.. {
    ///             if sender.send_json(&Tick { n }).await.is_err() {
    ///                 break;
    ///             }
    ///         }
    ///     });
    ///     while let Some(Ok(_)) = ws.recv().await {}
    /// }
    /// ```
    #[cfg(feature = "json")]
    pub async fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        self.send_as::<JsonCodec>(value).await
    }

    /// Queues `value` as a JSON text message without waiting, as [`try_send`](Self::try_send)
    /// does.
    #[cfg(feature = "json")]
    pub fn try_send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        self.try_send_as::<JsonCodec>(value)
    }
}
