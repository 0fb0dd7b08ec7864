use ws_routes::{route, WebSocket};

#[route("/img-{name}")]
async fn handler(_ws: WebSocket) {}

fn main() {}
