use ws_routes::{route, WebSocket};

#[route("/a/{x}/b/{x}")]
async fn handler(_ws: WebSocket) {}

fn main() {}
