//! The echo server of the write-up that started ws-routes: every text or binary message comes
//! back, on `/` and on `/echo/{room}`.
//!
//! ```text
//! cargo run --example echo -- --addr 127.0.0.1:8765
//! ```

mod common;

use std::process::ExitCode;

use clap::Parser;
use ws_routes::{Compression, Server, WebSocket, route, routes};

#[derive(Parser)]
#[command(about = "Echo every WebSocket message back, on / and /echo/{room}")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    addr: String,
    /// The largest message (and frame) accepted, in bytes; a larger one closes with 1009.
    #[arg(long, default_value_t = 1 << 20)]
    max_message_size: usize,
    /// permessage-deflate: messages from this many bytes up go out compressed.
    #[arg(long, default_value_t = 1024)]
    compression_threshold: usize,
    /// permessage-deflate: the zlib level, 0 to 9.
    #[arg(long, default_value_t = 6)]
    compression_level: u32,
    /// Never compress (decline permessage-deflate).
    #[arg(long)]
    no_compression: bool,
}

#[route("/")]
async fn root(ws: WebSocket) {
    echo(ws, "/").await;
}

#[route("/echo/{room}")]
async fn room(ws: WebSocket, room: String) {
    echo(ws, &room).await;
}

async fn echo(mut ws: WebSocket, room: &str) {
    while let Some(Ok(message)) = ws.recv().await {
        // Bodies are the client's data: never at info, escaped and cut short at debug.
        tracing::debug!(
            room,
            bytes = message.len(),
            text = ?message.as_text().map(|text| text.chars().take(64).collect::<String>()),
            "echo"
        );
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    common::init_logging();
    common::exit_status("echo", serve(&cli).await)
}

async fn serve(cli: &Cli) -> std::io::Result<()> {
    let server = Server::new(routes![root, room])
        .max_message_size(cli.max_message_size)
        .max_frame_size(cli.max_message_size)
        .compression(
            Compression::default()
                .enabled(!cli.no_compression)
                .threshold(cli.compression_threshold)
                .level(cli.compression_level),
        )
        .bind(&cli.addr)
        .await?;
    // Listening for SIGINT and SIGTERM before saying where it listens: a signal sent as soon
    // as that line is read still shuts down gracefully.
    let signal = ws_routes::server::shutdown_signal();
    println!("echo server listening on ws://{}", server.local_addr()?);
    server.run_until(signal).await
}
