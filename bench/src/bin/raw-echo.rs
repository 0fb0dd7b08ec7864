//! The raw tokio-tungstenite echo server under test: `/echo/{id}` routed by hand in the
//! handshake callback, every text and binary message echoed, on one thread.
//!
//! Two configurations: `--config default` is tokio-tungstenite's `WebSocketConfig::default()`
//! (128 KiB read buffer, 128 KiB write buffer); `--config floor` has a 4 KiB read buffer and no
//! write buffering, the floor every other server is measured against.
//!
//! ```text
//! cargo run --release -p bench --bin raw-echo -- --config floor --addr 127.0.0.1:8765
//! ```

use std::io;

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::accept_hdr_async_with_config;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Echo every WebSocket message on /echo/{id}, with tokio-tungstenite alone.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
    /// The WebSocket configuration.
    #[arg(long, value_enum, default_value_t = Config::Floor)]
    config: Config,
}

#[derive(Clone, Copy, ValueEnum)]
enum Config {
    /// tokio-tungstenite's defaults: 128 KiB read and write buffers.
    Default,
    /// A 4 KiB read buffer and no write buffering.
    Floor,
}

impl Config {
    fn websocket(self) -> WebSocketConfig {
        match self {
            Config::Default => WebSocketConfig::default(),
            Config::Floor => WebSocketConfig::default()
                .read_buffer_size(4 << 10)
                .write_buffer_size(0),
        }
    }
}

async fn serve_connection(tcp: TcpStream, config: WebSocketConfig) {
    let mut id = None;
    // The signature is tungstenite's handshake `Callback`, large error type included.
    #[allow(clippy::result_large_err)]
    let route = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        match bench::server::echo_id(request.uri().path()) {
            Some(found) => {
                id = Some(found.to_owned());
                Ok(response)
            }
            None => {
                let mut refusal = ErrorResponse::new(Some("no route for this path\n".into()));
                *refusal.status_mut() = StatusCode::NOT_FOUND;
                Err(refusal)
            }
        }
    };
    let Ok(mut ws) = accept_hdr_async_with_config(tcp, route, Some(config)).await else {
        return;
    };
    debug_assert!(id.is_some(), "the handshake succeeds only on a route");
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            break;
        }
    }
}

fn main() -> io::Result<()> {
    let cli = Cli::parse();
    let config = cli.config.websocket();
    bench::server::run(
        &cli.server,
        bench::server::accept(&cli.server.addr, |tcp| serve_connection(tcp, config)),
    )
}
