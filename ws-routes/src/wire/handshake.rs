//! The client's opening handshake (RFC 6455 section 4.1), and the accept key both sides derive
//! from `Sec-WebSocket-Key`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::deflate::negotiation::{self, DeflateConfig, DeflateError, Negotiated};
use super::transport::Transport;
use crate::error::{Error, ProtocolError, UrlError};
use crate::http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use crate::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};

/// The GUID RFC 6455 appends to the key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest response head the client reads.
const MAX_RESPONSE_HEAD: usize = 16 << 10;

/// The most of a refusal's body the client reads.
const MAX_REFUSAL_BODY: usize = 64 << 10;

/// The most headers a handshake request or response may have.
pub(crate) const MAX_HEADERS: usize = 64;

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &[u8]) -> AcceptKey {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    let mut value = [0; ACCEPT_KEY_LEN];
    let written = BASE64
        .encode_slice(sha1.finalize(), &mut value)
        .expect("a SHA-1 digest is 28 bytes in base64");
    debug_assert_eq!(written, ACCEPT_KEY_LEN);
    AcceptKey(value)
}

/// The length of a `Sec-WebSocket-Accept` value: a 20-byte SHA-1 digest in base64.
const ACCEPT_KEY_LEN: usize = 28;

/// A `Sec-WebSocket-Accept` value, kept inline: the standalone server writes it into the `101`
/// without allocating it on its own.
pub(crate) struct AcceptKey([u8; ACCEPT_KEY_LEN]);

impl AcceptKey {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as a header value, for a `101` made as an HTTP response.
    pub(crate) fn header_value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.0).expect("base64 is a valid header value")
    }
}

/// What a client learns from the server's `101`.
pub(crate) struct Upgraded {
    pub(crate) headers: HeaderMap,
    /// The bytes that came after the response: the start of the frame stream.
    pub(crate) leftover: Vec<u8>,
    /// The permessage-deflate parameters, when the server accepted the offer.
    pub(crate) deflate: Option<Negotiated>,
}

/// Sends the opening handshake for `uri` with `headers` (offering permessage-deflate under
/// `compression`, if given) and reads the answer.
pub(crate) async fn client(
    uri: &Uri,
    headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
    transport: &mut Transport,
    compression: Option<&DeflateConfig>,
) -> Result<Upgraded, Error> {
    let mut headers: Vec<_> = headers.into_iter().collect();
    if let Some(config) = compression {
        let offer = HeaderValue::try_from(negotiation::client_offer(config))
            .expect("an offer is made of tokens and digits");
        headers.push((http::header::SEC_WEBSOCKET_EXTENSIONS, offer));
    }
    let offered: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| name == http::header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|(_, value)| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let key = BASE64.encode(rand::random::<[u8; 16]>());
    transport
        .write_all(&request(uri, headers.iter().cloned(), &key)?)
        .await?;
    transport.flush().await?;
    let mut buffer = Vec::with_capacity(1024);
    let (status, headers, head_len) = loop {
        if transport.read_buf(&mut buffer).await? == 0 {
            return Err(handshake(
                "the server closed the connection during the handshake",
            ));
        }
        if let Some(head) = response_head(&buffer)? {
            break head;
        }
        buffer.reserve(1024);
    };
    let mut leftover = buffer.split_off(head_len);
    if status != StatusCode::SWITCHING_PROTOCOLS {
        let body = refusal_body(&headers, &mut leftover, transport).await;
        return Err(Error::Refused {
            status,
            headers: Box::new(headers),
            body,
        });
    }
    let deflate = accepted(&headers, &key, &offered, compression)?;
    Ok(Upgraded {
        headers,
        leftover,
        deflate,
    })
}

/// The head of the server's response, from the bytes of it that have arrived: its status,
/// headers and length, or `None` while it is incomplete.
pub(crate) fn response_head(
    buffer: &[u8],
) -> Result<Option<(StatusCode, HeaderMap, usize)>, Error> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut storage);
    match response.parse(buffer) {
        // However it was split into reads: one large read may bring a whole head over the limit.
        Ok(httparse::Status::Complete(head_len)) if head_len > MAX_RESPONSE_HEAD => {
            Err(handshake("response head too large"))
        }
        Ok(httparse::Status::Complete(head_len)) => {
            let status = StatusCode::from_u16(response.code.unwrap_or_default())
                .map_err(|_| handshake("invalid status code"))?;
            let headers = header_map(&SharedHead::new(&buffer[..head_len]), response.headers)
                .ok_or_else(|| handshake("an invalid header in the response"))?;
            Ok(Some((status, headers, head_len)))
        }
        Ok(httparse::Status::Partial) if buffer.len() < MAX_RESPONSE_HEAD => Ok(None),
        Ok(httparse::Status::Partial) => Err(handshake("response head too large")),
        Err(error) => Err(ProtocolError::UnreadableResponse(Box::new(error)).into()),
    }
}

/// Checks a `101` response's `headers` to a request made with `key`, offering the subprotocols
/// `offered` and permessage-deflate under `compression` (if given): the permessage-deflate
/// parameters the server agreed to, if it did.
pub(crate) fn accepted(
    headers: &HeaderMap,
    key: &str,
    offered: &[&str],
    compression: Option<&DeflateConfig>,
) -> Result<Option<Negotiated>, Error> {
    check(headers, key, offered)?;
    let extensions = headers
        .get_all(http::header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|value| value.to_str().map_err(|_| DeflateError::InvalidParameters));
    match compression {
        Some(config) => {
            let values = extensions.collect::<Result<Vec<_>, _>>();
            values.and_then(|values| negotiation::client_accept(values, config))
        }
        None => extensions
            .map(|_| Err(DeflateError::NotOffered))
            .next()
            .unwrap_or(Ok(None)),
    }
    .map_err(|error| ProtocolError::InvalidExtension(Box::new(error)).into())
}

/// The request: `GET`, the upgrade headers and the caller's (a caller's `Host` replaces ours).
fn request(
    uri: &Uri,
    headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
    key: &str,
) -> Result<Vec<u8>, Error> {
    let host = uri.host().ok_or_else(|| UrlError::NoHost {
        url: uri.to_string(),
    })?;
    let target = uri.path_and_query().map_or("/", |target| target.as_str());
    let mut extra = Vec::new();
    let mut host_given = false;
    for (name, value) in headers {
        host_given |= name == http::header::HOST;
        extra.extend_from_slice(name.as_str().as_bytes());
        extra.extend_from_slice(b": ");
        extra.extend_from_slice(value.as_bytes());
        extra.extend_from_slice(b"\r\n");
    }
    let mut request = format!("GET {target} HTTP/1.1\r\n").into_bytes();
    if !host_given {
        match uri.port_u16() {
            Some(port) => request.extend_from_slice(format!("Host: {host}:{port}\r\n").as_bytes()),
            None => request.extend_from_slice(format!("Host: {host}\r\n").as_bytes()),
        }
    }
    request.extend_from_slice(
        format!(
            "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: {key}\r\n"
        )
        .as_bytes(),
    );
    request.extend_from_slice(&extra);
    request.extend_from_slice(b"\r\n");
    Ok(request)
}

/// The checks of RFC 6455 section 4.1 on a `101` response to a request that offered the
/// subprotocols `offered`.
fn check(headers: &HeaderMap, key: &str, offered: &[&str]) -> Result<(), Error> {
    if !has_token(headers, &UPGRADE, "websocket") {
        return Err(handshake("the response has no `Upgrade: websocket`"));
    }
    if !has_token(headers, &CONNECTION, "upgrade") {
        return Err(handshake("the response has no `Connection: upgrade`"));
    }
    let accept = headers.get(SEC_WEBSOCKET_ACCEPT).map(HeaderValue::as_bytes);
    if accept != Some(accept_key(key.as_bytes()).as_bytes()) {
        return Err(handshake("wrong or missing Sec-WebSocket-Accept"));
    }
    let mut chosen = headers.get_all(SEC_WEBSOCKET_PROTOCOL).iter();
    if let Some(protocol) = chosen.next() {
        let protocol = protocol.to_str().unwrap_or_default();
        if chosen.next().is_some() || !offered.contains(&protocol) {
            return Err(handshake(
                "the server chose a subprotocol that was not offered, or several",
            ));
        }
    }
    Ok(())
}

/// The body of a refusal, as far as `Content-Length` says and [`MAX_REFUSAL_BODY`] allows.
async fn refusal_body(
    headers: &HeaderMap,
    body: &mut Vec<u8>,
    transport: &mut Transport,
) -> Option<Vec<u8>> {
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.trim().parse::<usize>().ok());
    if let Some(length) = length {
        let length = length.min(MAX_REFUSAL_BODY);
        while body.len() < length {
            match transport.read_buf(body).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        body.truncate(length);
    }
    (!body.is_empty()).then(|| std::mem::take(body))
}

/// The headers httparse parsed from `head`, as a `HeaderMap` whose values are slices of the
/// head's one copy (see [`SharedHead`]), where a copy of each value took an allocation each.
/// `None` when a header is not valid HTTP.
pub(crate) fn header_map(
    head: &SharedHead<'_>,
    headers: &[httparse::Header<'_>],
) -> Option<HeaderMap> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for header in headers {
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        let value = HeaderValue::from_maybe_shared(head.share(header.value)).ok()?;
        map.append(name, value);
    }
    Some(map)
}

/// A parsed head and one copy of it, which the parts taken from it (header values, the
/// request target) share rather than copy.
pub(crate) struct SharedHead<'a> {
    /// The head as parsed: what httparse's slices point into.
    parsed: &'a [u8],
    copy: Bytes,
}

impl<'a> SharedHead<'a> {
    pub(crate) fn new(parsed: &'a [u8]) -> Self {
        SharedHead {
            parsed,
            copy: Bytes::copy_from_slice(parsed),
        }
    }

    /// The copy of the head.
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.copy
    }

    /// Where `part`, a slice of the parsed head, lies in it (and in the copy).
    pub(crate) fn range_of(&self, part: &[u8]) -> Option<std::ops::Range<usize>> {
        within(self.parsed, part)
    }

    /// `part` as bytes: a slice of the copy when `part` is a slice of the parsed head, a copy
    /// of its own otherwise.
    pub(crate) fn share(&self, part: &[u8]) -> Bytes {
        match within(self.parsed, part) {
            Some(range) => self.copy.slice(range),
            None => Bytes::copy_from_slice(part),
        }
    }
}

/// Where `part`, a slice of `whole`, lies in it.
fn within(whole: &[u8], part: &[u8]) -> Option<std::ops::Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(start..end)
}

/// Headers looked up by name, in the order they came: a `HeaderMap`, or a request's
/// [`Headers`](crate::server::headers::Headers).
pub(crate) trait HeaderValues {
    /// The values of every `name` header (names compared in any case).
    fn values<'h>(&'h self, name: &HeaderName) -> impl Iterator<Item = &'h [u8]>;
}

impl HeaderValues for HeaderMap {
    fn values<'h>(&'h self, name: &HeaderName) -> impl Iterator<Item = &'h [u8]> {
        self.get_all(name).iter().map(HeaderValue::as_bytes)
    }
}

/// A header value as text when it is visible ASCII (tabs allowed), as
/// `HeaderValue::to_str` gives it.
pub(crate) fn visible_ascii(value: &[u8]) -> Option<&str> {
    let visible = value
        .iter()
        .all(|&byte| (b' '..0x7F).contains(&byte) || byte == b'\t');
    visible.then(|| std::str::from_utf8(value).ok()).flatten()
}

/// Whether one of the comma-separated items of the `name` headers is `token` (any case).
pub(crate) fn has_token(headers: &impl HeaderValues, name: &HeaderName, token: &str) -> bool {
    headers.values(name).any(|value| {
        // Most values are the token alone; a list is split.
        value.eq_ignore_ascii_case(token.as_bytes())
            || visible_ascii(value).is_some_and(|value| {
                value
                    .split(',')
                    .any(|item| item.trim().eq_ignore_ascii_case(token))
            })
    })
}

fn handshake(what: &'static str) -> Error {
    ProtocolError::InvalidResponse(what).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value read as text where httparse left it is the text `HeaderValue::to_str` gives.
    #[test]
    fn a_value_is_text_when_to_str_says_so() {
        let mut values: Vec<Vec<u8>> = (0..=u8::MAX).map(|byte| vec![b'a', byte, b'b']).collect();
        values.push("é".into());
        for value in values {
            let as_header = HeaderValue::from_bytes(&value).ok();
            let to_str = as_header.as_ref().and_then(|value| value.to_str().ok());
            assert_eq!(visible_ascii(&value), to_str, "{value:?}");
        }
    }

    #[test]
    fn a_token_is_found_alone_or_in_a_list_in_any_case() {
        let with = |values: &[&[u8]]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(CONNECTION, HeaderValue::from_bytes(value).unwrap());
            }
            has_token(&headers, &CONNECTION, "upgrade")
        };
        assert!(with(&[b"Upgrade"]));
        assert!(with(&[b"keep-alive, UPGRADE"]));
        assert!(with(&[b"keep-alive", b"upgrade ,close"]));
        assert!(!with(&[]));
        assert!(!with(&[b"keep-alive"]));
        assert!(!with(&[b"upgrades, not-upgrade"]));
        assert!(!with(&[b"upgr\xc3\xa4de, keep-alive"]));
    }

    #[test]
    fn header_values_share_one_copy_of_the_head() {
        let head = b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Two: b, c\r\n\r\n";
        let mut storage = [httparse::EMPTY_HEADER; 4];
        let mut request = httparse::Request::new(&mut storage);
        assert!(request.parse(head).unwrap().is_complete());
        let map = header_map(&SharedHead::new(head), request.headers).unwrap();
        let (host, two) = (&map["host"], &map["x-two"]);
        assert_eq!(
            (host.as_bytes(), two.as_bytes()),
            (&b"example.com"[..], &b"b, c"[..])
        );
        let at = |value: &[u8]| value.as_ptr() as usize;
        let in_head = at(request.headers[1].value) - at(request.headers[0].value);
        assert_eq!(
            at(two.as_bytes()) - at(host.as_bytes()),
            in_head,
            "as far apart as in the head"
        );

        let elsewhere = [httparse::Header {
            name: "host",
            value: b"other.example",
        }];
        assert_eq!(
            header_map(&SharedHead::new(head), &elsewhere).unwrap()["host"],
            "other.example"
        );
        let invalid = [httparse::Header {
            name: "host",
            value: b"bad\x7f",
        }];
        assert!(header_map(&SharedHead::new(head), &invalid).is_none());
    }

    #[test]
    fn the_accept_key_of_rfc_6455() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ==").as_bytes(),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn the_request_names_host_port_target_and_the_callers_headers() {
        let uri: Uri = "ws://example.com:8080/chat?room=1".parse().unwrap();
        let origin = (
            HeaderName::from_static("origin"),
            HeaderValue::from_static("https://example.com"),
        );
        let request = String::from_utf8(request(&uri, [origin], "KEY").unwrap()).unwrap();
        assert!(request.starts_with("GET /chat?room=1 HTTP/1.1\r\nHost: example.com:8080\r\n"));
        assert!(request.contains("Sec-WebSocket-Key: KEY\r\n"));
        assert!(request.ends_with("origin: https://example.com\r\n\r\n"));
    }

    #[test]
    fn a_response_head_over_the_limit_is_refused_however_it_arrives() {
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nx-padding: {}\r\n\r\n",
            "p".repeat(MAX_RESPONSE_HEAD)
        );
        // Whole, in one read.
        assert!(matches!(
            response_head(head.as_bytes()),
            Err(Error::Protocol(_))
        ));
        // Arriving in pieces: refused once the incomplete head reaches the limit.
        let piece = &head.as_bytes()[..MAX_RESPONSE_HEAD];
        assert!(matches!(response_head(piece), Err(Error::Protocol(_))));
        let within = "HTTP/1.1 101 Switching Protocols\r\nx-padding: p\r\n\r\n";
        assert!(matches!(response_head(within.as_bytes()), Ok(Some(_))));
    }

    #[test]
    fn an_unparsable_response_keeps_the_parsers_error_as_its_source() {
        use std::error::Error as _;
        let Err(Error::Protocol(error)) = response_head(b"SSH-2.0-OpenSSH\r\n\r\n") else {
            panic!("expected a protocol error");
        };
        assert!(matches!(error, ProtocolError::UnreadableResponse(_)));
        let source = error.source().expect("the parser's error");
        assert!(
            source.downcast_ref::<httparse::Error>().is_some(),
            "{source}"
        );
    }

    /// A 101 that accepts `key`, with the given extra headers.
    fn switching(key: &str, extra: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("upgrade", HeaderValue::from_static("websocket"));
        headers.insert("connection", HeaderValue::from_static("Upgrade"));
        let accept = HeaderValue::from_bytes(accept_key(key.as_bytes()).as_bytes()).unwrap();
        headers.insert("sec-websocket-accept", accept);
        for (name, value) in extra {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_chosen_subprotocol_must_be_one_offered() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let chose = |protocol| switching(key, &[("sec-websocket-protocol", protocol)]);
        assert!(check(&switching(key, &[]), key, &["chat"]).is_ok());
        assert!(check(&chose("chat"), key, &["json", "chat"]).is_ok());
        for (response, offered) in [
            (chose("admin"), &["chat"][..]),
            (chose("chat"), &[][..]),
            (
                switching(
                    key,
                    &[
                        ("sec-websocket-protocol", "chat"),
                        ("sec-websocket-protocol", "json"),
                    ],
                ),
                &["chat", "json"][..],
            ),
        ] {
            let error = check(&response, key, offered).unwrap_err();
            assert!(error.to_string().contains("not offered"), "{error}");
        }
    }
}
