use ws_routes::{route, WebSocket};

struct Session;

#[route("/light")]
async fn light(_ws: WebSocket, session: Session) {
    let _ = session;
}

fn main() {}
