use ws_routes::{route, Session};

struct Counter {
    name: String,
}

#[route("/counter/{name}")]
impl Counter {
    async fn accept(name: String) -> Option<Self> {
        Some(Counter { name })
    }

    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(format!("{}: {text}", self.name)).await;
    }
}

fn main() {}
