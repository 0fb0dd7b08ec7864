//! Two routes whose shapes hash to the same slot of the conflict check's table, its first
//! (`/north` and `/west`, with the four slots of a two-route table): the check probes on to
//! the next slot, finds them distinct, and accepts the table.

use ws_routes::{route, routes, Routes, WebSocket};

#[route("/north")]
async fn north(_ws: WebSocket) {}

#[route("/west")]
async fn west(_ws: WebSocket) {}

const ROUTES: Routes = routes![north, west];

fn main() {
    assert_eq!(ROUTES.len(), 2);
}
