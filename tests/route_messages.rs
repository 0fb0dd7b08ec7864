//! What a route's table entry says about its messages, as a program documenting its routes
//! reads it: untyped routes, and typed ones with their type's codec's content type.

use ws_routes::codec::{JsonError, MsgPack};
use ws_routes::routing::Messages;
use ws_routes::{Json, Routes, Session, WebSocket, route, routes};

#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct Move {
    x: i32,
    y: i32,
}

#[route("/echo")]
async fn echo(_ws: WebSocket) {}

#[derive(Default)]
struct Board;

#[route("/board")]
impl Board {
    async fn on_message(&mut self, _session: &mut Session, made: Result<Json<Move>, JsonError>) {
        let _ = made.map(|Json(made)| (made.x, made.y));
    }
}

#[derive(Default)]
struct PackedBoard;

#[route("/packed-board", sends = MsgPack<Move>)]
impl PackedBoard {
    async fn on_message(&mut self, _session: &mut Session, MsgPack(made): MsgPack<Move>) {
        let _ = (made.x, made.y);
    }
}

const TABLE: Routes = routes![echo, Board, PackedBoard];

/// The content type of `messages`, `None` when untyped.
fn content_type(messages: Messages) -> Option<&'static str> {
    match messages {
        Messages::Typed(ty) => Some(ty.content_type()),
        _ => None,
    }
}

#[test]
fn typed_routes_give_their_codecs_content_type() {
    let table: Vec<(&str, Option<&str>, Option<&str>)> = TABLE
        .iter()
        .map(|route| {
            (
                route.pattern(),
                content_type(route.receives()),
                content_type(route.sends()),
            )
        })
        .collect();
    assert_eq!(
        table,
        [
            ("/echo", None, None),
            ("/board", Some("application/json"), None),
            (
                "/packed-board",
                Some("application/vnd.msgpack"),
                Some("application/vnd.msgpack")
            ),
        ]
    );
}
