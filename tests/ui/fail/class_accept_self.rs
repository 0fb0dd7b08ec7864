use ws_routes::{route, Session};

#[derive(Default)]
struct Counter {
    name: String,
}

#[route("/counter/{name}")]
impl Counter {
    async fn accept(self, name: String) -> Self {
        Counter { name, ..self }
    }

    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(format!("{}: {text}", self.name)).await;
    }
}

fn main() {}
