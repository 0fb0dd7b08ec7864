//! Class-style and function routes in one table, the classes listed by path.

use ws_routes::{route, routes, Routes, Session, WebSocket};

mod classes {
    use ws_routes::{route, Session};

    #[derive(Default)]
    pub struct Chat;

    #[route("/chat/{room}")]
    impl Chat {
        async fn on_text(&mut self, session: &mut Session, text: String) {
            let _ = session.send(text).await;
        }
    }
}

#[derive(Default)]
struct Echo;

#[route("/echo")]
impl Echo {
    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(text).await;
    }
}

#[route("/light/{status}")]
async fn light(_ws: WebSocket, status: String) {
    let _ = status;
}

#[route("/chat/lobby")]
async fn lobby(_ws: WebSocket) {}

const ROUTES: Routes = routes![light, Echo, classes::Chat, lobby];

fn main() {
    assert_eq!(ROUTES.len(), 4);
    let names: Vec<_> = ROUTES.iter().map(|route| route.handler_name()).collect();
    assert_eq!(names, ["light", "Echo", "Chat", "lobby"]);
}
