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
