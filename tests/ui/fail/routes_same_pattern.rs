use ws_routes::{route, routes, Routes, WebSocket};

#[route("/a")]
async fn first(_ws: WebSocket) {}

#[route("/a")]
async fn second(_ws: WebSocket) {}

const ROUTES: Routes = routes![first, second];

fn main() {
    let _ = ROUTES;
}
