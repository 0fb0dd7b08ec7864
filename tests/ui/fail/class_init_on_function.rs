use ws_routes::{route, WebSocket};

#[route("/light", init = make)]
async fn light(_ws: WebSocket) {}

fn main() {}
