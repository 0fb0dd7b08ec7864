use ws_routes::{route, WebSocket};

#[route("/files/{*rest}/raw")]
async fn handler(_ws: WebSocket) {}

fn main() {}
