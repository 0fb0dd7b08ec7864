use ws_routes::{route, routes, Routes, WebSocket};

#[route("/light")]
async fn light(_ws: WebSocket) {}

const ROUTES: Routes = routes![light, crate = ::ws_routes];

fn main() {
    let _ = ROUTES;
}
