//! The payload arguments of `on_text`, `on_binary` and `on_message`.

use bytes::Bytes;
#[cfg(feature = "codec")]
use serde::de::DeserializeOwned;

use crate::codec::MessageKind;
#[cfg(feature = "codec")]
use crate::codec::{self, Codec, TypedMessage};
use crate::handler::Outcome;
use crate::wire::{Message, Utf8Bytes};

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

/// The argument of `on_message`: a [`TypedMessage`](crate::codec::TypedMessage) such as
/// `Json<T>` or `MsgPack<T>`, where a message that does not decode closes the connection, or
/// `Result` of one and its codec's error (`Result<Json<T>, JsonError>`,
/// `Result<MsgPack<T>, CodecError>`), where the method gets the error and the connection stays
/// open.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`on_message` takes `Json<T>`, `MsgPack<T>` or a `Result` of one and its codec's \
               error, not `{Self}`",
    label = "a message decoded by a codec",
    note = "`Json<T>` needs the `json` feature of ws-routes (on by default), `MsgPack<T>` the \
            `msgpack` feature, and both `T: serde::de::DeserializeOwned`"
)]
pub trait FromMessage: Sized {
    /// The kind of message its codec reads: `on_text` or `on_binary` may take the other kind.
    const KIND: MessageKind;

    fn __from_message(message: Message) -> Result<Self, Outcome>;
}

#[cfg(feature = "codec")]
impl<W> FromMessage for W
where
    W: TypedMessage,
    W::Value: DeserializeOwned,
{
    const KIND: MessageKind = <W::Codec as Codec>::KIND;

    fn __from_message(message: Message) -> Result<Self, Outcome> {
        codec::decode::<W::Codec, W::Value>(&message)
            .map(W::from_value)
            .map_err(|error| Outcome::Closed(error.close_frame()))
    }
}

#[cfg(feature = "codec")]
impl<W> FromMessage for Result<W, <W::Codec as Codec>::Error>
where
    W: TypedMessage,
    W::Value: DeserializeOwned,
{
    const KIND: MessageKind = <W::Codec as Codec>::KIND;

    fn __from_message(message: Message) -> Result<Self, Outcome> {
        Ok(codec::decode::<W::Codec, W::Value>(&message)
            .map(W::from_value)
            .map_err(Into::into))
    }
}

/// The typed message `on_message`'s argument decodes, as the route's documentation describes
/// it; apart from [`FromMessage`], so that a type that is not `Deserialize` is reported once.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`on_message` takes `Json<T>`, `MsgPack<T>` or a `Result` of one and its codec's \
               error, not `{Self}`",
    label = "a message decoded by a codec"
)]
pub trait MessagePayload {
    type Message;
}

#[cfg(feature = "codec")]
impl<W: TypedMessage> MessagePayload for W {
    type Message = W;
}

#[cfg(feature = "codec")]
impl<W: TypedMessage> MessagePayload for Result<W, <W::Codec as Codec>::Error> {
    type Message = W;
}
