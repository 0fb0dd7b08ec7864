//! [`Reject`]: the HTTP response that refuses a WebSocket upgrade.

use crate::http::StatusCode;
use crate::http::header::{HeaderMap, HeaderName, HeaderValue};
use crate::server::handshake::http_response;

/// An HTTP response that refuses a WebSocket upgrade: a status, headers and a body.
///
/// An `accept` hook returns it to turn a client away before the handshake completes; the
/// client sees the status, headers and body, and no WebSocket is opened.
///
/// ```
/// use ws_routes::Reject;
/// use ws_routes::http::StatusCode;
///
/// let refusal = Reject::new(StatusCode::UNAUTHORIZED)
///     .header("www-authenticate", "Token")
///     .body("a token is required: add ?token=... to the URL\n");
/// assert_eq!(refusal.status(), StatusCode::UNAUTHORIZED);
/// ```
#[derive(Debug, Clone)]
pub struct Reject {
    // Boxed: refusals are rare, and `Result<T, Reject>` stays small on the common path.
    response: Box<Refusal>,
}

#[derive(Debug, Clone)]
struct Refusal {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reject {
    /// A refusal with `status`; the body defaults to the status's reason phrase.
    pub fn new(status: StatusCode) -> Self {
        let body = status
            .canonical_reason()
            .map(|reason| format!("{reason}\n"))
            .unwrap_or_default();
        Reject {
            response: Box::new(Refusal {
                status,
                headers: HeaderMap::new(),
                body,
            }),
        }
    }

    /// Adds a header. A name or value that is not valid HTTP is left out and logged, so that
    /// nothing the program computes can break the response.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.response.headers.append(name, value);
            }
            _ => tracing::error!("a refusal header is not valid HTTP and was left out"),
        }
        self
    }

    /// Sets the body (sent as `text/plain; charset=utf-8`).
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.response.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.response.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.response.headers
    }

    /// The body.
    pub fn body_text(&self) -> &str {
        &self.response.body
    }

    /// The bytes of the HTTP/1.1 response.
    pub(crate) fn to_http(&self) -> Vec<u8> {
        let response = &self.response;
        let plain_text = Some("text/plain; charset=utf-8");
        http_response(
            response.status,
            &response.headers,
            plain_text,
            response.body.as_bytes(),
            true,
        )
    }
}

impl From<StatusCode> for Reject {
    fn from(status: StatusCode) -> Self {
        Reject::new(status)
    }
}
