use ws_routes::{route, Json, Session};

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
