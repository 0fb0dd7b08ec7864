use ws_routes::{route, Session};

struct Counter {
    name: String,
}

impl Counter {
    fn new() -> Self {
        Counter { name: String::new() }
    }
}

#[route("/counter/{name}", init = Counter::new)]
impl Counter {
    async fn accept(name: String) -> Self {
        Counter { name }
    }

    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(format!("{}: {text}", self.name)).await;
    }
}

fn main() {}
