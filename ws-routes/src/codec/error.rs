//! [`CodecError`]: what decoding or encoding with any codec fails with, its close frame, and
//! its place in [`Error`].

use std::fmt;

use super::{BoxError, Codec, MessageKind};
use crate::error::Error;
use crate::wire::{CloseCode, CloseFrame};

/// `error` as [`Error`], through codec `C`'s own error type: [`Error::Json`] for JSON,
/// [`Error::Codec`] for the others.
pub(crate) fn into_error<C: Codec>(error: CodecError) -> Error {
    C::Error::from(error).into()
}

/// A message of the wrong kind for a codec, one that does not decode, or a value that cannot
/// be encoded; the error of typed receives and sends with any codec but JSON (which has
/// [`JsonError`](super::JsonError)), found in [`Error::Codec`].
///
/// Unless the route takes the error, a message that does not decode closes the connection
/// with [`close_frame`](Self::close_frame): see [the module](crate::codec) for the codes.
#[derive(Debug)]
pub struct CodecError {
    codec: &'static str,
    failure: Failure,
}

#[derive(Debug)]
pub(super) enum Failure {
    /// A message of the codec's kind that does not decode.
    Decode(BoxError),
    /// A message of the other kind.
    WrongKind { got: MessageKind },
    /// A value the codec could not write.
    Encode(BoxError),
}

impl CodecError {
    pub(super) fn new<C: Codec>(failure: Failure) -> Self {
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
    pub(super) fn codec_source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &self.failure {
            Failure::Decode(error) | Failure::Encode(error) => Some(&**error),
            Failure::WrongKind { .. } => None,
        }
    }
}

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

impl std::error::Error for CodecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.codec_source()
            .map(|error| error as &(dyn std::error::Error + 'static))
    }
}

impl From<CodecError> for Error {
    fn from(error: CodecError) -> Self {
        Error::Codec(error)
    }
}

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
