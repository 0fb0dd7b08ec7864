//! Who may connect: allowed origins, a handshake as strict as Python's, subprotocols per
//! route, hooks that read the headers and the peer address.

mod support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_routes::Client;
use ws_routes::http::StatusCode;

use support::hardening::{Received, refused_status, server, start};
use support::raw;
use support::{ask, connect, text, within};

#[tokio::test]
async fn only_allowed_origins_may_connect() {
    let origins = ["https://app.example.com", "https://*.example.org"];
    let (addr, _, _) = start(server().allowed_origins(origins)).await;
    let url = format!("ws://{addr}/echo");
    for origin in [
        "https://evil.example.net",
        "https://example.org",
        "https://evilexample.org",
        "null",
    ] {
        let refused = Client::new().header("origin", origin).connect(&url).await;
        assert_eq!(
            refused_status(refused).await,
            StatusCode::FORBIDDEN,
            "{origin}"
        );
    }
    for origin in ["https://app.example.com", "https://eu.example.org"] {
        let mut ws = Client::new()
            .header("origin", origin)
            .connect(&url)
            .await
            .unwrap();
        assert_eq!(ask(&mut ws, origin).await, origin);
    }
    // Without an Origin (a program, not a page), refused unless the server allows it.
    assert_eq!(
        refused_status(ws_routes::connect(&url).await).await,
        StatusCode::FORBIDDEN
    );
    let lenient = server().allowed_origins(origins).allow_missing_origin(true);
    let (addr, _, _) = start(lenient).await;
    let mut program = ws_routes::connect(&format!("ws://{addr}/echo"))
        .await
        .expect("no Origin: allowed");
    assert_eq!(ask(&mut program, "hi").await, "hi");
}

#[tokio::test]
async fn debug_output_hides_credentials_and_the_query_string() {
    let (addr, _, _) = start(server()).await;
    let mut ws = Client::new()
        .header("authorization", "Bearer s3cr3t-t0ken")
        .header("cookie", "session=c00kie")
        .header("user-agent", "test-agent")
        .connect(&format!("ws://{addr}/printed/ada?token=qu3ry-t0ken"))
        .await
        .unwrap();
    let printed = text(&mut ws).await;
    for secret in ["s3cr3t-t0ken", "c00kie", "qu3ry-t0ken"] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
    assert!(printed.contains("test-agent"), "{printed}");
    assert!(printed.contains("/printed/ada"), "{printed}");
}

#[tokio::test]
async fn a_malformed_origin_pattern_fails_bind_naming_it() {
    for pattern in ["*example.com", "https://example.com/app", "example.com"] {
        let error = server()
            .with_state(Received::default())
            .allowed_origins([pattern])
            .bind("127.0.0.1:0")
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains(pattern), "{error}");
    }
}

#[tokio::test]
async fn a_handshake_must_be_as_strict_as_pythons() {
    let (addr, _, _) = start(server()).await;
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
    let cases = [
        (
            "a key of 15 bytes",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n\r\n"
            ),
        ),
        (
            "a key that is not base64",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n\r\n"
            ),
        ),
        (
            "two keys",
            format!("GET /echo HTTP/1.1\r\nHost: x\r\n{upgrade}{key}{key}\r\n"),
        ),
        (
            "two versions",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Version: 13\r\n{key}\r\n"
            ),
        ),
        (
            "two origins",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://a\r\nOrigin: https://b\r\n{upgrade}{key}\r\n"
            ),
        ),
        (
            "HTTP/1.0",
            format!("GET /echo HTTP/1.0\r\nHost: x\r\n{upgrade}{key}\r\n"),
        ),
        (
            "no Host",
            format!("GET /echo HTTP/1.1\r\n{upgrade}{key}\r\n"),
        ),
        (
            "a body",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n{upgrade}{key}\r\nhello"
            ),
        ),
        (
            "a chunked body",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n{upgrade}{key}\r\n0\r\n\r\n"
            ),
        ),
    ];
    for (what, request) in cases {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within ten seconds"))
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400 "), "{what}: {answer}");
    }
    // The same request done right is upgraded.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw::upgrade_request("/echo").as_bytes())
        .await
        .unwrap();
    let mut status = [0; 12];
    within(tcp.read_exact(&mut status)).await.unwrap();
    assert_eq!(&status, b"HTTP/1.1 101");
}

#[tokio::test]
async fn subprotocols_are_negotiated_per_route() {
    let (addr, _, _) = start(server()).await;
    let url = format!("ws://{addr}/chat");
    let mut ws = Client::new()
        .protocols(["chat.v1"])
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v1"));
    assert_eq!(text(&mut ws).await, "chat.v1");
    let mut ws = Client::new()
        .protocols(["chat.v1", "chat.v2"])
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(
        text(&mut ws).await,
        "chat.v2",
        "the server's preference wins"
    );
    for offered in [vec!["chat.v3"], vec![]] {
        let refused = Client::new().protocols(offered.clone()).connect(&url).await;
        assert_eq!(
            refused_status(refused).await,
            StatusCode::BAD_REQUEST,
            "{offered:?}"
        );
    }
    let mut ws = connect(addr, "/maybe").await;
    assert_eq!(
        text(&mut ws).await,
        "none",
        "optional protocols: the handshake goes on without"
    );
}

#[tokio::test]
async fn hooks_see_the_headers_and_the_peer_address() {
    let (addr, _, _) = start(server()).await;
    let url = format!("ws://{addr}/guarded");
    assert_eq!(
        refused_status(ws_routes::connect(&url).await).await,
        StatusCode::UNAUTHORIZED
    );
    let mut ws = Client::new()
        .header("authorization", "Bearer let-me-in")
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(text(&mut ws).await, "welcome from 127.0.0.1");
}
