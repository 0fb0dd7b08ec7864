use ws_routes::{route, Session};

#[derive(Default)]
struct Echo;

#[route("/echo")]
impl Echo {
    async fn on_txt(&mut self, session: &mut Session, text: String) {
        let _ = (session, text);
    }
}

fn main() {}
