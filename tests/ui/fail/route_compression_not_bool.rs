use ws_routes::{route, WebSocket};

#[route("/feed", compression = "off")]
async fn feed(_ws: WebSocket) {}

fn main() {}
