use ws_routes::{route, Session};

struct Echo {
    prefix: String,
}

#[route("/echo")]
impl Echo {
    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(format!("{}{text}", self.prefix)).await;
    }
}

fn main() {}
