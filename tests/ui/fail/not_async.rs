use ws_routes::{route, WebSocket};

#[route("/light")]
fn light(_ws: WebSocket) {}

fn main() {}
