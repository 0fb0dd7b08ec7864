use ws_routes::{route, Session};

#[derive(Default)]
struct Echo {
    prefix: String,
}

#[route("/echo")]
impl Echo {
    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(self.reply(&text)).await;
    }

    fn reply(&self, text: &str) -> String {
        format!("{}{text}", self.prefix)
    }
}

fn main() {}
