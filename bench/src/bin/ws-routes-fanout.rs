//! ws-routes in the fan-out benchmark: members of one [`Rooms`] room, and a publisher whose
//! every text is broadcast to the room, with the server's and the rooms' defaults.
//!
//! `/member` joins the room (the server answers `joined` once it is in), `/publish`
//! broadcasts every text it sends.
//!
//! ```text
//! cargo run --release -p bench --bin ws-routes-fanout -- --addr 127.0.0.1:8765 [--workers 2]
//! ```

use clap::Parser;
use ws_routes::{Message, Rooms, Server, State, WebSocket, route, routes};

/// Broadcast to every member of one room, with ws-routes.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
}

const ROOM: &str = "bench";

/// A member: joins the room, says so, then only reads (the server writes while it waits).
#[route("/member")]
async fn member(mut ws: WebSocket, State(rooms): State<Rooms>) {
    let me = ws.sender();
    rooms.join(ROOM, &me);
    if me.send("joined").await.is_err() {
        return;
    }
    while let Some(Ok(_)) = ws.recv().await {}
}

/// The publisher: every text it sends is broadcast to the room.
#[route("/publish")]
async fn publish(mut ws: WebSocket, State(rooms): State<Rooms>) {
    while let Some(Ok(message)) = ws.recv().await {
        if let Message::Text(text) = message {
            rooms.broadcast(ROOM, text);
        }
    }
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    bench::server::run(&cli.server, async {
        let server = Server::new(routes![member, publish])
            .with_state(Rooms::new())
            .bind(&cli.server.addr)
            .await?;
        bench::server::announce(server.local_addr()?)?;
        server.run().await
    })
}
