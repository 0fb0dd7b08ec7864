//! ws-routes in the fan-out benchmark: members of one [`Rooms`] room, and a publisher whose
//! every text is broadcast to the room, with the server's and the rooms' defaults.
//!
//! `/member` joins the room (the server answers `joined` once it is in), `/publish`
//! broadcasts every text it sends. With `--history`, the room keeps a history (the defaults of
//! `History`) and members join it with `join_since` from the position they claim, as a route
//! that recovers does: each broadcast is numbered, kept, and sent to them in its envelope, and
//! a member that claims a position is sent what followed it first.
//!
//! ```text
//! cargo run --release -p bench --bin ws-routes-fanout -- --addr 127.0.0.1:8765 [--workers 2] [--history]
//! ```

use clap::Parser;
use ws_routes::rooms::{History, Resume};
use ws_routes::{Message, Rooms, Server, State, WebSocket, route, routes};

/// Broadcast to every member of one room, with ws-routes.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
    /// The room keeps a history, and members join it with `join_since`.
    #[arg(long)]
    history: bool,
}

const ROOM: &str = "bench";

/// A member: joins the room, says so (after the join's outcome, when the room keeps a
/// history), then only reads (the server writes while it waits). One that claims a position
/// gets its replay, and no `joined`: the replay waits in the connection's queue until this task
/// reads, where `joined` would wait for room behind it.
#[route("/member")]
async fn member(mut ws: WebSocket, resume: Resume, State(rooms): State<Rooms>) {
    let me = ws.sender();
    let claim = resume.since(ROOM);
    if rooms.has_history(ROOM) {
        rooms.join_since(ROOM, &me, claim);
    } else {
        rooms.join(ROOM, &me);
    }
    if claim.is_none() && me.send("joined").await.is_err() {
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
        let mut rooms = Rooms::builder();
        if cli.history {
            rooms = rooms.history(History::new());
        }
        let rooms = rooms.build().map_err(std::io::Error::other)?;
        let server = Server::new(routes![member, publish])
            .with_state(rooms)
            .bind(&cli.server.addr)
            .await?;
        bench::server::announce(server.local_addr()?)?;
        server.run().await
    })
}
