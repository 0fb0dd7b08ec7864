//! What the tests of rooms share, on one server or across servers: a route whose connections
//! are members of a room, and joining it.

use std::net::SocketAddr;

use ws_routes::{Rooms, State, WebSocket, route};

use super::{connect, text};

/// Joins its room, says so, then relays every text of its client to the room's other members,
/// on every server sharing the rooms; `!all TEXT` goes to every member of every room, and
/// `!leave` leaves the room.
#[route("/room/{room}")]
pub async fn member(mut ws: WebSocket, room: String, State(rooms): State<Rooms>) {
    let me = ws.sender();
    rooms.join(&room, &me);
    if ws.send(format!("joined {room}")).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = ws.recv().await {
        let Some(text) = message.as_text() else {
            continue;
        };
        if let Some(text) = text.strip_prefix("!all ") {
            rooms.broadcast_all(text);
        } else if text == "!leave" {
            rooms.leave(&room, &me);
            let _ = me.send("left").await;
        } else {
            rooms.broadcast_except(&room, text, &me);
        }
    }
}

/// Connects to `path` on `addr`, a route that joins the room its last segment names, and reads
/// its `joined ROOM`.
pub async fn join(addr: SocketAddr, path: &str) -> WebSocket {
    let mut ws = connect(addr, path).await;
    let room = path.rsplit('/').next().unwrap_or_default();
    assert_eq!(text(&mut ws).await, format!("joined {room}"));
    ws
}
