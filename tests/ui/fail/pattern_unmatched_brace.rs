use ws_routes::{route, WebSocket};

#[route("/users/id}")]
async fn handler(_ws: WebSocket) {}

fn main() {}
