//! Static, parameter and catch-all routes; typed parameters; every built-in extractor; a
//! handler returning `Result<(), std::io::Error>`.

use std::net::SocketAddr;

use ws_routes::http::HeaderMap;
use ws_routes::{route, routes, Routes, WebSocket};
use ws_routes::extract::{Query, RoutePath};

#[route("/")]
async fn index(_ws: WebSocket) {}

#[route("/health")]
async fn health() {}

#[route("/users/{id}")]
async fn user(_ws: WebSocket, id: u32) {
    let _: u32 = id;
}

#[route("/files/{owner}/{*rest}")]
async fn file(_ws: WebSocket, owner: String, rest: std::path::PathBuf) {
    let _ = (owner, rest);
}

#[route("/rooms/{room}/messages")]
async fn messages(
    path: RoutePath,
    query: Query,
    peer: SocketAddr,
    headers: HeaderMap,
    room: u64,
    _ws: WebSocket,
) {
    let _ = (path, query, peer, headers, room);
}

#[route("/fallible/{n}")]
async fn fallible(mut ws: WebSocket, n: i64) -> Result<(), std::io::Error> {
    let _ = (&mut ws, n);
    Err(std::io::Error::other("nope"))
}

#[route("/kinds/{type}")]
async fn r#type(_ws: WebSocket, r#type: String) {
    let _ = r#type;
}

const ROUTES: Routes = routes![index, health, user, file, messages, fallible, r#type];

fn main() {
    assert_eq!(ROUTES.len(), 7);
    let patterns: Vec<_> = ROUTES.iter().map(|route| route.pattern()).collect();
    assert_eq!(
        patterns,
        [
            "/",
            "/health",
            "/users/{id}",
            "/files/{owner}/{*rest}",
            "/rooms/{room}/messages",
            "/fallible/{n}",
            "/kinds/{type}",
        ]
    );
    assert_eq!(ROUTES.iter().nth(2).unwrap().handler_name(), "user");
    assert_eq!(ROUTES.iter().nth(6).unwrap().handler_name(), "type");
}
