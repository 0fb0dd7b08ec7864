//! Typed messages: serde values read from and written to messages by a [`Codec`].
//!
//! Two codecs come with the crate: JSON ([`JsonCodec`], feature `json`, on by default) and
//! MessagePack ([`MsgPackCodec`], feature `msgpack`); the feature `codec` alone gives the trait
//! for a codec of your own. Wherever a message is typed, the codec is a type parameter, and JSON
//! keeps the names it had before codecs:
//!
//! | where | any codec `C` | JSON |
//! |---|---|---|
//! | function route | [`ws.recv_as::<C, T>()`](crate::WebSocket::recv_as), [`ws.send_as::<C>(&v)`](crate::WebSocket::send_as) | `recv_json`, `send_json` |
//! | class-style route | `on_message` taking a [`TypedMessage`] such as [`MsgPack<T>`], [`session.send_as::<C>(&v)`](crate::Session::send_as) | [`Json<T>`], `send_json` |
//! | elsewhere | [`sender.send_as::<C>(&v)`](crate::Sender::send_as), [`encode::<C>(&v)`](encode) (a [`Message`] to broadcast) | `send_json`, `Message::json`, `rooms.broadcast_json` |
//!
//! # One kind of message per codec
//!
//! A codec reads and writes one kind of message ([`Codec::KIND`]): JSON is text, MessagePack
//! binary. Bad input is closed with a code that says which mistake it is:
//!
//! - a message of the codec's kind that does not decode: 1007 ([`CloseCode::INVALID_PAYLOAD`])
//!   and the decoder's error as reason, such as `invalid JSON: missing field `text` at line 1
//!   column 14` or `invalid MessagePack: missing field `text``;
//! - a message of the other kind, which is never decoded: 1003 ([`CloseCode::UNSUPPORTED`],
//!   "a type of data it cannot accept" in RFC 6455) and `expected JSON text, got a binary
//!   message` or `expected MessagePack binary, got a text message`.
//!
//! The reason is cut to the 123 bytes a close reason may take. A route that takes the error
//! instead ([`recv_as_lenient`](crate::WebSocket::recv_as_lenient), or `on_message` taking
//! `Result<MsgPack<T>, CodecError>` or `Result<Json<T>, JsonError>`) gets both mistakes as
//! errors and stays open. A class-style route may define `on_text` beside an `on_message` that
//! reads binary messages, or `on_binary` beside one that reads text: messages of the other kind
//! go there instead. Two methods for one kind of message are a compile error.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use ws_routes::codec::{self, CodecError, JsonCodec};
//! use ws_routes::{CloseCode, Message};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! #[serde(tag = "type", rename_all = "lowercase")]
//! enum Event {
//!     Say { text: String },
//! }
//!
//! let say = Event::Say { text: "hi".into() };
//! let text = codec::encode::<JsonCodec>(&say)?;
//! assert_eq!(text.as_text(), Some(r#"{"type":"say","text":"hi"}"#));
//! assert_eq!(codec::decode::<JsonCodec, Event>(&text)?, say);
//!
//! let bad = codec::decode::<JsonCodec, Event>(&Message::from(r#"{"type":"say"}"#)).unwrap_err();
//! assert_eq!(bad.close_frame().code, CloseCode::INVALID_PAYLOAD);
//! assert_eq!(bad.to_string(), "invalid JSON: missing field `text`");
//!
//! let wrong_kind = codec::decode::<JsonCodec, Event>(&Message::binary(vec![0x80])).unwrap_err();
//! assert_eq!(wrong_kind.close_frame().code, CloseCode::UNSUPPORTED);
//! assert_eq!(wrong_kind.to_string(), "expected JSON text, got a binary message");
//! # Ok::<(), CodecError>(())
//! ```

#[cfg(feature = "json")]
mod json;
#[cfg(feature = "msgpack")]
mod msgpack;

use std::fmt;

#[cfg(feature = "json")]
pub use json::{Json, JsonCodec, JsonError};
#[cfg(feature = "msgpack")]
pub use msgpack::{MsgPack, MsgPackCodec};

#[cfg(feature = "codec")]
use serde::{Serialize, de::DeserializeOwned};

#[cfg(feature = "codec")]
use crate::error::Error;
use crate::wire::Message;
#[cfg(feature = "codec")]
use crate::wire::{CloseCode, CloseFrame};

/// The kind of a message: text or binary. A [`Codec`] reads and writes one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A text message (UTF-8).
    Text,
    /// A binary message.
    Binary,
}

impl MessageKind {
    /// The kind of `message`.
    ///
    /// ```
    /// use ws_routes::codec::MessageKind;
    /// use ws_routes::Message;
    ///
    /// assert_eq!(MessageKind::of(&Message::from("hi")), MessageKind::Text);
    /// assert_eq!(MessageKind::of(&Message::from(vec![1])), MessageKind::Binary);
    /// ```
    pub fn of(message: &Message) -> Self {
        match message {
            Message::Text(_) => MessageKind::Text,
            Message::Binary(_) => MessageKind::Binary,
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageKind::Text => "text",
            MessageKind::Binary => "binary",
        })
    }
}

/// What a codec's encoder or decoder fails with: its own error, boxed.
#[cfg(feature = "codec")]
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A format for typed messages: how serde values become messages of one kind and back.
///
/// A codec is a type without values that names a format, as [`JsonCodec`] and
/// [`MsgPackCodec`] do; the typed receives and sends take it as a type parameter
/// (`ws.recv_as::<MsgPackCodec, Event>()`), and a wrapper type that implements
/// [`TypedMessage`] (such as [`MsgPack<T>`]) names it for `on_message`. The library checks the
/// kind of message before it decodes (see [the module](self)), so [`decode`](Self::decode)
/// only ever sees messages of [`KIND`](Self::KIND).
///
/// A codec of your own (feature `codec`), here for messages in the serde_json value model
/// written as pretty JSON:
///
/// ```
/// use serde::Serialize;
/// use serde::de::DeserializeOwned;
/// use ws_routes::codec::{BoxError, Codec, CodecError, MessageKind};
/// use ws_routes::Message;
///
/// struct PrettyJson;
///
/// impl Codec for PrettyJson {
///     const NAME: &'static str = "pretty JSON";
///     const CONTENT_TYPE: &'static str = "application/json";
///     const KIND: MessageKind = MessageKind::Text;
///     type Error = CodecError;
///
///     fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Message, BoxError> {
///         Ok(Message::from(serde_json::to_string_pretty(value)?))
///     }
///
///     fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, BoxError> {
///         Ok(serde_json::from_slice(payload)?)
///     }
/// }
///
/// let message = ws_routes::codec::encode::<PrettyJson>(&[1, 2])?;
/// assert_eq!(message.as_text(), Some("[\n  1,\n  2\n]"));
/// # Ok::<(), CodecError>(())
/// ```
#[cfg(feature = "codec")]
pub trait Codec: Send + Sync + 'static {
    /// The format's name in errors and close reasons: "JSON", "MessagePack".
    const NAME: &'static str;
    /// The media type of its messages, for the [AsyncAPI document](crate::Routes::asyncapi).
    const CONTENT_TYPE: &'static str;
    /// The kind of message it reads and writes.
    const KIND: MessageKind;
    /// The error typed receives with this codec return (inside [`Error`]) and that
    /// `on_message` may take in `Result<W, Self::Error>`: [`CodecError`], or a type of the
    /// codec's own that holds one ([`JsonError`], kept from before codecs).
    type Error: From<CodecError> + Into<Error> + std::error::Error + Send + Sync + 'static;

    /// Writes `value` as a message of [`KIND`](Self::KIND).
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Message, BoxError>;

    /// Reads a `T` from the payload of a message of [`KIND`](Self::KIND).
    fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, BoxError>;
}

/// Writes `value` as a message with codec `C`: a text message for JSON, a binary one for
/// MessagePack. Encode once, then send or broadcast the message to any number of clients.
///
/// ```
/// use ws_routes::codec::{self, JsonCodec};
/// use ws_routes::Rooms;
///
/// #[derive(serde::Serialize)]
/// struct Tick {
///     n: u64,
/// }
///
/// let rooms = Rooms::new();
/// let message = codec::encode::<JsonCodec>(&Tick { n: 1 })?;
/// assert_eq!(message.as_text(), Some(r#"{"n":1}"#));
/// rooms.broadcast("lobby", message);
/// # Ok::<(), ws_routes::codec::CodecError>(())
/// ```
#[cfg(feature = "codec")]
pub fn encode<C: Codec>(value: &(impl Serialize + ?Sized)) -> Result<Message, CodecError> {
    let message = C::encode(value).map_err(|error| CodecError::new::<C>(Failure::Encode(error)))?;
    debug_assert_eq!(
        MessageKind::of(&message),
        C::KIND,
        "the codec {} wrote a message of the wrong kind",
        C::NAME
    );
    Ok(message)
}

/// Reads a `T` from `message` with codec `C`: a message of the other kind is refused without
/// decoding (see [the module](self) for the close codes of both mistakes).
///
/// ```
/// use ws_routes::codec::{self, JsonCodec};
/// use ws_routes::Message;
///
/// let numbers: Vec<u32> = codec::decode::<JsonCodec, _>(&Message::from("[1,2]"))?;
/// assert_eq!(numbers, [1, 2]);
/// assert!(codec::decode::<JsonCodec, Vec<u32>>(&Message::from(vec![1])).unwrap_err().is_wrong_kind());
/// # Ok::<(), ws_routes::codec::CodecError>(())
/// ```
#[cfg(feature = "codec")]
pub fn decode<C: Codec, T: DeserializeOwned>(message: &Message) -> Result<T, CodecError> {
    let got = MessageKind::of(message);
    if got != C::KIND {
        return Err(CodecError::new::<C>(Failure::WrongKind { got }));
    }
    C::decode(message.as_bytes()).map_err(|error| CodecError::new::<C>(Failure::Decode(error)))
}

/// `error` as [`Error`], through codec `C`'s own error type: [`Error::Json`] for JSON,
/// [`Error::Codec`] for the others.
#[cfg(feature = "codec")]
pub(crate) fn into_error<C: Codec>(error: CodecError) -> Error {
    C::Error::from(error).into()
}

/// A message of the wrong kind for a codec, one that does not decode, or a value that cannot
/// be encoded; the error of typed receives and sends with any codec but JSON (which has
/// [`JsonError`]), found in [`Error::Codec`].
///
/// Unless the route takes the error, a message that does not decode closes the connection
/// with [`close_frame`](Self::close_frame): see [the module](self) for the codes.
#[cfg(feature = "codec")]
#[derive(Debug)]
pub struct CodecError {
    codec: &'static str,
    failure: Failure,
}

#[cfg(feature = "codec")]
#[derive(Debug)]
enum Failure {
    /// A message of the codec's kind that does not decode.
    Decode(BoxError),
    /// A message of the other kind.
    WrongKind { got: MessageKind },
    /// A value the codec could not write.
    Encode(BoxError),
}

#[cfg(feature = "codec")]
impl CodecError {
    fn new<C: Codec>(failure: Failure) -> Self {
        CodecError {
            codec: C::NAME,
            failure,
        }
    }

    /// The name of the codec: "JSON", "MessagePack".
    pub fn codec(&self) -> &'static str {
        self.codec
    }

    /// Whether the message was of the other kind than the codec's (closed with 1003, not
    /// 1007).
    pub fn is_wrong_kind(&self) -> bool {
        matches!(self.failure, Failure::WrongKind { .. })
    }

    /// The close frame for a message that does not decode: 1007 with this error as reason (cut
    /// to 123 bytes on a character boundary), or 1003 for a message of the other kind.
    pub fn close_frame(&self) -> CloseFrame {
        let code = match self.failure {
            Failure::WrongKind { .. } => CloseCode::UNSUPPORTED,
            Failure::Decode(_) | Failure::Encode(_) => CloseCode::INVALID_PAYLOAD,
        };
        CloseFrame::new(code, &self.to_string())
    }

    /// The decoder's or encoder's own error, unless the message was of the other kind.
    fn codec_source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &self.failure {
            Failure::Decode(error) | Failure::Encode(error) => Some(&**error),
            Failure::WrongKind { .. } => None,
        }
    }
}

#[cfg(feature = "codec")]
impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codec = self.codec;
        match &self.failure {
            Failure::Decode(error) => write!(f, "invalid {codec}: {error}"),
            Failure::WrongKind { got } => {
                let expected = match got {
                    MessageKind::Text => MessageKind::Binary,
                    MessageKind::Binary => MessageKind::Text,
                };
                write!(f, "expected {codec} {expected}, got a {got} message")
            }
            Failure::Encode(error) => write!(f, "cannot write {codec}: {error}"),
        }
    }
}

#[cfg(feature = "codec")]
impl std::error::Error for CodecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.codec_source()
            .map(|error| error as &(dyn std::error::Error + 'static))
    }
}

#[cfg(feature = "codec")]
impl From<CodecError> for Error {
    fn from(error: CodecError) -> Self {
        Error::Codec(error)
    }
}

#[cfg(feature = "codec")]
impl Error {
    /// The codec's error when this is one ([`Error::Codec`], or [`Error::Json`] for JSON): for
    /// code that takes bad input with any codec, such as a loop over
    /// [`recv_as_lenient`](crate::WebSocket::recv_as_lenient).
    ///
    /// ```
    /// use ws_routes::codec::Codec;
    /// use ws_routes::WebSocket;
    ///
    /// /// Sums lists of numbers, whatever the codec, and answers bad input.
    /// async fn sum<C: Codec>(mut ws: WebSocket) {
    ///     while let Some(received) = ws.recv_as_lenient::<C, Vec<i64>>().await {
    ///         let reply = match received {
    ///             Ok(numbers) => numbers.iter().sum::<i64>().to_string(),
    ///             Err(error) => match error.codec_error() {
    ///                 Some(bad) => format!("send a list of numbers ({bad})"),
    ///                 None => break,
    ///             },
    ///         };
    ///         if ws.send(reply).await.is_err() {
    ///             break;
    ///         }
    ///     }
    /// }
    /// ```
    pub fn codec_error(&self) -> Option<&CodecError> {
        match self {
            Error::Codec(error) => Some(error),
            #[cfg(feature = "json")]
            Error::Json(error) => Some(error.as_codec_error()),
            _ => None,
        }
    }
}

/// A wrapper that names the codec of the value it holds: [`Json<T>`] and [`MsgPack<T>`].
///
/// A class-style route's `on_message` takes one (or `Result<W, W::Codec::Error>` to receive
/// bad input and stay open), and `#[route(..., receives = W, sends = W)]` may name one to
/// document a route's messages with their codec (a bare type is JSON). A codec of your own
/// needs a wrapper for `on_message`:
///
/// ```
/// # use serde::{Serialize, de::DeserializeOwned};
/// # use ws_routes::codec::{BoxError, Codec, CodecError, MessageKind};
/// # use ws_routes::Message;
/// # struct PrettyJson;
/// # impl Codec for PrettyJson {
/// #     const NAME: &'static str = "pretty JSON";
/// #     const CONTENT_TYPE: &'static str = "application/json";
/// #     const KIND: MessageKind = MessageKind::Text;
/// #     type Error = CodecError;
/// #     fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Message, BoxError> {
/// #         Ok(Message::from(serde_json::to_string_pretty(value)?))
/// #     }
/// #     fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, BoxError> {
/// #         Ok(serde_json::from_slice(payload)?)
/// #     }
/// # }
/// use ws_routes::codec::TypedMessage;
/// use ws_routes::{route, Session};
///
/// struct Pretty<T>(T);
///
/// impl<T> TypedMessage for Pretty<T> {
///     type Codec = PrettyJson;
///     type Value = T;
///
///     fn from_value(value: T) -> Self {
///         Pretty(value)
///     }
/// }
///
/// #[derive(Default)]
/// struct Sum;
///
/// #[route("/sum")]
/// impl Sum {
///     async fn on_message(&mut self, session: &mut Session, Pretty(numbers): Pretty<Vec<i64>>) {
///         let _ = session.send_as::<PrettyJson>(&numbers.iter().sum::<i64>()).await;
///     }
/// }
/// ```
#[cfg(feature = "codec")]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a typed message",
    label = "not a message decoded by a codec",
    note = "take `Json<T>` (feature `json`), `MsgPack<T>` (feature `msgpack`), or a \
            `TypedMessage` wrapper of your own codec"
)]
pub trait TypedMessage: Sized {
    /// The codec that reads and writes it.
    type Codec: Codec;
    /// The value it holds.
    type Value;

    /// Wraps a decoded value.
    fn from_value(value: Self::Value) -> Self;
}
