use ws_routes::{route, Session};

#[derive(Default)]
struct Echo;

#[route("/echo")]
impl Echo {
    const PREFIX: &'static str = "echo: ";

    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(format!("{}{text}", Self::PREFIX)).await;
    }
}

fn main() {}
