use ws_routes::{route, Session};

#[derive(Default)]
struct Chat;

#[route("/chat")]
impl Chat {
    async fn on_message(&mut self, _session: &mut Session, text: String) {
        let _ = text;
    }
}

fn main() {}
