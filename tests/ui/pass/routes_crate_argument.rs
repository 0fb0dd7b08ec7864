//! `routes![crate = path, ...]` names ws-routes through a re-export, as `#[route]` does; a
//! route path starting with `crate::` is still a route.

mod my {
    pub use ws_routes as ws;
}

use my::ws::{route, Routes, WebSocket};

#[route("/x", crate = my::ws)]
async fn x(_ws: WebSocket) {}

mod nested {
    use super::my::ws::{route, WebSocket};

    #[route("/y", crate = super::my::ws)]
    pub async fn y(_ws: WebSocket) {}
}

const ROUTES: Routes = my::ws::routes![crate = my::ws, x, crate::nested::y];

const ABSOLUTE: Routes = my::ws::routes![crate = ::ws_routes, x,];

const EMPTY: Routes = my::ws::routes![crate = my::ws];

fn main() {
    assert_eq!(ROUTES.len(), 2);
    assert_eq!(ABSOLUTE.len(), 1);
    assert_eq!(EMPTY.len(), 0);
}
