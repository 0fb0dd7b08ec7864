//! The README's first example, run exactly as written: a client that pings and waits past
//! several keepalive intervals gets no stray reply, and each message gets one answer.

mod support;

use std::time::Duration;

use ws_routes::{Server, WebSocket, route, routes};

use support::{ask, connect, spawn_server};

// From here to the end of `light`: the README's first example, verbatim (checked below).
#[route("/light/{status}")]
async fn light(mut ws: WebSocket, status: String) {
    while let Some(Ok(_address)) = ws.recv().await {
        let reply = match status.as_str() {
            "on" => "the light has turned on",
            "off" => "the light has turned off",
            _ => "invalid params",
        };
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

#[test]
fn the_readme_shows_this_handler() {
    let source = include_str!("readme.rs");
    let start = source.find("#[route(\"/light/{status}\")]").unwrap();
    let end = start + source[start..].find("\n}\n").unwrap() + 2;
    let handler = &source[start..end];
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(handler),
        "the README's first example differs from this test's handler:\n{handler}"
    );
}

#[tokio::test]
async fn pings_and_keepalive_never_reach_the_handler() {
    let server =
        Server::new(routes![light]).keepalive(Duration::from_millis(20), Duration::from_secs(5));
    let addr = spawn_server(server).await;
    // The server does ping this route: a connection by hand sees the keepalive ping.
    let mut raw = support::raw::upgrade(addr, "/light/on").await;
    assert_eq!(support::raw::read_frame(&mut raw).await.0, 0x9, "a ping");
    let mut ws = connect(addr, "/light/on").await;
    ws.ping("are you there?").await.unwrap();
    // Ten keepalive intervals, the client's ping and the pongs: none of it is a message, so
    // the handler sends nothing.
    let quiet = tokio::time::timeout(Duration::from_millis(200), ws.recv()).await;
    assert!(quiet.is_err(), "a stray message arrived: {quiet:?}");
    assert_eq!(ask(&mut ws, "00-12-4b-01").await, "the light has turned on");
    let quiet = tokio::time::timeout(Duration::from_millis(100), ws.recv()).await;
    assert!(quiet.is_err(), "a second reply arrived: {quiet:?}");
}
