use ws_routes::{route, Session};

#[derive(Default)]
struct Echo;

#[route("/echo")]
impl Echo {
    async fn on_text(&self, session: &mut Session, text: String) {
        let _ = session.send(text).await;
    }
}

fn main() {}
