//! The sockudo-ws echo server under test: its own HTTP/1.1 handshake
//! (`handshake::server_handshake`, what its `WebSocketServer` runs), `/echo/{id}` checked on
//! the path it returns
//! (sockudo-ws has no hook to refuse before answering: another path is closed at once), every
//! text and binary message echoed, on one thread.
//!
//! Configured for low memory: a 4 KiB write (corking) buffer (its default is 16 KiB); its read
//! buffer has a fixed size. Its defaults are otherwise kept, keepalive pings and the idle
//! timeout included, as ws-routes keeps its own.
//!
//! ```text
//! cargo run --release -p bench --bin sockudo-ws-echo -- --addr 127.0.0.1:8765
//! ```

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use sockudo_ws::{Config, Message, Role, WebSocketStream};
use tokio::net::TcpStream;

/// Echo every WebSocket message on /echo/{id}, with sockudo-ws.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
}

async fn serve_connection(mut tcp: TcpStream, config: Config) {
    let Ok(handshake) = sockudo_ws::handshake::server_handshake(&mut tcp).await else {
        return;
    };
    let mut ws =
        WebSocketStream::from_raw_with_leftover(tcp, Role::Server, config, handshake.leftover);
    if bench::server::echo_id(&handshake.path).is_none() {
        let _ = ws.close(1008, "no route").await;
        return;
    }
    while let Some(Ok(message)) = ws.next().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && ws.send(message).await.is_err()
        {
            break;
        }
    }
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let config = Config {
        write_buffer_size: 4 << 10,
        ..Config::default()
    };
    // Calibrates sockudo-ws' clock before the runtime starts, as it asks.
    sockudo_ws::init_clock();
    bench::server::run(
        &cli.server,
        bench::server::accept(&cli.server.addr, |tcp| {
            serve_connection(tcp, config.clone())
        }),
    )
}
