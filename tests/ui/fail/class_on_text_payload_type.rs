use ws_routes::{route, Session};

#[derive(Default)]
struct Echo;

#[route("/echo")]
impl Echo {
    async fn on_text(&mut self, _session: &mut Session, _text: u32) {}
}

fn main() {}
