use ws_routes::{route, WebSocket};

#[route("/light/{status}")]
async fn light(_ws: WebSocket, status: &str) {
    let _ = status;
}

fn main() {}
