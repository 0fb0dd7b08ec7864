//! `WsService::layer`: the route table in front of an axum app. WebSocket upgrades for its
//! routes are served by ws-routes; every other request reaches the app, which answers it as it
//! would without the layer (no 426, no 404 or 4040 of ours).

mod support;

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode as AxumStatus;
use axum::routing::get;
use ws_routes::http::StatusCode;
use ws_routes::{Error, Server, WebSocket, route, routes};

use support::{text, within};

#[route("/echo/{room}")]
async fn echo(mut ws: WebSocket, room: String) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws
            .send(format!("{room}: {}", message.as_text().unwrap_or_default()))
            .await
            .is_err()
        {
            break;
        }
    }
}

/// An axum app with `/health` and its own fallback, behind the WebSocket layer.
async fn app() -> SocketAddr {
    let websockets = Server::new(routes![echo]).into_service().unwrap();
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .fallback(|| async { (AxumStatus::NOT_FOUND, "the app's own 404") })
        .layer(websockets.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A bare HTTP/1.1 request: the status and the body.
async fn request(addr: SocketAddr, request: &str) -> (u16, String) {
    let response = support::raw::http(addr, request).await;
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

fn get_request(addr: SocketAddr, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n")
}

#[tokio::test]
async fn upgrades_for_a_route_are_served_by_the_layer() {
    let addr = app().await;
    let mut ws = support::connect(addr, "/echo/lobby").await;
    within(ws.send("hi")).await.unwrap();
    assert_eq!(text(&mut ws).await, "lobby: hi");
}

#[tokio::test]
async fn plain_requests_reach_the_app() {
    let addr = app().await;
    assert_eq!(
        request(addr, &get_request(addr, "/health")).await,
        (200, "ok".to_owned())
    );
    // The path of a WebSocket route, without an upgrade: the app's, not a 426.
    assert_eq!(
        request(addr, &get_request(addr, "/echo/lobby")).await,
        (404, "the app's own 404".to_owned())
    );
}

#[tokio::test]
async fn upgrades_for_other_paths_reach_the_app() {
    let addr = app().await;
    let refused = within(ws_routes::connect(&format!("ws://{addr}/nowhere"))).await;
    match refused {
        Err(Error::Refused { status, body, .. }) => {
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(body.as_deref(), Some(&b"the app's own 404"[..]));
        }
        Err(other) => panic!("expected the app's 404, got {other}"),
        Ok(_) => panic!("expected the app's 404, got a WebSocket"),
    }
}
