//! With the `asyncapi` feature, a typed message must have a JSON Schema to be documented.

use ws_routes::{route, Json, Session};

#[derive(serde::Deserialize)]
struct Event {
    text: String,
}

#[derive(Default)]
struct Chat;

#[route("/chat")]
impl Chat {
    async fn on_message(&mut self, _session: &mut Session, Json(event): Json<Event>) {
        let _ = event.text;
    }
}

fn main() {}
