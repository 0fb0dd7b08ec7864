use ws_routes::{route, routes, Routes, WebSocket};

#[route("/a-static-segment-long-enough-that-the-conflict-message-runs-past-its-capacity/{x}")]
async fn first(_ws: WebSocket, x: String) {
    let _ = x;
}

#[route("/a-static-segment-long-enough-that-the-conflict-message-runs-past-its-capacity/{y}")]
async fn second(_ws: WebSocket, y: String) {
    let _ = y;
}

const ROUTES: Routes = routes![first, second];

fn main() {
    let _ = ROUTES;
}
