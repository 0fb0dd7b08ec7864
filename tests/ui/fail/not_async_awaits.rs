use ws_routes::{route, WebSocket};

// The one follow-on error a macro mistake gets: the item is kept as written, so each `.await`
// in its body is also rustc's E0728.
#[route("/light")]
fn light(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        let _ = ws.send(message).await;
    }
}

fn main() {}
