//! `on_message` decodes with the codec its argument names: `MsgPack<T>` reads binary
//! messages, so `on_text` may take the text ones; `Json<T>` reads text, so `on_binary` may take
//! the binary ones. `receives` and `sends` name a codec with its wrapper (a bare type is JSON).

use serde::{Deserialize, Serialize};
use ws_routes::codec::{CodecError, MsgPackCodec};
use ws_routes::{route, routes, Bytes, Json, Routes, Session, WebSocket};
use ws_routes::codec::MsgPack;
use ws_routes::routing::Messages;

#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Event {
    Join { name: String },
    Say { text: String },
}

#[derive(Default)]
struct Binary;

#[route("/binary", sends = MsgPack<Event>)]
impl Binary {
    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(text).await;
    }

    async fn on_message(&mut self, session: &mut Session, event: Result<MsgPack<Event>, CodecError>) {
        if let Ok(MsgPack(event)) = event {
            let _ = session.send_as::<MsgPackCodec>(&event).await;
        }
    }
}

#[derive(Default)]
struct Text;

#[route("/text")]
impl Text {
    async fn on_binary(&mut self, session: &mut Session, data: Bytes) {
        let _ = session.send(data).await;
    }

    async fn on_message(&mut self, session: &mut Session, Json(event): Json<Event>) {
        let _ = session.send_json(&event).await;
    }
}

#[route("/function", receives = MsgPack<Event>, sends = Json<Event>)]
async fn function(mut ws: WebSocket) {
    while let Some(Ok(event)) = ws.recv_as::<MsgPackCodec, Event>().await {
        let _ = ws.send_json(&event).await;
    }
}

const ROUTES: Routes = routes![Binary, Text, function];

fn main() {
    let content_types = |messages: Messages| match messages {
        Messages::Typed(ty) => ty.content_type(),
        _ => "untyped",
    };
    let described: Vec<(&str, &str)> = ROUTES
        .iter()
        .map(|route| (content_types(route.receives()), content_types(route.sends())))
        .collect();
    assert_eq!(
        described,
        [
            ("application/vnd.msgpack", "application/vnd.msgpack"),
            ("application/json", "untyped"),
            ("application/vnd.msgpack", "application/json"),
        ]
    );
}
