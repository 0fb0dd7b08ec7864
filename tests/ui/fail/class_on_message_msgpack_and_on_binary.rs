use serde::Deserialize;
use ws_routes::{route, Bytes, Session};
use ws_routes::codec::MsgPack;

#[derive(Deserialize)]
struct Event {
    text: String,
}

#[derive(Default)]
struct Chat;

#[route("/chat")]
impl Chat {
    async fn on_binary(&mut self, _session: &mut Session, _data: Bytes) {}

    async fn on_message(&mut self, _session: &mut Session, MsgPack(event): MsgPack<Event>) {
        let _ = event.text;
    }
}

fn main() {}
