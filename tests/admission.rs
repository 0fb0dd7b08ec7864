//! Who is let in, over real sockets: the per-address connection limit gives a place back when
//! a connection closes and never lets one address past it, and a malformed origin pattern is
//! refused when the server binds.

mod support;

use std::net::SocketAddr;

use ws_routes::http::StatusCode;
use ws_routes::{Error, Server, ServerHandle, WebSocket, route, routes};

use support::{ask, connect, until_closed, wait_for};

#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
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
