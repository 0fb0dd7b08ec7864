//! Every mistake in the arguments of `#[route]` is reported, not only the first.

use ws_routes::{route, routes, Routes, WebSocket};

#[route(
    "/chat",
    crate = ws_routes,
    crate = ws_routes,
    timeout = 30,
    require_protocol = true,
    protocols = ["chat v2"]
)]
async fn chat(_ws: WebSocket) {}

const ROUTES: Routes = routes![chat];

fn main() {
    let _ = ROUTES;
}
