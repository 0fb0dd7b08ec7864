use ws_routes::{route, WebSocket};

#[route("/light")]
async fn light(_ws: WebSocket) -> u32 {
    0
}

fn main() {}
