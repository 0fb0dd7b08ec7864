//! Close codes: the standard ones re-exported from tungstenite, and the ones ws-routes adds.
//!
//! | code | meaning |
//! |---|---|
//! | 1000 | the handler finished |
//! | 1002 | the peer broke the protocol |
//! | 1007 | a text message was not valid UTF-8 |
//! | 1009 | a message was larger than the limit |
//! | 1011 | the handler panicked or returned an error |
//! | [`INVALID_PARAMETER`] 4000 | a path parameter did not parse; the reason names it |
//! | [`NO_ROUTE`] 4040 | no route matches the path; the reason names the path |

pub use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
pub use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// A path parameter could not be parsed into the handler's argument type.
pub const INVALID_PARAMETER: u16 = 4000;

/// No route matches the request path (websockets-routes' code, kept for compatibility).
pub const NO_ROUTE: u16 = 4040;

/// Close reasons travel in a control frame and must fit in 123 bytes.
pub(crate) const MAX_REASON_LEN: usize = 123;

/// Builds a close frame, cutting `reason` to the protocol's limit on a character boundary.
pub(crate) fn frame(code: impl Into<CloseCode>, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code: code.into(),
        reason: reason[..end].to_owned().into(),
    }
}
