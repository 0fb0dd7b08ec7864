use ws_routes::{route, WebSocket};

#[route("/light//on")]
async fn handler(_ws: WebSocket) {}

fn main() {}
