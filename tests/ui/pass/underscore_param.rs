//! An argument named `_name` binds the parameter `{name}` (as rustc suggests for an unused
//! argument), in a function route, an `accept` hook and a `handle` method.

use ws_routes::{route, routes, Routes, WebSocket};

#[route("/light/{status}")]
async fn light(_ws: WebSocket, _status: String) {}

struct Counter;

#[route("/counter/{name}/{step}")]
impl Counter {
    async fn accept(_name: String, step: u32) -> Self {
        let _ = step;
        Counter
    }

    async fn handle(self, _ws: WebSocket, _step: u32) {}
}

const ROUTES: Routes = routes![light, Counter];

fn main() {
    assert_eq!(ROUTES.len(), 2);
}
