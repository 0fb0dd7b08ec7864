//! The axum 0.8 echo server under test: `/echo/{id}` with a `Path` extractor and a
//! `WebSocketUpgrade`, every text and binary message echoed, with axum's defaults on one
//! thread (and TCP_NODELAY, as every server under test sets it).
//!
//! ```text
//! cargo run --release -p bench --bin axum-echo -- --addr 127.0.0.1:8765
//! ```

use axum::Router;
use axum::extract::Path;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;
use clap::Parser;

/// Echo every WebSocket message on /echo/{id}, with axum.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
}

async fn upgrade(Path(id): Path<String>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| echo(socket, id))
}

async fn echo(mut socket: WebSocket, id: String) {
    debug_assert!(!id.is_empty(), "the router never matches an empty segment");
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && socket.send(message).await.is_err()
        {
            break;
        }
    }
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let app = Router::new().route("/echo/{id}", any(upgrade));
    bench::server::run(&cli.server, bench::server::axum(&cli.server.addr, app))
}
