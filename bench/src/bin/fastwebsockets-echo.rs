//! The fastwebsockets echo server under test: hyper 1 serves the upgrade on `/echo/{id}`
//! (fastwebsockets' `upgrade` feature, as its own echo example does), a `FragmentCollector`
//! reassembles messages and validates text, every text and binary message is echoed, on one
//! thread.
//!
//! fastwebsockets has no buffer sizes to set: its defaults are its low-memory configuration
//! (an 8 KiB read buffer, vectored writes with no write buffer).
//!
//! ```text
//! cargo run --release -p bench --bin fastwebsockets-echo -- --addr 127.0.0.1:8765
//! ```

use clap::Parser;
use fastwebsockets::upgrade::{UpgradeFut, upgrade};
use fastwebsockets::{FragmentCollector, OpCode};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

/// Echo every WebSocket message on /echo/{id}, with fastwebsockets.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
}

/// Answers one request: the upgrade on `/echo/{id}`, with the connection's echo spawned.
fn route(mut request: Request<Incoming>) -> Response<Empty<Bytes>> {
    if bench::server::echo_id(request.uri().path()).is_none() {
        return bench::server::refusal(StatusCode::NOT_FOUND);
    }
    match upgrade(&mut request) {
        Ok((response, upgraded)) => {
            tokio::spawn(echo(upgraded));
            response
        }
        Err(_) => bench::server::refusal(StatusCode::BAD_REQUEST),
    }
}

async fn echo(upgraded: UpgradeFut) {
    let Ok(ws) = upgraded.await else {
        return;
    };
    let mut ws = FragmentCollector::new(ws);
    while let Ok(frame) = ws.read_frame().await {
        if matches!(frame.opcode, OpCode::Close) {
            break;
        }
        if matches!(frame.opcode, OpCode::Text | OpCode::Binary)
            && ws.write_frame(frame).await.is_err()
        {
            break;
        }
    }
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    bench::server::run(&cli.server, bench::server::hyper(&cli.server.addr, route))
}
