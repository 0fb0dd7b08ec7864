//! Who is let in, over real sockets: the per-address connection limit gives a place back when
//! a connection closes and never lets one address past it, a malformed origin pattern is
//! refused when the server binds, a refused origin is logged without flooding the log, and a
//! request that is not a proper upgrade is told why, in a response whose framing the server
//! sets.

mod support;

use std::net::SocketAddr;

use ws_routes::http::StatusCode;
use ws_routes::server::ServerHandle;
use ws_routes::{Client, Error, Reject, Request, Server, WebSocket, route, routes};

use support::log::Log;
use support::{ask, connect, raw, until_closed, wait_for};

#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// Refuses every upgrade with 401, setting its own `Content-Length` and `Connection` headers
/// (which the server must replace with its own) next to a `WWW-Authenticate`.
struct Framed;

#[route("/framed")]
impl Framed {
    async fn accept(_request: &Request) -> Result<Self, Reject> {
        Err(Reject::new(StatusCode::UNAUTHORIZED)
            .header("content-length", "999")
            .header("connection", "keep-alive")
            .header("www-authenticate", "Token")
            .body("who are you?\n"))
    }
}

/// Serves `/echo` with `server`'s settings on a free port; returns the address and the handle
/// that counts the open connections.
async fn start(server: Server) -> (SocketAddr, ServerHandle) {
    let listening = server.bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let (addr, handle) = (listening.local_addr().unwrap(), listening.handle());
    tokio::spawn(listening.run());
    (addr, handle)
}

/// Opens one more connection from this address and checks it answers.
async fn admitted(addr: SocketAddr) -> WebSocket {
    let mut ws = connect(addr, "/echo").await;
    assert_eq!(ask(&mut ws, "in").await, "in");
    ws
}

/// Checks that one more connection from this address is refused with 429.
async fn refused(addr: SocketAddr) {
    match ws_routes::connect(&format!("ws://{addr}/echo")).await {
        Err(Error::Refused { status, .. }) => assert_eq!(status, StatusCode::TOO_MANY_REQUESTS),
        other => panic!("expected 429 Too Many Requests, got {other:?}"),
    }
}

/// Closes `ws` and waits until the server has let go of it: `open` connections remain.
async fn leave(mut ws: WebSocket, handle: &ServerHandle, open: usize) {
    ws.close(1000u16, "").await.unwrap();
    assert_eq!(until_closed(&mut ws).await, Some((1000, String::new())));
    wait_for(|| handle.connections() == open).await;
}

#[tokio::test]
async fn with_a_per_ip_limit_of_one_the_place_comes_back_each_time() {
    let (addr, handle) = start(Server::new(routes![echo]).max_connections_per_ip(1)).await;
    for _ in 0..3 {
        let ws = admitted(addr).await;
        refused(addr).await;
        leave(ws, &handle, 0).await;
    }
    let _last = admitted(addr).await;
    refused(addr).await;
}

#[tokio::test]
async fn with_a_per_ip_limit_of_two_a_freed_place_admits_one_and_no_more() {
    let (addr, handle) = start(Server::new(routes![echo]).max_connections_per_ip(2)).await;
    let first = admitted(addr).await;
    let mut second = admitted(addr).await;
    refused(addr).await;

    // One leaves while the other stays: exactly one place comes back.
    leave(first, &handle, 1).await;
    let third = admitted(addr).await;
    refused(addr).await;
    assert_eq!(ask(&mut second, "still here").await, "still here");

    // Both leave: two places come back, and the limit still holds after them.
    leave(second, &handle, 1).await;
    leave(third, &handle, 0).await;
    let _fourth = admitted(addr).await;
    let _fifth = admitted(addr).await;
    refused(addr).await;
}

#[tokio::test]
async fn an_origin_pattern_with_an_empty_or_invalid_scheme_fails_bind() {
    for pattern in [
        "://x.com",
        "ht tp://x",
        "http_s://x.com",
        "https://",
        "https://x.com:99999",
    ] {
        let error = Server::new(routes![echo])
            .allowed_origins(["https://app.example.com", pattern])
            .bind("127.0.0.1:0")
            .await
            .expect_err(pattern);
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{pattern}");
        assert!(error.to_string().contains(pattern), "{error}");
    }
    // The patterns a server was given show in its debug output as they were written.
    let server = Server::new(routes![echo]).allowed_origins([
        "https://App.example.com",
        "https://*.example.org",
        "http://localhost:*",
        "http://localhost:8080",
    ]);
    let printed = format!("{server:?}");
    for pattern in [
        "https://app.example.com,",
        "https://*.example.org,",
        "http://localhost:*,",
        "http://localhost:8080]",
    ] {
        assert!(printed.contains(pattern), "{pattern} in {printed}");
    }
    // The schemes a browser sends, and any other well-formed one, are accepted.
    for pattern in [
        "https://x.com",
        "HTTP://x.com",
        "chrome-extension://abcdef",
        "app+v1.2://x",
    ] {
        let bound = Server::new(routes![echo])
            .allowed_origins([pattern])
            .bind("127.0.0.1:0")
            .await;
        assert!(bound.is_ok(), "{pattern}: {:?}", bound.err());
    }
}

/// A request for `/echo` with `headers` between its request line and the WebSocket headers
/// every upgrade carries (version and key), `padding` bytes of an extra header included.
fn request(headers: &str, padding: usize) -> String {
    let padding = if padding == 0 {
        String::new()
    } else {
        format!("X-Padding: {}\r\n", "p".repeat(padding))
    };
    format!(
        "GET /echo HTTP/1.1\r\nHost: x\r\n{headers}{padding}Sec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

#[tokio::test]
async fn an_upgrade_needs_both_the_upgrade_and_the_connection_header() {
    let (addr, _) = start(Server::new(routes![echo])).await;
    for headers in [
        "Connection: Upgrade\r\n",
        "Upgrade: websocket\r\n",
        "Upgrade: websocket\r\nConnection: keep-alive\r\n",
        "Upgrade: h2c\r\nConnection: Upgrade\r\n",
    ] {
        let answer = raw::http(addr, &request(headers, 0)).await;
        assert!(
            answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{headers:?}: {answer}"
        );
    }
    raw::upgrade_with(
        addr,
        &request("Upgrade: websocket\r\nConnection: Upgrade\r\n", 0),
    )
    .await;
}

#[tokio::test]
async fn a_refused_request_target_says_why() {
    let (addr, _) = start(Server::new(routes![echo])).await;
    for (target, why) in [
        (
            "/echo/../echo",
            "`.` and `..` path segments are not allowed\n",
        ),
        ("/echo/%2E", "`.` and `..` path segments are not allowed\n"),
        ("*", "malformed request target\n"),
        ("/echo#top", "malformed request target\n"),
    ] {
        let answer = raw::http(addr, &raw::upgrade_request(target)).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{target}: {answer}"
        );
        assert!(
            answer.ends_with(&format!("\r\n\r\n{why}")),
            "{target}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_request_head_past_max_request_head_gets_431() {
    // Not a power of two: the head's buffer grows by doubling up to the limit, no further.
    let limit = 5000;
    let (addr, _) = start(Server::new(routes![echo]).max_request_head(limit)).await;
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    let fits = request(upgrade, 4700);
    assert!(fits.len() <= limit, "{}", fits.len());
    raw::upgrade_with(addr, &fits).await;
    let past = request(upgrade, 5200);
    assert!(
        past.len() > limit && past.len() < 2 * 4096,
        "{}",
        past.len()
    );
    let answer = raw::http(addr, &past).await;
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_refusal_is_framed_by_the_server_whatever_headers_it_sets() {
    let (addr, _) = start(Server::new(routes![echo, Framed])).await;
    let answer = raw::http(addr, &raw::upgrade_request("/framed")).await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(lines[0], "HTTP/1.1 401 Unauthorized");
    let named = |name: &str| -> Vec<&str> {
        lines
            .iter()
            .filter_map(|line| line.split_once(": "))
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
            .collect()
    };
    assert_eq!(named("content-length"), ["13"], "{head}");
    assert_eq!(named("connection"), ["close"], "{head}");
    assert_eq!(named("www-authenticate"), ["Token"], "{head}");
    assert_eq!(body, "who are you?\n");
}

#[tokio::test]
async fn a_refused_origin_is_logged_cut_to_64_bytes() {
    let (log, _guard) = Log::capture_here();
    let (addr, _) =
        start(Server::new(routes![echo]).allowed_origins(["https://app.example.com"])).await;
    let url = format!("ws://{addr}/echo");
    let long = format!("https://{}.example.net", "a".repeat(100));
    for (origin, logged) in [
        (long.as_str(), &long[..64]),
        ("https://evil.example.net", "https://evil.example.net"),
    ] {
        match Client::new().header("origin", origin).connect(&url).await {
            Err(Error::Refused { status, .. }) => assert_eq!(status, StatusCode::FORBIDDEN),
            other => panic!("{origin}: expected 403, got {other:?}"),
        }
        let text = log.text();
        let line = text
            .lines()
            .rfind(|line| line.contains("origin not allowed"))
            .unwrap_or_else(|| panic!("no log line for {origin}: {text}"));
        assert!(line.contains(&format!("origin=\"{logged}\"")), "{line}");
    }
}
