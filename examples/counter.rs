//! A class-style route: `/counter/{name}` keeps per-connection state, refuses the handshake
//! without a token, and pushes a message every second from a spawned task until the client
//! leaves.
//!
//! ```text
//! cargo run --example counter -- --addr 127.0.0.1:8765 --token secret
//! cargo run --example light -- client "ws://127.0.0.1:8765/counter/ada?token=secret" hello
//! ```
//!
//! Browsers cannot set headers on a WebSocket handshake, so the token travels in the query
//! string; a missing or wrong token gets HTTP 401 before any WebSocket exists.

mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use subtle::ConstantTimeEq;
use ws_routes::http::StatusCode;
use ws_routes::{CloseFrame, Reject, Request, Server, Session, State, route, routes};

#[derive(Parser)]
#[command(about = "A class-style WebSocket route with a handshake hook and server push")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    addr: String,
    /// The token clients must pass as `?token=...` (required: there is no default secret).
    #[arg(long)]
    token: String,
    /// Milliseconds between two pushed messages.
    #[arg(long, default_value_t = 1000)]
    push_ms: u64,
}

/// What every connection shares.
#[derive(Clone)]
struct App {
    token: Arc<str>,
    push_every: Duration,
    visitors: Arc<AtomicU64>,
}

/// One instance per connection.
struct Counter {
    name: String,
    seen: u64,
    app: App,
}

#[route("/counter/{name}")]
impl Counter {
    /// Runs during the handshake: no token, no WebSocket.
    async fn accept(
        request: &Request,
        name: String,
        State(app): State<App>,
    ) -> Result<Self, Reject> {
        let query = request.query();
        let given = query.get("token").unwrap_or_default();
        // Compared in constant time, so that timing tells an attacker nothing about the token.
        if !bool::from(given.as_bytes().ct_eq(app.token.as_bytes())) {
            return Err(Reject::new(StatusCode::UNAUTHORIZED)
                .header("www-authenticate", "Token")
                .body("a token is required: connect to /counter/NAME?token=...\n"));
        }
        Ok(Counter { name, seen: 0, app })
    }

    async fn on_open(&mut self, session: &mut Session) {
        let visitor = self.app.visitors.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = session
            .send(format!("hello {}, you are visitor {visitor}", self.name))
            .await;
        // Push on our own schedule, from another task, until the client is gone.
        let sender = session.sender();
        let (name, every) = (self.name.clone(), self.app.push_every);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            for second in 1.. {
                ticks.tick().await;
                if sender.send(format!("{name}, tick {second}")).await.is_err() {
                    tracing::info!(%name, "client left; pushing stops");
                    break;
                }
            }
        });
    }

    async fn on_text(&mut self, session: &mut Session, text: String) {
        self.seen += 1;
        let _ = session
            .send(format!(
                "{} said {:?} ({} so far)",
                self.name, text, self.seen
            ))
            .await;
    }

    async fn on_close(&mut self, frame: Option<CloseFrame>) {
        tracing::info!(name = %self.name, seen = self.seen, ?frame, "counter closed");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    common::init_logging();
    common::exit_status("counter", serve(cli).await)
}

async fn serve(cli: Cli) -> std::io::Result<()> {
    let app = App {
        token: cli.token.into(),
        push_every: Duration::from_millis(cli.push_ms.max(1)),
        visitors: Arc::default(),
    };
    let server = Server::new(routes![Counter])
        .with_state(app)
        .bind(&cli.addr)
        .await?;
    // Listening for SIGINT and SIGTERM before saying where it listens: a signal sent as soon
    // as that line is read still shuts down gracefully.
    let signal = ws_routes::server::shutdown_signal();
    println!(
        "counter listening on ws://{}/counter/NAME?token=...",
        server.local_addr()?
    );
    server.run_until(signal).await
}
