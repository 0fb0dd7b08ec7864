//! JSON, the default codec (feature `json`): [`JsonCodec`], the [`Json<T>`] wrapper and
//! [`JsonError`], and JSON messages built from serde values.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{BoxError, Codec, CodecError, MessageKind, TypedMessage};
use crate::error::Error;
use crate::wire::{CloseFrame, Message};

/// JSON as a [`Codec`]: text messages, written and read by serde_json; content type
/// `application/json`.
///
/// The JSON methods (`recv_json`, `send_json`, ...) are the [`recv_as`](crate::WebSocket::recv_as)
/// family with this codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    const NAME: &'static str = "JSON";
    const CONTENT_TYPE: &'static str = "application/json";
    const KIND: MessageKind = MessageKind::Text;
    type Error = JsonError;

    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Message, BoxError> {
        Ok(Message::json(value)?)
    }

    fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, BoxError> {
        Ok(serde_json::from_slice(payload)?)
    }
}

/// A message decoded from, or encoded to, JSON text with serde.
///
/// A class-style route's `on_message` takes its messages as `Json<T>`; a message that does not
/// decode into `T` closes the connection with 1007 (see [`JsonError`]). Take
/// `Result<Json<T>, JsonError>` instead to receive the error and keep the connection open.
/// Function routes use [`WebSocket::recv_json`](crate::WebSocket::recv_json) and
/// [`send_json`](crate::WebSocket::send_json).
///
/// ```
/// use serde::Deserialize;
/// use ws_routes::{route, Json, Session};
///
/// #[derive(Deserialize)]
/// #[serde(tag = "type", rename_all = "lowercase")]
/// enum ClientEvent {
///     Join { name: String },
///     Say { text: String },
/// }
///
/// #[derive(Default)]
/// struct Chat {
///     name: Option<String>,
/// }
///
/// #[route("/chat")]
/// impl Chat {
///     async fn on_message(&mut self, session: &mut Session, Json(event): Json<ClientEvent>) {
///         match event {
///             ClientEvent::Join { name } => self.name = Some(name),
///             ClientEvent::Say { text } => {
///                 let _ = session.send(format!("{:?}: {text}", self.name)).await;
///             }
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

// Written out rather than by a macro: the impls are what the compiler lists when
// `on_message` takes a type that is no typed message.
impl<T> TypedMessage for Json<T> {
    type Codec = JsonCodec;
    type Value = T;

    fn from_value(value: T) -> Self {
        Json(value)
    }
}

/// A message that is not the JSON a route expects, or a value that cannot be written as JSON:
/// the [`CodecError`] of [`JsonCodec`], under the name it had before codecs.
///
/// A message that does not decode is bad input: unless the route takes the error
/// ([`WebSocket::recv_json_lenient`](crate::WebSocket::recv_json_lenient), or
/// `Result<Json<T>, JsonError>` in `on_message`), the connection is closed with
/// [`close_frame`](Self::close_frame): 1007 ([`CloseCode::INVALID_PAYLOAD`]) and a reason
/// naming serde's error, such as `invalid JSON: missing field `text` at line 1 column 14`,
/// cut to the 123 bytes a close reason may take; a binary message where JSON text is expected
/// gets 1003 ([`CloseCode::UNSUPPORTED`]), as
/// [the codecs' rule](super#one-kind-of-message-per-codec) says.
///
/// [`CloseCode::INVALID_PAYLOAD`]: crate::CloseCode::INVALID_PAYLOAD
/// [`CloseCode::UNSUPPORTED`]: crate::CloseCode::UNSUPPORTED
///
/// ```
/// use ws_routes::{CloseCode, Message};
/// use ws_routes::codec::JsonError;
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Say {
///     text: String,
/// }
///
/// let error = JsonError::decode::<Say>(&Message::from(r#"{"txt":"hi"}"#)).unwrap_err();
/// assert_eq!(error.close_frame().code, CloseCode::INVALID_PAYLOAD);
/// assert_eq!(error.to_string(), "invalid JSON: missing field `text` at line 1 column 12");
/// ```
#[derive(Debug)]
pub struct JsonError(CodecError);

impl JsonError {
    /// Decodes a text message into `T`: [`codec::decode`](super::decode) with [`JsonCodec`].
    pub fn decode<T: DeserializeOwned>(message: &Message) -> Result<T, JsonError> {
        super::decode::<JsonCodec, T>(message).map_err(JsonError)
    }

    /// serde_json's error, unless the message was binary.
    pub fn serde_error(&self) -> Option<&serde_json::Error> {
        self.0.codec_source()?.downcast_ref()
    }

    /// Whether the message was binary where JSON text was expected.
    pub fn is_binary(&self) -> bool {
        self.0.is_wrong_kind()
    }

    /// The close frame for a message that does not decode: 1007 with this error as reason (cut
    /// to 123 bytes on a character boundary), or 1003 for a binary message.
    pub fn close_frame(&self) -> CloseFrame {
        self.0.close_frame()
    }

    /// The error as any codec's: what [`Error::codec_error`] returns for [`Error::Json`].
    pub fn as_codec_error(&self) -> &CodecError {
        &self.0
    }
}

impl From<CodecError> for JsonError {
    fn from(error: CodecError) -> Self {
        JsonError(error)
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for JsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

impl From<JsonError> for Error {
    fn from(error: JsonError) -> Self {
        Error::Json(error)
    }
}

impl Message {
    /// A text message holding `value` as JSON; fails only where serde_json does (a map with
    /// keys that are not strings, a `Serialize` implementation that fails).
    ///
    /// ```
    /// use ws_routes::Message;
    ///
    /// #[derive(serde::Serialize)]
    /// #[serde(tag = "type", rename_all = "lowercase")]
    /// enum ServerEvent {
    ///     Presence { count: usize },
    /// }
    ///
    /// let message = Message::json(&ServerEvent::Presence { count: 2 })?;
    /// assert_eq!(message.as_text(), Some(r#"{"type":"presence","count":2}"#));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Message, serde_json::Error> {
        serde_json::to_string(value).map(Message::from)
    }
}

/// A `serde_json::Value` is sent as JSON text: `rooms.broadcast(&room, json!({...}))`.
///
/// ```
/// use serde_json::json;
/// use ws_routes::Message;
///
/// let message = Message::from(json!({ "type": "presence", "count": 2 }));
/// assert_eq!(message.as_text(), Some(r#"{"count":2,"type":"presence"}"#));
/// ```
impl From<serde_json::Value> for Message {
    fn from(value: serde_json::Value) -> Self {
        Message::from(&value)
    }
}

/// A `&serde_json::Value` is sent as JSON text.
impl From<&serde_json::Value> for Message {
    fn from(value: &serde_json::Value) -> Self {
        Message::from(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::wire::CloseCode;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type", rename_all = "lowercase")]
    enum Event {
        Join { name: String },
        Say { text: String },
    }

    fn decode(text: &str) -> Result<Event, JsonError> {
        JsonError::decode(&Message::from(text))
    }

    #[test]
    fn a_tagged_enum_decodes_in_one_match() {
        assert_eq!(
            decode(r#"{"type":"say","text":"hi"}"#).unwrap(),
            Event::Say { text: "hi".into() }
        );
        assert_eq!(
            decode(r#"{"type":"join","name":"ada"}"#).unwrap(),
            Event::Join { name: "ada".into() }
        );
    }

    #[test]
    fn bad_input_closes_with_1007_and_says_why() {
        for (input, reason) in [
            ("{", "invalid JSON: EOF while parsing an object"),
            (
                r#"{"type":"say","text":5}"#,
                "invalid JSON: invalid type: integer `5`",
            ),
            (r#"{"type":"say"}"#, "invalid JSON: missing field `text`"),
            (
                r#"{"type":"dance"}"#,
                "invalid JSON: unknown variant `dance`",
            ),
        ] {
            let frame = decode(input).unwrap_err().close_frame();
            assert_eq!(frame.code, CloseCode::INVALID_PAYLOAD, "{input}");
            assert!(
                frame.reason.starts_with(reason),
                "{input}: {}",
                frame.reason
            );
        }
        let binary = JsonError::decode::<Event>(&Message::from(vec![1])).unwrap_err();
        assert!(binary.is_binary());
        assert_eq!(binary.close_frame().code, CloseCode::UNSUPPORTED);
    }

    #[test]
    fn a_long_reason_is_cut_on_a_character_boundary() {
        let input = format!(r#"{{"type":"{}"}}"#, "é".repeat(100));
        let frame = decode(&input).unwrap_err().close_frame();
        assert!(frame.reason.len() <= CloseFrame::MAX_REASON_LEN);
        assert!(
            frame
                .reason
                .starts_with("invalid JSON: unknown variant `éé")
        );
    }

    #[test]
    fn values_become_json_text() {
        let message = Message::json(&[1, 2]).unwrap();
        assert_eq!(message.as_text(), Some("[1,2]"));
        let keys = std::collections::HashMap::from([((1, 2), 3)]);
        assert!(Message::json(&keys).is_err());
    }
}
