//! Typed messages on a [`WebSocket`] (feature `json`): receive and send serde values as JSON
//! text.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::WebSocket;
use crate::error::Error;
use crate::json::JsonError;
use crate::wire::Message;

impl WebSocket {
    /// Receives the next message and decodes it from JSON into `T`, as [`recv`](Self::recv)
    /// receives messages.
    ///
    /// A message that does not decode is bad input: the connection is closed with 1007 (1003
    /// for a binary message) and a reason naming serde's error (see [`JsonError`]), the error
    /// is returned once as [`Error::Json`], then `None`. To answer bad input and keep the
    /// connection open, use [`recv_json_lenient`](Self::recv_json_lenient).
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
    pub async fn recv_json<T: DeserializeOwned>(&mut self) -> Option<Result<T, Error>> {
        match self.recv_json_lenient().await? {
            Err(Error::Json(error)) => {
                // Best effort: the peer may be gone already, and the error says what happened.
                let _ = self.close_with(error.close_frame()).await;
                self.done = true;
                Some(Err(Error::Json(error)))
            }
            other => Some(other),
        }
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
    pub async fn recv_json_lenient<T: DeserializeOwned>(&mut self) -> Option<Result<T, Error>> {
        let received = match self.recv().await? {
            Ok(message) => JsonError::decode(&message).map_err(Error::Json),
            Err(error) => Err(error),
        };
        Some(received)
    }

    /// Sends `value` as a JSON text message; fails with [`Error::Json`] when it cannot be
    /// written as JSON.
    pub async fn send_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let message = Message::json(value).map_err(JsonError::encode)?;
        self.send(message).await
    }
}
