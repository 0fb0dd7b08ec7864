//! `#[route(..., crate = path)]` names ws-routes through a re-export (a relative path, a
//! `crate::`/`super::` path) or an absolute `::ws_routes`.

mod my {
    pub use ws_routes as ws;
}

use my::ws::{Routes, WebSocket};

#[my::ws::route("/x", crate = my::ws)]
async fn x(_ws: WebSocket) {}

#[my::ws::route("/y/{id}", crate = crate::my::ws)]
async fn y(_ws: WebSocket, id: u8) {
    let _ = id;
}

#[ws_routes::route("/w", crate = ::ws_routes)]
async fn w(_ws: WebSocket) {}

mod nested {
    use super::my::ws::{route, WebSocket};

    #[route("/z", crate = super::my::ws)]
    pub async fn z(_ws: WebSocket) {}
}

const ROUTES: Routes = ws_routes::routes![w, x, y, nested::z];

fn main() {
    assert_eq!(ROUTES.len(), 4);
}
