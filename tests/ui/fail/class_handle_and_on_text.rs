use ws_routes::{route, Session, WebSocket};

#[derive(Default)]
struct Both;

#[route("/both")]
impl Both {
    async fn handle(self, ws: WebSocket) {
        let _ = ws;
    }

    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(text).await;
    }
}

fn main() {}
