use ws_routes::{route, WebSocket};

#[route("/light?status=on")]
async fn handler(_ws: WebSocket) {}

fn main() {}
