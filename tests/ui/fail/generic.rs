use ws_routes::{route, WebSocket};

#[route("/light/{status}")]
async fn light<T: std::str::FromStr>(_ws: WebSocket, status: T) {
    let _ = status;
}

fn main() {}
