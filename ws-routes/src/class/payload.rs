//! The payload arguments of `on_text` and `on_binary`.

use bytes::Bytes;

use crate::wire::Utf8Bytes;

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

/// The argument of `on_message`: `Json<T>`, where a message that does not decode closes the
/// connection with 1007, or `Result<Json<T>, JsonError>`, where the method gets the error and
/// the connection stays open.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`on_message` takes `Json<T>` or `Result<Json<T>, JsonError>`, not `{Self}`",
    label = "a message decoded from JSON",
    note = "`Json<T>` needs the `json` feature of ws-routes (on by default) and `T: serde::de::DeserializeOwned`"
)]
pub trait FromJsonText: Sized {
    fn __from_json_text(text: Utf8Bytes) -> Result<Self, crate::handler::Outcome>;
}

#[cfg(feature = "json")]
impl<T: serde::de::DeserializeOwned> FromJsonText for crate::json::Json<T> {
    fn __from_json_text(text: Utf8Bytes) -> Result<Self, crate::handler::Outcome> {
        crate::json::JsonError::decode(&text.into())
            .map(crate::json::Json)
            .map_err(|error| crate::handler::Outcome::Closed(error.close_frame()))
    }
}

#[cfg(feature = "json")]
impl<T: serde::de::DeserializeOwned> FromJsonText
    for Result<crate::json::Json<T>, crate::json::JsonError>
{
    fn __from_json_text(text: Utf8Bytes) -> Result<Self, crate::handler::Outcome> {
        Ok(crate::json::JsonError::decode(&text.into()).map(crate::json::Json))
    }
}

/// The type `on_message`'s argument decodes, as the route's documentation describes it; apart
/// from [`FromJsonText`], so that a type that is not `Deserialize` is reported once.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`on_message` takes `Json<T>` or `Result<Json<T>, JsonError>`, not `{Self}`",
    label = "a message decoded from JSON"
)]
pub trait JsonPayload {
    type Payload;
}

#[cfg(feature = "json")]
impl<T> JsonPayload for crate::json::Json<T> {
    type Payload = T;
}

#[cfg(feature = "json")]
impl<T> JsonPayload for Result<crate::json::Json<T>, crate::json::JsonError> {
    type Payload = T;
}
