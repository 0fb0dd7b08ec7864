use ws_routes::{route, WebSocket};

#[derive(Default)]
struct Sink;

#[route("/sink")]
impl Sink {
    fn handle(self, ws: WebSocket) {
        let _ = ws;
    }
}

fn main() {}
