//! Shared state taken as a bare type rather than `State<App>`: one error per argument.

use ws_routes::{route, Request, Session, WebSocket};

#[derive(Clone)]
struct App;

#[route("/light")]
async fn light(_ws: WebSocket, app: App) {
    let _ = app;
}

#[derive(Default)]
struct Counter;

#[route("/counter")]
impl Counter {
    async fn accept(_request: &Request, app: App) -> Self {
        let _ = app;
        Counter
    }

    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(text).await;
    }
}

fn main() {}
