//! A synchronous `accept` returning `Self`; `handle` by value with a parameter and by
//! `&mut self`; an instance built by `init = path`.

use ws_routes::{route, routes, Routes, Session, WebSocket};

/// A synchronous hook returning `Self`, reading a typed parameter.
struct Limited {
    limit: usize,
}

#[route("/limited/{limit}")]
impl Limited {
    fn accept(limit: usize) -> Self {
        Limited { limit }
    }

    async fn on_text(&mut self, session: &mut Session, text: ws_routes::Utf8Bytes) {
        let reply = if text.len() > self.limit { "too long" } else { "ok" };
        let _ = session.send(reply).await;
    }
}

/// `handle(self, ...)` with a typed parameter, the instance from `Default`.
#[derive(Default)]
struct Device;

#[route("/devices/{id}")]
impl Device {
    async fn handle(self, mut ws: WebSocket, id: u32) {
        let _ = ws.send(format!("device {id}")).await;
    }
}

/// `handle(&mut self, ...)`, the instance from `init = path`.
struct Seed {
    greeting: &'static str,
}

impl Seed {
    fn new() -> Self {
        Seed { greeting: "hello" }
    }
}

#[route("/seed", init = Seed::new)]
impl Seed {
    async fn handle(&mut self, mut ws: WebSocket) -> Result<(), ws_routes::Error> {
        ws.send(self.greeting).await
    }
}

const ROUTES: Routes = routes![Limited, Device, Seed];

fn main() {
    assert_eq!(ROUTES.len(), 3);
    let patterns: Vec<_> = ROUTES.iter().map(|route| route.pattern()).collect();
    assert_eq!(patterns, ["/limited/{limit}", "/devices/{id}", "/seed"]);
}
