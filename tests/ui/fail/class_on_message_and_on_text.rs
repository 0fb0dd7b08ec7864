use serde::Deserialize;
use ws_routes::{route, Json, Session};

#[derive(Deserialize, schemars::JsonSchema)]
struct Event {
    text: String,
}

#[derive(Default)]
struct Chat;

#[route("/chat")]
impl Chat {
    async fn on_text(&mut self, _session: &mut Session, _text: String) {}

    async fn on_message(&mut self, _session: &mut Session, Json(event): Json<Event>) {
        let _ = event.text;
    }
}

fn main() {}
