//! Overlapping routes that precedence resolves are accepted in one table, in any order.

use ws_routes::{route, routes, Routes, WebSocket};
use ws_routes::routing::Segment;

#[route("/users/me")]
async fn me(_ws: WebSocket) {}

#[route("/users/{id}")]
async fn user(_ws: WebSocket, id: u64) {
    let _ = id;
}

#[route("/files/{x}")]
async fn file(_ws: WebSocket, x: String) {
    let _ = x;
}

#[route("/files/{*rest}")]
async fn files(_ws: WebSocket, rest: String) {
    let _ = rest;
}

#[route("/files/{x}/")]
async fn folder(_ws: WebSocket, x: String) {
    let _ = x;
}

const ROUTES: Routes = routes![me, user, files, file, folder];

// An empty table, and a trailing comma.
const EMPTY: Routes = routes![];
const TRAILING: Routes = routes![me, user,];

fn main() {
    assert_eq!(ROUTES.len(), 5);
    assert!(EMPTY.is_empty());
    assert_eq!(TRAILING.len(), 2);
    let files = ROUTES.iter().nth(2).unwrap();
    assert_eq!(files.segments(), [Segment::Static("files"), Segment::CatchAll("rest")]);
    assert_eq!(
        ROUTES.iter().nth(4).unwrap().segments(),
        [Segment::Static("files"), Segment::Param("x"), Segment::Static("")]
    );
    // The same table, built in an expression rather than a const.
    let table = routes![user, me];
    assert_eq!(table.iter().next().unwrap().pattern(), "/users/{id}");
}
