//! An `accept` hook whose error type does not convert into `Reject`.

use ws_routes::{route, Session};

struct Counter {
    name: String,
}

#[route("/counter/{name}")]
impl Counter {
    async fn accept(name: String) -> Result<Self, String> {
        if name.is_empty() {
            return Err("a name is required".to_owned());
        }
        Ok(Counter { name })
    }

    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(format!("{}: {text}", self.name)).await;
    }
}

fn main() {}
