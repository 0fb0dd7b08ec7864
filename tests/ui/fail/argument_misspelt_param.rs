use ws_routes::{route, WebSocket};

#[route("/light/{status}")]
async fn light(_ws: WebSocket, sttaus: String) {
    let _ = sttaus;
}

fn main() {}
