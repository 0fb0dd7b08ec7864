//! MessagePack, the binary codec (feature `msgpack`): [`MsgPackCodec`] and the [`MsgPack<T>`]
//! wrapper, on rmp-serde.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{BoxError, Codec, CodecError, MessageKind, TypedMessage};
use crate::wire::Message;

/// MessagePack as a [`Codec`]: binary messages, written and read by rmp-serde; content type
/// `application/vnd.msgpack` (the type IANA registered for MessagePack in 2024).
///
/// Structs are written as maps with their field names (what JavaScript's `@msgpack/msgpack` and
/// Python's `msgpack` read as objects and dicts), so a serde-tagged enum reads
/// `{"type": "say", "text": "hi"}` in any language; reading accepts structs written as arrays
/// too. A message that holds more than one value is bad input.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use ws_routes::codec::{self, CodecError, MsgPackCodec};
/// use ws_routes::{CloseCode, Message};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// #[serde(tag = "type", rename_all = "lowercase")]
/// enum Event {
///     Say { text: String },
/// }
///
/// let say = Event::Say { text: "hi".into() };
/// let message = codec::encode::<MsgPackCodec>(&say)?;
/// // A map of two entries: "type" => "say", "text" => "hi".
/// assert_eq!(message.as_bytes(), b"\x82\xa4type\xa3say\xa4text\xa2hi");
/// assert_eq!(codec::decode::<MsgPackCodec, Event>(&message)?, say);
///
/// let bad = codec::decode::<MsgPackCodec, Event>(&Message::binary(vec![0x80])).unwrap_err();
/// assert_eq!(bad.close_frame().code, CloseCode::INVALID_PAYLOAD);
/// assert_eq!(bad.to_string(), "invalid MessagePack: missing field `type`");
///
/// let text = codec::decode::<MsgPackCodec, Event>(&Message::from("{}")).unwrap_err();
/// assert_eq!(text.close_frame().code, CloseCode::UNSUPPORTED);
/// assert_eq!(text.to_string(), "expected MessagePack binary, got a text message");
/// # Ok::<(), CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgPackCodec;

impl Codec for MsgPackCodec {
    const NAME: &'static str = "MessagePack";
    const CONTENT_TYPE: &'static str = "application/vnd.msgpack";
    const KIND: MessageKind = MessageKind::Binary;
    type Error = CodecError;

    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Message, BoxError> {
        Ok(Message::binary(rmp_serde::to_vec_named(value)?))
    }

    fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, BoxError> {
        let mut decoder = rmp_serde::Deserializer::new(payload);
        let value = T::deserialize(&mut decoder)?;
        match decoder.get_ref().len() {
            0 => Ok(value),
            left => Err(format!("{left} bytes after the value").into()),
        }
    }
}

/// A message decoded from, or encoded to, MessagePack with serde: what a class-style route's
/// `on_message` takes for binary MessagePack messages, as it takes [`Json<T>`](super::Json)
/// for JSON text.
///
/// A message that does not decode into `T` closes the connection with 1007, a text message
/// with 1003 (see [the codecs' rule](super#one-kind-of-message-per-codec)); take
/// `Result<MsgPack<T>, CodecError>` instead to receive the error and keep the connection open.
/// Function routes use [`WebSocket::recv_as`](crate::WebSocket::recv_as) and
/// [`send_as`](crate::WebSocket::send_as) with [`MsgPackCodec`].
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use ws_routes::codec::MsgPackCodec;
/// use ws_routes::{route, Session};
/// use ws_routes::codec::MsgPack;
///
/// #[derive(Deserialize)]
/// #[serde(tag = "type", rename_all = "lowercase")]
/// enum ClientEvent {
///     Join { name: String },
///     Say { text: String },
/// }
///
/// #[derive(Serialize)]
/// struct Said {
///     name: String,
///     text: String,
/// }
///
/// #[derive(Default)]
/// struct Chat {
///     name: String,
/// }
///
/// #[route("/chat", sends = MsgPack<Said>)]
/// impl Chat {
///     async fn on_message(&mut self, session: &mut Session, MsgPack(event): MsgPack<ClientEvent>) {
///         match event {
///             ClientEvent::Join { name } => self.name = name,
///             ClientEvent::Say { text } => {
///                 let said = Said { name: self.name.clone(), text };
///                 let _ = session.send_as::<MsgPackCodec>(&said).await;
///             }
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MsgPack<T>(pub T);

impl<T> MsgPack<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

// Written out rather than by a macro: the impls are what the compiler lists when
// `on_message` takes a type that is no typed message.
impl<T> TypedMessage for MsgPack<T> {
    type Codec = MsgPackCodec;
    type Value = T;

    fn from_value(value: T) -> Self {
        MsgPack(value)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::codec::{decode, encode};
    use crate::wire::CloseCode;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "lowercase")]
    enum Event {
        Join { name: String },
        Say { text: String },
    }

    #[test]
    fn a_tagged_enum_goes_both_ways() {
        for event in [
            Event::Join { name: "ada".into() },
            Event::Say { text: "hi".into() },
        ] {
            let message = encode::<MsgPackCodec>(&event).unwrap();
            assert!(message.is_binary());
            assert_eq!(decode::<MsgPackCodec, Event>(&message).unwrap(), event);
        }
    }

    #[test]
    fn structs_written_as_arrays_are_read_too() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Point {
            x: i32,
            y: i32,
        }
        let compact = rmp_serde::to_vec(&Point { x: 1, y: 2 }).unwrap();
        let point: Point = decode::<MsgPackCodec, _>(&Message::binary(compact)).unwrap();
        assert_eq!(point, Point { x: 1, y: 2 });
    }

    #[test]
    fn bad_input_closes_with_1007_and_says_why() {
        let said = encode::<MsgPackCodec>(&Event::Say { text: "hi".into() }).unwrap();
        let mut twice = said.as_bytes().to_vec();
        twice.extend_from_slice(said.as_bytes());
        let cut = &said.as_bytes()[..said.len() - 1];
        let after = format!("invalid MessagePack: {} bytes after the value", said.len());
        for (input, reason) in [
            (vec![0xc1], "invalid MessagePack: "),
            (cut.to_vec(), "invalid MessagePack: "),
            (vec![0x80], "invalid MessagePack: missing field `type`"),
            (twice, after.as_str()),
            (
                b"\x81\xa4type\xa5dance".to_vec(),
                "invalid MessagePack: unknown variant `dance`",
            ),
        ] {
            let error = decode::<MsgPackCodec, Event>(&Message::binary(input.clone())).unwrap_err();
            let frame = error.close_frame();
            assert_eq!(frame.code, CloseCode::INVALID_PAYLOAD, "{input:x?}");
            assert!(
                frame.reason.starts_with(reason),
                "{input:x?}: {}",
                frame.reason
            );
            assert!(std::error::Error::source(&error).is_some());
        }
    }
}
