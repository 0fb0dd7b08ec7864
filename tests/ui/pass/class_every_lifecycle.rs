//! Every lifecycle method, with the alternative argument types (`String`, `Vec<u8>`) and
//! return types (`()`, `Result<(), Close>`, `Result<(), E: Display>`), and an async `accept`
//! hook taking the request, a parameter and shared state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ws_routes::CloseFrame;
use ws_routes::http::StatusCode;
use ws_routes::{route, routes, Close, Error, Reject, Request, Routes, Session, State};

#[derive(Clone, Default)]
struct Visits(Arc<AtomicU64>);

struct Room {
    name: String,
    visits: Visits,
    received: usize,
}

#[route("/rooms/{name}")]
impl Room {
    async fn accept(
        request: &Request,
        name: String,
        State(visits): State<Visits>,
    ) -> Result<Self, Reject> {
        if request.query().get("token").is_none() {
            return Err(Reject::new(StatusCode::UNAUTHORIZED));
        }
        visits.0.fetch_add(1, Ordering::SeqCst);
        Ok(Room {
            name,
            visits,
            received: 0,
        })
    }

    async fn on_open(&mut self, session: &mut Session) -> Result<(), Close> {
        let visits = self.visits.0.load(Ordering::SeqCst);
        session
            .send(format!("welcome to {} (visit {visits})", self.name))
            .await
            .map_err(|_| Close::new(1011, "could not greet"))
    }

    async fn on_text(&mut self, session: &mut Session, text: String) -> Result<(), Close> {
        self.received += 1;
        if text == "bye" {
            return Err(Close::new(4001, "bye"));
        }
        let _ = session.send(text).await;
        Ok(())
    }

    async fn on_binary(&mut self, session: &mut Session, data: Vec<u8>) -> Result<(), Error> {
        self.received += 1;
        session.send(data).await
    }

    async fn on_error(&mut self, session: &mut Session, error: Error) {
        let _ = (session.path(), error.to_string());
    }

    async fn on_close(&mut self, frame: Option<CloseFrame>) {
        let _ = (frame.map(|frame| frame.code), self.received);
    }
}

const ROUTES: Routes = routes![Room];

fn main() {
    assert_eq!(ROUTES.len(), 1);
    let room = ROUTES.iter().next().unwrap();
    assert_eq!(room.pattern(), "/rooms/{name}");
    assert_eq!(room.handler_name(), "Room");
}
