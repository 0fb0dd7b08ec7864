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
//! [`CloseCode::INVALID_PAYLOAD`]: crate::CloseCode::INVALID_PAYLOAD
//! [`CloseCode::UNSUPPORTED`]: crate::CloseCode::UNSUPPORTED
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

#[cfg(feature = "codec")]
mod error;
#[cfg(feature = "codec")]
mod format;
#[cfg(feature = "json")]
mod json;
#[cfg(feature = "msgpack")]
mod msgpack;

use std::fmt;

#[cfg(feature = "codec")]
pub use error::CodecError;
#[cfg(feature = "codec")]
use error::Failure;
#[cfg(feature = "codec")]
pub(crate) use error::into_error;
#[cfg(feature = "codec")]
pub use format::{BoxError, Codec, TypedMessage, decode, encode};
#[cfg(feature = "json")]
pub use json::{Json, JsonCodec, JsonError};
#[cfg(feature = "msgpack")]
pub use msgpack::{MsgPack, MsgPackCodec};

use crate::wire::Message;

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
