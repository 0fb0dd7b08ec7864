//! The [`Codec`] trait, the functions that apply it to messages, and the [`TypedMessage`]
//! wrappers that name a codec for `on_message`.

use serde::{Serialize, de::DeserializeOwned};

use super::{CodecError, Failure, MessageKind};
use crate::error::Error;
use crate::wire::Message;

/// What a codec's encoder or decoder fails with: its own error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A format for typed messages: how serde values become messages of one kind and back.
///
/// A codec is a type without values that names a format, as [`JsonCodec`] and
/// [`MsgPackCodec`] do; the typed receives and sends take it as a type parameter
/// (`ws.recv_as::<MsgPackCodec, Event>()`), and a wrapper type that implements
/// [`TypedMessage`] (such as [`MsgPack<T>`]) names it for `on_message`. The library checks
/// the kind of message before it decodes (see [the module](crate::codec)), so
/// [`decode`](Self::decode) only ever sees messages of [`KIND`](Self::KIND).
///
/// [`JsonCodec`]: super::JsonCodec
/// [`MsgPackCodec`]: super::MsgPackCodec
/// [`MsgPack<T>`]: super::MsgPack
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
pub trait Codec: Send + Sync + 'static {
    /// The format's name in errors and close reasons: "JSON", "MessagePack".
    const NAME: &'static str;
    /// The media type of its messages, for the [AsyncAPI document](crate::Routes::asyncapi).
    const CONTENT_TYPE: &'static str;
    /// The kind of message it reads and writes.
    const KIND: MessageKind;
    /// The error typed receives with this codec return (inside [`Error`]) and that
    /// `on_message` may take in `Result<W, Self::Error>`: [`CodecError`], or a type of the
    /// codec's own that holds one ([`JsonError`](super::JsonError), kept from before codecs).
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
/// decoding (see [the module](crate::codec) for the close codes of both mistakes).
///
/// ```
/// use ws_routes::codec::{self, JsonCodec};
/// use ws_routes::Message;
///
/// let numbers: Vec<u32> = codec::decode::<JsonCodec, _>(&Message::from("[1,2]"))?;
/// assert_eq!(numbers, [1, 2]);
/// let binary = Message::from(vec![1]);
/// assert!(codec::decode::<JsonCodec, Vec<u32>>(&binary).unwrap_err().is_wrong_kind());
/// # Ok::<(), ws_routes::codec::CodecError>(())
/// ```
pub fn decode<C: Codec, T: DeserializeOwned>(message: &Message) -> Result<T, CodecError> {
    let got = MessageKind::of(message);
    if got != C::KIND {
        return Err(CodecError::new::<C>(Failure::WrongKind { got }));
    }
    C::decode(message.as_bytes()).map_err(|error| CodecError::new::<C>(Failure::Decode(error)))
}

/// A wrapper that names the codec of the value it holds: [`Json<T>`](super::Json) and
/// [`MsgPack<T>`](super::MsgPack).
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
