use ws_routes::{route, Session};

#[derive(Default)]
struct Echo;

#[route("/x", foo = bar)]
impl Echo {
    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(text).await;
    }
}

fn main() {}
