//! Plain HTTP on the WebSocket port: the fallback serves pages, the WebSockets still open,
//! and without a fallback the answer stays 426.

mod support;

use ws_routes::http::{Request, Response, StatusCode};
use ws_routes::server::Pages;
use ws_routes::{Bytes, Server, WebSocket, route, routes};

use support::{connect, raw, spawn_server, text};

#[route("/ws")]
async fn hello(mut ws: WebSocket) {
    let _ = ws.send("hello").await;
}

const PAGE: &str = "<!doctype html><title>page</title>";

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n")
}

#[tokio::test]
async fn pages_and_websockets_share_one_port() {
    let pages = Pages::new()
        .page("/", "text/html; charset=utf-8", PAGE)
        .page("/app.js", "text/javascript", "console.log(1)");
    let addr = spawn_server(Server::new(routes![hello]).fallback(pages)).await;

    let page = raw::http(addr, &get("/?room=x")).await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("content-type: text/html; charset=utf-8\r\n"));
    assert!(page.contains(&format!("content-length: {}\r\n", PAGE.len())));
    assert!(page.contains("connection: close\r\n"));
    assert!(page.ends_with(&format!("\r\n\r\n{PAGE}")));
    assert!(
        raw::http(addr, &get("/app.js"))
            .await
            .ends_with("console.log(1)")
    );

    let missing = raw::http(addr, &get("/nothing")).await;
    assert!(
        missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{missing}"
    );
    let post = raw::http(addr, "POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    assert!(post.contains("allow: GET, HEAD\r\n"));
    let head = raw::http(addr, "HEAD / HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(head.ends_with("\r\n\r\n"), "no body for HEAD: {head}");

    let mut ws = connect(addr, "/ws").await;
    assert_eq!(text(&mut ws).await, "hello");
}

#[tokio::test]
async fn a_closure_is_a_fallback_too() {
    let fallback = |request: &Request<()>| {
        let mut response = Response::new(Bytes::from(format!(
            "{} {}",
            request.method(),
            request.uri().path()
        )));
        *response.status_mut() = StatusCode::IM_A_TEAPOT;
        response
    };
    let addr = spawn_server(Server::new(routes![hello]).fallback(fallback)).await;
    let response = raw::http(addr, &get("/tea")).await;
    assert!(response.starts_with("HTTP/1.1 418 "), "{response}");
    assert!(response.ends_with("GET /tea"));
}

#[tokio::test]
async fn without_a_fallback_plain_http_still_gets_426() {
    let addr = spawn_server(Server::new(routes![hello])).await;
    let response = raw::http(addr, &get("/")).await;
    assert!(
        response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{response}"
    );
}
