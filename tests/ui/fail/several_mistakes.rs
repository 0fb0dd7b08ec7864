use ws_routes::{route, WebSocket};

#[route("/a/{x}/{x}/b{")]
fn handler<T>(_ws: WebSocket, y: u32, t: T) {
    let _ = (y, t);
}

fn main() {}
