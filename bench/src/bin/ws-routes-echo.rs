//! The ws-routes echo server under test: `/echo/{id}` echoes every text and binary message,
//! with the server's default settings, on one thread. With `--replies`, it takes requests
//! and replies on instead and answers every request with its payload: the round trip of
//! `ws_routes::reply` against the plain echo.
//!
//! It is `examples/echo.rs` without the per-message log line, which would dominate the cost.
//!
//! ```text
//! cargo run --release -p bench --bin ws-routes-echo -- --addr 127.0.0.1:8765
//! ```

use clap::Parser;
use ws_routes::reply::{Incoming, Replies};
use ws_routes::{Server, WebSocket, route, routes};

/// Echo every WebSocket message on /echo/{id}, with ws-routes.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
    /// Answer requests (`\x1e?ID payload`) with their payload, messages still echoed.
    #[arg(long)]
    replies: bool,
}

/// Echoes every data message back. The room id is taken, percent-decoded, as a real handler
/// would take it.
#[route("/echo/{id}")]
async fn echo(mut ws: WebSocket, id: String) {
    debug_assert!(!id.is_empty(), "the router never matches an empty segment");
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// Answers every request with its payload, and echoes messages, as a route that takes
/// requests would.
#[route("/echo/{id}")]
async fn reply(mut ws: WebSocket, id: String) {
    debug_assert!(!id.is_empty(), "the router never matches an empty segment");
    ws.enable_replies(Replies::new());
    while let Some(Ok(incoming)) = ws.recv_incoming().await {
        let answered = match incoming {
            Incoming::Request(request) => {
                let payload = request.payload().clone();
                request.reply(payload)
            }
            Incoming::Message(message) => ws.send(message).await,
        };
        if answered.is_err() {
            break;
        }
    }
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let routes = if cli.replies {
        routes![reply]
    } else {
        routes![echo]
    };
    bench::server::run(&cli.server, async {
        let server = Server::new(routes).bind(&cli.server.addr).await?;
        bench::server::announce(server.local_addr()?)?;
        server.run().await
    })
}
