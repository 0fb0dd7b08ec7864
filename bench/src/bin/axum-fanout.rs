//! axum 0.8 in the fan-out benchmark, written the way axum applications usually broadcast: a
//! `tokio::sync::broadcast` channel that every connection's task subscribes to and forwards
//! from, with axum's defaults on one thread (and TCP_NODELAY).
//!
//! `/member` joins the room (the server answers `joined` once it is subscribed), `/publish`
//! broadcasts every text it sends.
//!
//! ```text
//! cargo run --release -p bench --bin axum-fanout -- --addr 127.0.0.1:8765
//! ```

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;
use clap::Parser;
use tokio::sync::broadcast::{self, error::RecvError};

/// Broadcast to every member through a `tokio::sync::broadcast` channel, with axum.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
}

/// Messages the channel keeps for members that lag behind.
const CHANNEL_CAPACITY: usize = 1024;

type Room = broadcast::Sender<Utf8Bytes>;

async fn join(State(room): State<Room>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| member(socket, room.subscribe()))
}

async fn member(mut socket: WebSocket, mut room: broadcast::Receiver<Utf8Bytes>) {
    if socket.send(Message::text("joined")).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            received = room.recv() => match received {
                Ok(text) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => {
                if !matches!(incoming, Some(Ok(_))) {
                    break;
                }
            }
        }
    }
}

async fn publish(State(room): State<Room>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Text(text) = message {
                // No member yet is not an error here.
                let _ = room.send(text);
            }
        }
    })
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let (room, _) = broadcast::channel(CHANNEL_CAPACITY);
    let app = Router::new()
        .route("/member", any(join))
        .route("/publish", any(publish))
        .with_state(room);
    bench::server::run(&cli.server, bench::server::axum(&cli.server.addr, app))
}
