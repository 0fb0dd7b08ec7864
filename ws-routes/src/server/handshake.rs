//! The server side of the opening handshake (RFC 6455 section 4.2), done by hand so that routing
//! happens before the upgrade: the request head is read and checked, and the answer is either
//! `101 Switching Protocols` or a plain HTTP response.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::headers::Headers;
use super::origin::{Origin, OriginPattern};
use crate::extract::Reject;
use crate::http::header::{
    CONNECTION, CONTENT_LENGTH, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, TRANSFER_ENCODING, UPGRADE,
};
use crate::http::{HeaderName, HeaderValue, Method, Response, StatusCode, Uri};
use crate::routing::Route;
use crate::wire::deflate::negotiation::{self, DeflateConfig, Negotiated};
use crate::wire::handshake::{self as wire, AcceptKey, HeaderValues};

/// A parsed request head (public only to the fuzz targets, through `__private`).
#[derive(Debug)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The minor version of HTTP/1.x.
    pub version: u8,
    /// The request target, checked by `request_target`.
    pub uri: Uri,
    /// The request headers, in the order they came.
    pub headers: Headers,
    /// Bytes the client sent after the head (frames sent without waiting for the 101).
    pub leftover: Vec<u8>,
}

/// Why a request target was refused (HTTP 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadTarget {
    /// Neither origin-form (`/path?query`) nor absolute-form (`ws://host/path`), or not a URI.
    Form,
    /// A `.` or `..` segment, plain or percent-encoded: a proxy would normalise it away, so the
    /// path it checked and the path routed would differ.
    DotSegment,
}

impl BadTarget {
    fn body(self) -> &'static str {
        match self {
            BadTarget::Form => "malformed request target\n",
            BadTarget::DotSegment => "`.` and `..` path segments are not allowed\n",
        }
    }
}

/// Parses a request target as RFC 9112 section 3.2 defines it for a GET: origin-form when it
/// starts with `/`, absolute-form (`scheme://authority/path`) otherwise. The path and query
/// are those [`Uri`] parses, so routing and the HTTP fallback always see the same path; a
/// fragment, the asterisk and authority forms, and dot segments are refused.
pub(crate) fn request_target(target: &str) -> Result<Uri, BadTarget> {
    checked_target(target, Bytes::copy_from_slice(target.as_bytes()))
}

/// [`request_target`] of `target`, whose bytes `bytes` holds: a slice of the request head's one
/// copy, which the `Uri` then shares.
fn checked_target(target: &str, bytes: Bytes) -> Result<Uri, BadTarget> {
    if target.contains('#') {
        return Err(BadTarget::Form);
    }
    let uri = Uri::from_maybe_shared(bytes).map_err(|_| BadTarget::Form)?;
    let form_ok = if target.starts_with('/') {
        uri.scheme().is_none() && uri.authority().is_none()
    } else {
        uri.scheme().is_some() && uri.authority().is_some()
    };
    if !form_ok || !uri.path().starts_with('/') {
        return Err(BadTarget::Form);
    }
    check_path(uri.path())?;
    Ok(uri)
}

/// Refuses a path with a `.` or `..` segment (see [`BadTarget::DotSegment`]): the standalone
/// server checks the request targets it parses with it, the mounted service the paths its
/// HTTP server parsed.
pub(crate) fn check_path(path: &str) -> Result<(), BadTarget> {
    if path.split('/').any(is_dot_segment) {
        return Err(BadTarget::DotSegment);
    }
    Ok(())
}

/// `.` or `..`, with any of the dots written `%2e` or `%2E`.
fn is_dot_segment(segment: &str) -> bool {
    let rest = segment.as_bytes();
    let mut dots = 0;
    let mut at = 0;
    while at < rest.len() {
        match rest[at..] {
            [b'.', ..] => at += 1,
            [b'%', b'2', b'e' | b'E', ..] => at += 3,
            _ => return false,
        }
        dots += 1;
    }
    dots == 1 || dots == 2
}

/// Why no request head could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection or the socket failed; nothing to answer.
    Io(io::Error),
    /// Not a request to serve: the HTTP answer that says why.
    Refused(Reject),
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> Self {
        ReadError::Io(error)
    }
}

impl From<BadTarget> for Reject {
    fn from(bad: BadTarget) -> Self {
        bad_request(bad.body())
    }
}

impl From<BadTarget> for ReadError {
    fn from(bad: BadTarget) -> Self {
        ReadError::Refused(bad.into())
    }
}

fn malformed() -> ReadError {
    ReadError::Refused(Reject::new(StatusCode::BAD_REQUEST).body("malformed HTTP request\n"))
}

fn too_large() -> ReadError {
    ReadError::Refused(Reject::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE))
}

/// Reads a request head of at most `limit` bytes.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: usize,
) -> Result<RequestHead, ReadError> {
    let mut buf = Vec::with_capacity(limit.min(1024));
    loop {
        if buf.len() == buf.capacity() {
            if buf.len() >= limit {
                return Err(too_large());
            }
            buf.reserve_exact(buf.len().min(limit - buf.len()));
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        let mut headers = [httparse::EMPTY_HEADER; wire::MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(length)) => {
                return head_from(&request, &buf[..length], buf[length..].to_vec());
            }
            Err(httparse::Error::TooManyHeaders) => return Err(too_large()),
            Err(_) => return Err(malformed()),
        }
    }
}

fn head_from(
    request: &httparse::Request<'_, '_>,
    head: &[u8],
    leftover: Vec<u8>,
) -> Result<RequestHead, ReadError> {
    let method = request
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok());
    let (Some(method), Some(target), Some(version)) = (method, request.path, request.version)
    else {
        return Err(malformed());
    };
    let head = wire::SharedHead::new(head);
    let headers = Headers::parsed(&head, request.headers).ok_or_else(malformed)?;
    let uri = checked_target(target, head.share(target.as_bytes()))?;
    Ok(RequestHead {
        method,
        version,
        uri,
        headers,
        leftover,
    })
}

/// Whether `head` asks for a WebSocket upgrade (a plain HTTP request does not).
pub(crate) fn is_upgrade(head: &RequestHead) -> bool {
    asks_upgrade(&head.headers)
}

/// Whether a request with `headers` asks for a WebSocket upgrade.
pub(crate) fn asks_upgrade(headers: &impl HeaderValues) -> bool {
    wire::has_token(headers, &UPGRADE, "websocket")
        && wire::has_token(headers, &CONNECTION, "upgrade")
}

/// Checks the rest of an upgrade request (see [`is_upgrade`]) as strictly as Python's
/// `websockets` does, and returns the `Sec-WebSocket-Accept` value, or the HTTP response that
/// refuses it: a GET over HTTP/1.1 with a `Host`, no body, at most one `Origin`, one
/// `Sec-WebSocket-Version` of 13 and one `Sec-WebSocket-Key` that is 16 bytes in base64.
pub(crate) fn accept_key(head: &RequestHead) -> Result<AcceptKey, Reject> {
    if head.method != Method::GET {
        return Err(Reject::new(StatusCode::METHOD_NOT_ALLOWED)
            .header("allow", "GET")
            .body("a WebSocket handshake is a GET request\n"));
    }
    if head.version != 1 {
        return Err(bad_request("a WebSocket handshake needs HTTP/1.1\n"));
    }
    if head.headers.values(&HOST).count() != 1 {
        return Err(bad_request("a WebSocket handshake needs one Host header\n"));
    }
    let carries_body = head.headers.values(&TRANSFER_ENCODING).next().is_some()
        || head
            .headers
            .values(&CONTENT_LENGTH)
            .any(|length| length != b"0");
    if carries_body {
        return Err(bad_request("a WebSocket handshake carries no body\n"));
    }
    single(head, &ORIGIN)?;
    let version = single(head, &SEC_WEBSOCKET_VERSION)?;
    if version != Some(b"13") {
        return Err(upgrade_required(
            "unsupported WebSocket version; this server speaks 13\n",
        ));
    }
    match single(head, &SEC_WEBSOCKET_KEY)? {
        Some(key) if is_websocket_key(key) => Ok(wire::accept_key(key)),
        Some(_) => Err(bad_request(
            "Sec-WebSocket-Key must be 16 bytes in base64\n",
        )),
        None => Err(bad_request("missing Sec-WebSocket-Key\n")),
    }
}

/// The value of a header that may appear at most once: a 400 when it appears more often.
fn single<'h>(head: &'h RequestHead, name: &HeaderName) -> Result<Option<&'h [u8]>, Reject> {
    let mut values = head.headers.values(name);
    let first = values.next();
    if values.next().is_some() {
        return Err(bad_request(format!("more than one {name} header\n")));
    }
    Ok(first)
}

fn bad_request(body: impl Into<String>) -> Reject {
    Reject::new(StatusCode::BAD_REQUEST).body(body)
}

/// Whether `key` is the base64 of 16 bytes: 22 characters of the alphabet and `==`.
fn is_websocket_key(key: &[u8]) -> bool {
    let is_base64 = |byte: &u8| byte.is_ascii_alphanumeric() || *byte == b'+' || *byte == b'/';
    key.len() == 24 && key[..22].iter().all(is_base64) && &key[22..] == b"=="
}

/// `426 Upgrade Required`: what a plain HTTP request gets when the server has no fallback, and
/// what an unsupported WebSocket version gets.
pub(crate) fn upgrade_required(body: &'static str) -> Reject {
    Reject::new(StatusCode::UPGRADE_REQUIRED)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .body(body)
}

/// Checks the `Origin` header against the allow-list: HTTP 403 when it is not on it. A
/// request without `Origin` comes from a program, not a browser page (browsers always send
/// it): it passes only when `allow_missing` says so. [`accept_key`] has refused a request
/// with several.
pub(crate) fn check_origin(
    head: &RequestHead,
    allowed: &[OriginPattern],
    allow_missing: bool,
) -> Result<(), Reject> {
    let Some(origin) = head.headers.values(&ORIGIN).next() else {
        if allow_missing {
            return Ok(());
        }
        tracing::info!("request without Origin refused");
        return Err(Reject::new(StatusCode::FORBIDDEN).body("an Origin header is required\n"));
    };
    let origin = wire::visible_ascii(origin).unwrap_or_default();
    if let Some(parsed) = Origin::parse(origin)
        && allowed.iter().any(|pattern| pattern.matches(&parsed))
    {
        return Ok(());
    }
    tracing::info!(origin = ?truncated(origin), "origin not allowed");
    Err(Reject::new(StatusCode::FORBIDDEN).body("origin not allowed\n"))
}

/// At most 64 bytes of `text`, for a log line (cut on a character boundary).
fn truncated(text: &str) -> &str {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Picks the subprotocol: the first of the route's, in its order of preference, that the
/// client offered. HTTP 400 when the route requires one and none matches.
pub(crate) fn negotiate_protocol(
    head: &RequestHead,
    route: &Route,
) -> Result<Option<&'static str>, Reject> {
    let offered = head
        .headers
        .values(&SEC_WEBSOCKET_PROTOCOL)
        .filter_map(wire::visible_ascii)
        .flat_map(|value| value.split(','))
        .map(str::trim);
    let offered: Vec<&str> = offered.collect();
    let chosen = route
        .parts
        .protocols
        .iter()
        .find(|protocol| offered.contains(protocol))
        .copied();
    if chosen.is_none() && route.parts.protocol_required {
        let body = format!(
            "no acceptable subprotocol: this route speaks {}\n",
            route.parts.protocols.join(", ")
        );
        return Err(Reject::new(StatusCode::BAD_REQUEST).body(body));
    }
    Ok(chosen)
}

/// `101 Switching Protocols`, with the `Sec-WebSocket-Accept` value and the subprotocol
/// agreed on: what the mounted service returns (the standalone server writes the same as
/// [`switching_bytes`]).
#[cfg(feature = "tower")]
pub(crate) fn switching_response(
    accept: &AcceptKey,
    protocol: Option<&'static str>,
    extension: Option<HeaderValue>,
) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept.header_value());
    if let Some(protocol) = protocol {
        // `#[route]` checks that every subprotocol is an HTTP token.
        headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    }
    if let Some(extension) = extension {
        headers.insert(SEC_WEBSOCKET_EXTENSIONS, extension);
    }
    response
}

/// The permessage-deflate parameters to agree on with a client whose request `headers` offer
/// it, and the response header's value; `None` when no offer is valid (which declines the
/// extension, not the handshake).
pub(crate) fn negotiate_deflate(
    headers: &impl HeaderValues,
    config: &DeflateConfig,
) -> Option<(Negotiated, HeaderValue)> {
    let offers = headers
        .values(&SEC_WEBSOCKET_EXTENSIONS)
        .filter_map(wire::visible_ascii);
    let (negotiated, response) = negotiation::negotiate(offers, config)?;
    let response =
        HeaderValue::try_from(response).expect("a response is made of tokens and digits");
    Some((negotiated, response))
}

/// A [`switching_response`] as the bytes to write, made without building the response:
/// the headers in the same order, names lowercase, as `http` writes them.
pub(crate) fn switching_bytes(
    accept: &AcceptKey,
    protocol: Option<&'static str>,
    extension: Option<&HeaderValue>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n",
    );
    header_line(&mut out, &SEC_WEBSOCKET_ACCEPT, accept.as_bytes());
    if let Some(protocol) = protocol {
        header_line(&mut out, &SEC_WEBSOCKET_PROTOCOL, protocol.as_bytes());
    }
    if let Some(extension) = extension {
        header_line(&mut out, &SEC_WEBSOCKET_EXTENSIONS, extension.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Writes a [`switching_bytes`] response.
pub(crate) async fn write_switching<S: AsyncWrite + Unpin>(
    stream: &mut S,
    response: &[u8],
) -> io::Result<()> {
    stream.write_all(response).await?;
    stream.flush().await
}

/// The bytes of the HTTP/1.1 response that refuses a handshake with `refusal`.
pub(crate) fn refusal_bytes(refusal: &Reject) -> Vec<u8> {
    http_response(&refusal.to_response(), true)
}

/// The bytes of an HTTP/1.1 response that ends the connection: `content-length` and
/// `connection: close` are the server's to set, and replace any the headers hold. The body is
/// left out when `send_body` is false (an answer to `HEAD`).
pub(crate) fn http_response(response: &Response<Bytes>, send_body: bool) -> Vec<u8> {
    let body = response.body();
    let mut out = status_line(response.status());
    for (name, value) in response.headers() {
        if name != CONTENT_LENGTH && name != CONNECTION {
            header_line(&mut out, name, value.as_bytes());
        }
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    if send_body {
        out.extend_from_slice(body);
    }
    out
}

/// A response's status line, in a buffer with room for the headers that follow it.
fn status_line(status: StatusCode) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

fn header_line(out: &mut Vec<u8>, name: &HeaderName, value: &[u8]) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes a refusal and closes; see [`write_and_close`].
pub(crate) async fn write_refusal<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    refusal: &Reject,
) -> io::Result<()> {
    write_and_close(stream, &refusal_bytes(refusal)).await
}

/// Writes a whole HTTP response, shuts the write side down, and reads what the client still
/// sends for a moment (up to 64 KiB), so that closing with unread data does not reset the
/// connection before the client has read the response.
pub(crate) async fn write_and_close<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    response: &[u8],
) -> io::Result<()> {
    stream.write_all(response).await?;
    stream.shutdown().await?;
    // On the heap: this future is part of every connection task, which must stay small.
    let mut sink = vec![0u8; 4096];
    let drain = async {
        let mut total = 0;
        while total < 64 << 10 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(read) => total += read,
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{BadTarget, HOST, HeaderValues, request_target};

    fn routed(target: &str) -> Result<(String, Option<String>), BadTarget> {
        request_target(target).map(|uri| (uri.path().to_owned(), uri.query().map(str::to_owned)))
    }

    #[test]
    fn a_url_in_the_query_string_never_routes() {
        for (target, path, query) in [
            (
                "/light/on?next=ws://x/switch/on",
                "/light/on",
                "next=ws://x/switch/on",
            ),
            ("/light/on?u=a://b", "/light/on", "u=a://b"),
            (
                "/public?next=http://x/admin",
                "/public",
                "next=http://x/admin",
            ),
        ] {
            assert_eq!(
                routed(target),
                Ok((path.to_owned(), Some(query.to_owned()))),
                "{target}"
            );
        }
    }

    #[test]
    fn absolute_form_routes_on_its_path() {
        assert_eq!(
            routed("ws://example.com/light/on?x=1"),
            Ok(("/light/on".to_owned(), Some("x=1".to_owned())))
        );
        assert_eq!(
            routed("http://example.com:8080/a"),
            Ok(("/a".to_owned(), None))
        );
    }

    #[test]
    fn other_forms_are_refused() {
        for target in [
            "*",
            "example.com:443",
            "light/on",
            "/light/on#top",
            "ws:/light",
            "",
        ] {
            assert_eq!(routed(target), Err(BadTarget::Form), "{target:?}");
        }
    }

    #[test]
    fn dot_segments_are_refused_in_every_spelling() {
        for target in [
            "/.",
            "/..",
            "/a/../admin",
            "/a/./b",
            "/a/%2e%2E/b",
            "/%2e",
            "/a/.%2e",
            "/a/..?x=1",
            "ws://host/a/../b",
        ] {
            assert_eq!(routed(target), Err(BadTarget::DotSegment), "{target:?}");
        }
        for target in ["/a/.../b", "/a/.b", "/a/b.", "/%2e%2e%2e", "/a/%2f"] {
            assert!(routed(target).is_ok(), "{target:?}");
        }
    }

    /// The request target and the header values, looked up or in the `HeaderMap` made of
    /// them, are slices of one copy of the head, which reading it allocates once.
    #[tokio::test]
    async fn the_target_and_the_headers_share_one_copy_of_the_head() {
        let head = b"GET /light/on?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let read = super::read_head(&mut &head[..], 1024).await.unwrap();
        let host = read.headers.values(&HOST).next().unwrap();
        assert_eq!(
            read.headers.map()["host"].as_bytes().as_ptr(),
            host.as_ptr()
        );
        assert_eq!(
            (read.uri.path(), read.uri.query(), host),
            ("/light/on", Some("x=1"), &b"example.com"[..])
        );
        let at = |part: &[u8]| part.as_ptr() as usize;
        let in_head = head.windows(host.len()).position(|w| w == host).unwrap() - 4;
        assert_eq!(
            at(host) - at(read.uri.path().as_bytes()),
            in_head,
            "as far apart as in the head"
        );
    }

    /// The standalone server writes its `101` by hand; the mounted service has `http` write
    /// the response. Both must say the same.
    #[cfg(feature = "tower")]
    #[test]
    fn the_written_101_is_the_mounted_one_serialized() {
        use super::{HeaderValue, header_line, status_line, switching_bytes, switching_response};

        let accept = crate::wire::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
        let extension = HeaderValue::from_static("permessage-deflate; server_max_window_bits=12");
        for (protocol, extension) in [
            (None, None),
            (Some("chat.v2"), None),
            (None, Some(&extension)),
            (Some("chat.v2"), Some(&extension)),
        ] {
            let response = switching_response(&accept, protocol, extension.cloned());
            let mut serialized = status_line(response.status());
            for (name, value) in response.headers() {
                header_line(&mut serialized, name, value.as_bytes());
            }
            serialized.extend_from_slice(b"\r\n");
            assert_eq!(
                String::from_utf8(switching_bytes(&accept, protocol, extension)).unwrap(),
                String::from_utf8(serialized).unwrap(),
                "{protocol:?} {extension:?}"
            );
        }
    }
}
