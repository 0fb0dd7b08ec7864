//! A function route with a mistake reports that mistake only: `routes![]` naming it does not
//! add "expected type, found function `light`".

use ws_routes::{route, routes, Routes, WebSocket};

#[route("/light/{status}")]
fn light(_ws: WebSocket, status: String) {
    let _ = status;
}

#[route("/dimmer/{level")]
async fn dimmer(_ws: WebSocket) {}

const ROUTES: Routes = routes![light, dimmer];

fn main() {
    let _ = ROUTES;
}
