use ws_routes::{route, routes, Routes, WebSocket};

#[route("/light")]
async fn light(_ws: WebSocket) {}

async fn dimmer(_ws: WebSocket) {}

const ROUTES: Routes = routes![light, dimmer];

fn main() {
    let _ = ROUTES;
}
