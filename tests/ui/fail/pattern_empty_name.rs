use ws_routes::{route, WebSocket};

#[route("/users/{}")]
async fn handler(_ws: WebSocket) {}

fn main() {}
