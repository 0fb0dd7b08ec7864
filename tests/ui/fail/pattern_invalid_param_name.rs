use ws_routes::{route, WebSocket};

#[route("/users/{1st}")]
async fn handler(_ws: WebSocket) {}

fn main() {}
