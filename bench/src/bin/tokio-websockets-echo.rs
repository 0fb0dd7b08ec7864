//! The tokio-websockets echo server under test: its own handshake (`ServerBuilder::accept`),
//! `/echo/{id}` checked on the request it returns (tokio-websockets has no hook to refuse
//! before answering: another path is closed at once), every text and binary message echoed,
//! on one thread.
//!
//! tokio-websockets has no read buffer size to set; its write side is configured for low
//! memory: output is flushed past 4 KiB queued (its default is 8 KiB).
//!
//! ```text
//! cargo run --release -p bench --bin tokio-websockets-echo -- --addr 127.0.0.1:8765
//! ```

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_websockets::{Config, ServerBuilder};

/// Echo every WebSocket message on /echo/{id}, with tokio-websockets.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
}

async fn serve_connection(tcp: TcpStream) {
    let Ok((request, mut ws)) = ServerBuilder::new()
        .config(Config::default().flush_threshold(4 << 10))
        .accept(tcp)
        .await
    else {
        return;
    };
    if bench::server::echo_id(request.uri().path()).is_none() {
        let _ = ws.close().await;
        return;
    }
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            break;
        }
    }
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    bench::server::run(
        &cli.server,
        bench::server::accept(&cli.server.addr, serve_connection),
    )
}
