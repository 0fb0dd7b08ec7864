//! The server's handshake request parser (the request head as the standalone server reads it,
//! then its upgrade checks), on requests built from parts or raw bytes, arriving in arbitrary
//! pieces. Never a panic; the same head or the same refusal whatever the pieces; the bytes kept
//! after the head are exactly those the socket delivered past it, within the size limit, and
//! the head alone parses the same; an accepted upgrade is a GET over HTTP/1.1 with one key,
//! answered as RFC 6455 section 1.3 says, and any permessage-deflate it agrees to keeps within
//! the server's settings. The checks give the same answer on the headers looked up where they
//! were parsed as on the `HeaderMap` made of them (what a mounted route table checks).

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use ws_routes::__private::{RequestHead, read_request_head, upgrade};
use ws_routes::http::Method;
use ws_routes_fuzz::{ACCEPT, Head, KEY, Settings, Socket, now};

#[derive(Debug, Arbitrary)]
struct Input {
    request: Request,
    limit: u16,
    pieces: Vec<u8>,
    settings: Settings,
}

#[derive(Debug, Arbitrary)]
enum Request {
    Raw(Vec<u8>),
    Built(Built),
}

/// An upgrade request from parts.
#[derive(Debug, Arbitrary)]
struct Built {
    /// `GET` when absent.
    method: Option<String>,
    target: String,
    /// `HTTP/1.1` when absent.
    version: Option<String>,
    /// The RFC's sample key when absent.
    key: Option<String>,
    /// Its standard lines are `Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Version` and
    /// `Sec-WebSocket-Key`.
    head: Head,
}

impl Built {
    fn bytes(&self) -> Vec<u8> {
        let method = self.method.as_deref().unwrap_or("GET");
        let version = self.version.as_deref().unwrap_or("HTTP/1.1");
        let key = format!("Sec-WebSocket-Key: {}", self.key.as_deref().unwrap_or(KEY));
        let standard = [
            "Host: example.com",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Version: 13",
            &key,
        ];
        let start = format!("{method} {} {version}", self.target);
        self.head.bytes(&start, &standard)
    }
}

/// The two heads say the same (what came after them aside).
fn assert_same(a: &RequestHead, b: &RequestHead) {
    assert_eq!(a.method, b.method);
    assert_eq!(a.version, b.version);
    assert_eq!(a.uri, b.uri);
    assert_eq!(a.headers, b.headers);
}

fuzz_target!(|input: Input| {
    let data = match &input.request {
        Request::Raw(bytes) => bytes.clone(),
        Request::Built(built) => built.bytes(),
    };
    let limit = usize::from(input.limit % 2048);
    let compression = input.settings.compression();
    let whole = now(read_request_head(&mut Socket::new(&data, &[]), limit));
    if let Ok(whole) = &whole {
        // Before anything makes the `HeaderMap` that `whole` keeps, which lookups then use.
        let parsed = upgrade(whole, &compression);
        let mounted = RequestHead {
            method: whole.method.clone(),
            version: whole.version,
            uri: whole.uri.clone(),
            headers: whole.headers.map().clone().into(),
            leftover: Vec::new(),
        };
        assert_eq!(
            parsed,
            upgrade(&mounted, &compression),
            "parsed and mounted differ"
        );
    }
    let mut socket = Socket::new(&data, &input.pieces);
    let head = match (whole, now(read_request_head(&mut socket, limit))) {
        (Ok(whole), Ok(head)) => {
            assert_same(&whole, &head);
            head
        }
        (Err(whole), Err(refused)) => {
            assert_eq!(whole, refused, "the pieces changed the refusal");
            if let Some(status) = refused {
                assert!(matches!(status.as_u16(), 400 | 431), "{status}");
            }
            return;
        }
        (whole, head) => panic!("the pieces changed the outcome: {whole:?} then {head:?}"),
    };
    let end = socket.delivered;
    let start = end - head.leftover.len();
    assert_eq!(head.leftover, data[start..end]);
    assert!(
        start <= limit,
        "a head of {start} bytes passed a limit of {limit}"
    );
    let alone = now(read_request_head(
        &mut Socket::new(&data[..start], &[]),
        limit,
    ))
    .expect("the head alone parses");
    assert_same(&alone, &head);
    assert!(alone.leftover.is_empty());

    match upgrade(&head, &compression) {
        Err(status) => assert!(matches!(status.as_u16(), 400 | 405 | 426), "{status}"),
        Ok((accept, deflate)) => {
            assert_eq!(head.method, Method::GET);
            assert_eq!(head.version, 1);
            let keys: Vec<_> = head
                .headers
                .map()
                .get_all("sec-websocket-key")
                .iter()
                .collect();
            assert_eq!(keys.len(), 1);
            if keys[0] == KEY {
                assert_eq!(accept, ACCEPT);
            }
            if let Some((agreed, value)) = deflate {
                assert!(input.settings.enabled);
                input.settings.check(&agreed, false);
                assert!(value.to_str().is_ok());
            }
        }
    }
});
