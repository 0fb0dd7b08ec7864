//! The yawc echo server under test: hyper 1 serves the upgrade on `/echo/{id}` (as yawc's own
//! echo example does), every text and binary message is echoed, on one thread.
//!
//! Configured for low memory: 4 KiB initial read and write buffers (yawc's defaults are
//! 8 KiB), no compression offered; text is validated as UTF-8, as every other server does.
//!
//! ```text
//! cargo run --release -p bench --bin yawc-echo -- --addr 127.0.0.1:8765
//! ```

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use yawc::{OpCode, Options, UpgradeFut, WebSocket};

/// Echo every WebSocket message on /echo/{id}, with yawc.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
}

/// The initial capacity of each connection's read and write buffers.
const BUFFER: usize = 4 << 10;

/// Answers one request: the upgrade on `/echo/{id}`, with the connection's echo spawned.
fn route(mut request: Request<Incoming>) -> Response<Empty<Bytes>> {
    if bench::server::echo_id(request.uri().path()).is_none() {
        return bench::server::refusal(StatusCode::NOT_FOUND);
    }
    let options = Options::default()
        .without_compression()
        .with_utf8()
        .with_read_buffer_capacity(BUFFER)
        .with_write_buffer_capacity(BUFFER);
    match WebSocket::upgrade_with_options(&mut request, options) {
        Ok((response, upgraded)) => {
            tokio::spawn(echo(upgraded));
            response
        }
        Err(_) => bench::server::refusal(StatusCode::BAD_REQUEST),
    }
}

async fn echo(upgraded: UpgradeFut) {
    let Ok(mut ws) = upgraded.await else {
        return;
    };
    while let Some(frame) = ws.next().await {
        if matches!(frame.opcode(), OpCode::Text | OpCode::Binary) && ws.send(frame).await.is_err()
        {
            break;
        }
    }
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    bench::server::run(&cli.server, bench::server::hyper(&cli.server.addr, route))
}
