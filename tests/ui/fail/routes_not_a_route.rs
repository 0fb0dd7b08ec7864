use ws_routes::{route, routes, Routes, WebSocket};

#[route("/light")]
async fn light(_ws: WebSocket) {}

struct Dimmer;

const ROUTES: Routes = routes![light, Dimmer];

fn main() {
    let _ = ROUTES;
}
