use ws_routes::{route, WebSocket};

struct Status;

#[route("/light/{status}")]
async fn light(_ws: WebSocket, status: Status) {
    let _ = status;
}

fn main() {}
