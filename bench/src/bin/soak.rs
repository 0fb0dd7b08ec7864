//! The soak run of the hardening issue: holds many connections exchanging numbered messages
//! with the ws-routes echo server for a while, then reports every message that did not come
//! back intact (there must be none) and the server's memory at the start, the peak and the end.
//!
//! ```text
//! cargo run --release -p bench --bin soak -- --connections 10000 --seconds 60
//! ```
//!
//! Not a test: it takes a minute and most of the machine. It exits non-zero when a message is
//! lost or the server dies.

use std::ffi::OsStr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bench::load;
use bench::process::ServerProcess;
use bench::report::bytes;
use bench::sys;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(about = "Hold many connections exchanging messages; report losses and server memory")]
struct Cli {
    /// Connections held at once.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// How long they exchange messages.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Pause between two messages on one connection, in milliseconds.
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
}

/// What every connection counts.
#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    echoed: AtomicU64,
    lost: AtomicU64,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("soak: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<bool, load::Error> {
    let open_files = sys::raise_open_files(cli.connections as u64 + 1024)?;
    if open_files < cli.connections as u64 + 64 {
        return Err(format!("the open-file limit is {open_files}: too low").into());
    }
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(ToOwned::to_owned)
        .unwrap_or_default();
    let log = std::env::temp_dir().join("ws-routes-soak-server.log");
    let no_args: [&OsStr; 0] = [];
    let mut server = ServerProcess::start(&bin_dir.join("ws-routes-echo"), &no_args, "0", &log)?;
    let addr = server.addr();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rss_start = server.rss()?;
    println!(
        "soak: {} connections to ws://{addr}/echo/ID for {} s",
        cli.connections, cli.seconds
    );

    let counts = Arc::new(Counts::default());
    let mut rss_peak = rss_start;
    let outcome: Result<(), load::Error> = runtime.block_on(async {
        let payload = load::payload(16);
        let clients = load::open(addr, cli.connections, 64, &payload).await?;
        println!(
            "soak: {} connections open, server RSS {}",
            clients.len(),
            bytes(server.rss()? as f64)
        );
        let deadline = Instant::now() + Duration::from_secs(cli.seconds);
        let interval = Duration::from_millis(cli.interval_ms.max(1));
        let mut tasks = JoinSet::new();
        for (id, client) in clients.into_iter().enumerate() {
            let counts = Arc::clone(&counts);
            // Spread the first messages over one interval.
            let offset = interval.mul_f64(id as f64 / cli.connections.max(1) as f64);
            tasks.spawn(exchange(client, id, deadline, interval, offset, counts));
        }
        let mut sampling = tokio::time::interval(Duration::from_secs(1));
        while !tasks.is_empty() {
            tokio::select! {
                _ = sampling.tick() => {
                    server.check_alive()?;
                    rss_peak = rss_peak.max(server.rss()?);
                }
                Some(joined) = tasks.join_next() => joined?,
            }
        }
        Ok(())
    });
    outcome?;
    // Give the server a moment to finish the close handshakes.
    std::thread::sleep(Duration::from_secs(2));
    server.check_alive()?;
    let rss_end = server.rss()?;
    let (sent, echoed, lost) = (
        counts.sent.load(Ordering::Relaxed),
        counts.echoed.load(Ordering::Relaxed),
        counts.lost.load(Ordering::Relaxed),
    );
    println!();
    println!(
        "| connections | seconds | messages sent | echoed | lost | server RSS start | peak | end |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {sent} | {echoed} | {lost} | {} | {} | {} |",
        cli.connections,
        cli.seconds,
        bytes(rss_start as f64),
        bytes(rss_peak as f64),
        bytes(rss_end as f64)
    );
    Ok(lost == 0 && sent == echoed)
}

/// Sends a numbered message every `interval` until `deadline` and checks that each comes back
/// intact, then closes.
async fn exchange(
    mut client: load::Client,
    id: usize,
    deadline: Instant,
    interval: Duration,
    offset: Duration,
    counts: Arc<Counts>,
) {
    tokio::time::sleep(offset).await;
    let mut sequence = 0u64;
    while Instant::now() < deadline {
        let text = format!("{id}:{sequence}");
        counts.sent.fetch_add(1, Ordering::Relaxed);
        let came_back = async {
            client.send(Message::text(text.clone())).await.ok()?;
            loop {
                match client.next().await?.ok()? {
                    Message::Text(echo) => return Some(echo == text.as_str()),
                    Message::Ping(_) | Message::Pong(_) => continue,
                    _ => return None,
                }
            }
        };
        match timeout(Duration::from_secs(10), came_back).await {
            Ok(Some(true)) => counts.echoed.fetch_add(1, Ordering::Relaxed),
            _ => {
                counts.lost.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        sequence += 1;
        tokio::time::sleep(interval).await;
    }
    let _ = client.close(None).await;
}
