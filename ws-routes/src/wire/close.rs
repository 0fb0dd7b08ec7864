//! Close codes and close frames (RFC 6455 section 7.4).

use std::fmt;

use super::text::Utf8Bytes;

/// A close code: why a connection ended. The codes ws-routes sends are named constants.
///
/// | constant | code | meaning |
/// |---|---|---|
/// | [`NORMAL`](Self::NORMAL) | 1000 | the handler finished |
/// | [`GOING_AWAY`](Self::GOING_AWAY) | 1001 | the server is shutting down (or the client leaves) |
/// | [`PROTOCOL_ERROR`](Self::PROTOCOL_ERROR) | 1002 | the peer broke the WebSocket protocol |
/// | [`UNSUPPORTED`](Self::UNSUPPORTED) | 1003 | a kind of message the endpoint does not accept |
/// | [`ABNORMAL`](Self::ABNORMAL) | 1006 | never sent: the connection ended without a close frame |
/// | [`INVALID_PAYLOAD`](Self::INVALID_PAYLOAD) | 1007 | a text message was not UTF-8, or a payload did not decode |
/// | [`POLICY`](Self::POLICY) | 1008 | refused by policy, e.g. by an extractor, or past the [`RateLimit`](crate::RateLimit) |
/// | [`TOO_BIG`](Self::TOO_BIG) | 1009 | a message was larger than the limit |
/// | [`INTERNAL`](Self::INTERNAL) | 1011 | the handler panicked or failed; a keepalive ping went unanswered |
/// | [`TRY_AGAIN_LATER`](Self::TRY_AGAIN_LATER) | 1013 | closed as a slow consumer |
/// | [`BAD_PARAM`](Self::BAD_PARAM) | 4000 | a path parameter did not parse; the reason names it |
/// | [`NO_ROUTE`](Self::NO_ROUTE) | 4040 | no route matches the path; the reason names it |
///
/// ```
/// use ws_routes::CloseCode;
///
/// assert_eq!(CloseCode::NO_ROUTE, 4040);
/// assert_eq!(u16::from(CloseCode::TOO_BIG), 1009);
/// assert_eq!(CloseCode::from(4001).to_string(), "4001");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (a server shutting down, a page navigated away).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a kind of data the endpoint cannot accept (e.g. binary where only text is read).
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1006: never sent on the wire. The connection ended without a close frame (the peer went
    /// away, or shut its side of the TCP connection without closing): what
    /// [`WebSocket::close_frame`](crate::WebSocket::close_frame) reports then, as browsers do.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a payload that does not match its type (invalid UTF-8 in a text message).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message or request that violates the endpoint's policy.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the server did not negotiate an extension the client required (client only).
    pub const EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: an unexpected condition on the server (a handler that panicked or failed).
    pub const INTERNAL: CloseCode = CloseCode(1011);
    /// 1012: the server is restarting.
    pub const RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (a member closed as a slow consumer).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 4000 (ws-routes): a path parameter did not parse; the reason names it.
    pub const BAD_PARAM: CloseCode = CloseCode(4000);
    /// 4040 (ws-routes, as websockets-routes): no route matches the request path.
    pub const NO_ROUTE: CloseCode = CloseCode(4040);

    /// The code as a number.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether a peer may send this code in a close frame (RFC 6455 section 7.4): 1000-1003,
    /// 1007-1014 and 3000-4999. 1005, 1006 and 1015 only ever describe a close locally.
    pub const fn is_allowed_on_the_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl PartialEq<u16> for CloseCode {
    fn eq(&self, other: &u16) -> bool {
        self.0 == *other
    }
}

impl PartialEq<CloseCode> for u16 {
    fn eq(&self, other: &CloseCode) -> bool {
        *self == other.0
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A close frame: a code and a short reason.
///
/// ```
/// use ws_routes::{CloseCode, CloseFrame};
///
/// let frame = CloseFrame::new(CloseCode::NO_ROUTE, "no route for /switch/on");
/// assert_eq!(frame.code, 4040);
/// assert_eq!(frame.reason, "no route for /switch/on");
/// // Reasons are cut to the protocol's 123 bytes, on a character boundary.
/// assert_eq!(CloseFrame::new(CloseCode::NORMAL, &"é".repeat(100)).reason.len(), 122);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CloseFrame {
    /// Why the connection closed.
    pub code: CloseCode,
    /// A short human-readable reason (at most 123 bytes on the wire; often empty).
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// The most bytes a reason may take: a control frame's payload is at most 125 bytes.
    pub const MAX_REASON_LEN: usize = 123;

    /// A close frame with `code` and `reason`, the reason cut to
    /// [`MAX_REASON_LEN`](Self::MAX_REASON_LEN) bytes on a character boundary.
    pub fn new(code: impl Into<CloseCode>, reason: &str) -> Self {
        CloseFrame {
            code: code.into(),
            reason: fitting_reason(reason).into(),
        }
    }
}

/// `reason` cut to [`CloseFrame::MAX_REASON_LEN`] bytes on a character boundary.
pub(crate) fn fitting_reason(reason: &str) -> &str {
    let mut end = reason.len().min(CloseFrame::MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{} ({})", self.code, self.reason)
        }
    }
}
