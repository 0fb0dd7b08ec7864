//! [`Reject`]: the HTTP response that refuses a WebSocket upgrade.

use bytes::Bytes;

use crate::http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use crate::http::{Response, StatusCode};

/// The content type of a refusal's body (unless a header of its own says otherwise), and of
/// the plain-text pages the server answers with.
pub(crate) const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

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

    /// The refusal as an HTTP response: its status, headers and body, with a `content-type`
    /// of [`PLAIN_TEXT`] unless a header says otherwise. Every refusal, standalone or mounted,
    /// is built here.
    pub(crate) fn to_response(&self) -> Response<Bytes> {
        let refusal = &self.response;
        let mut response = Response::new(Bytes::copy_from_slice(refusal.body.as_bytes()));
        *response.status_mut() = refusal.status;
        *response.headers_mut() = refusal.headers.clone();
        response
            .headers_mut()
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static(PLAIN_TEXT));
        response
    }
}

impl From<StatusCode> for Reject {
    fn from(status: StatusCode) -> Self {
        Reject::new(status)
    }
}
