//! Drives a fixed load against a server that is already running, for profilers that count
//! (callgrind): the counts are the same every run, so two runs that differ only in the
//! number of messages give the cost of one message.
//!
//! ```text
//! valgrind --tool=callgrind target/release/ws-routes-echo --addr 127.0.0.1:8765 &
//! cargo run --release -p bench --bin drive -- --addr 127.0.0.1:8765 --messages 2000
//! ```
//!
//! It opens `--connections` connections on `/echo/{n}` (each checked with one echo), has each
//! echo `--messages` texts of `--size` bytes one after the other, `--pause-us` apart, closes
//! them, then runs `--handshakes` cycles of connect, one echo, close, 20 at a time.
//!
//! A server under callgrind runs some 50 times slower than the client: without a pause, the
//! next message is often there before the server looks, and a profile counts a busier server
//! than a real run has. With a pause longer than the server's slowed echo (a millisecond), every
//! message finds it waiting, as a real run's messages do.
//!
//! With `--server-pid PID` it also prints the server's CPU time (the kernel's accounting, as
//! `compare` reads it) per echo, over the echoes once the connections are open, and per
//! handshake: an A/B of two builds of one server, started in turn on a pinned CPU.
//!
//! ```text
//! taskset -c 0 target/release/ws-routes-echo --addr 127.0.0.1:8765 & PID=$!
//! taskset -c 1 target/release/drive --addr 127.0.0.1:8765 --messages 6000 --server-pid $PID
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use futures_util::StreamExt;
use tokio::task::JoinSet;
use tokio::time::Instant;

use bench::load;

/// Drive a fixed echo and handshake load against a running server.
#[derive(Parser)]
struct Cli {
    /// The server's address.
    #[arg(long)]
    addr: SocketAddr,
    /// Connections echoing at once.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Echoes per connection.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Size of each text message, in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Pause between an echo and the next message of the same connection, in microseconds.
    #[arg(long, default_value_t = 0)]
    pause_us: u64,
    /// Handshake cycles (connect, one echo, close) after the echoes.
    #[arg(long, default_value_t = 0)]
    handshakes: usize,
    /// Send with each handshake cycle's request the headers a browser adds to the
    /// handshake's own (`bench::load::BROWSER_HEADERS`).
    #[arg(long)]
    browser_headers: bool,
    /// The server's process: print its CPU time per echo and per handshake.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// The server's CPU time so far, when its process was given.
fn server_cpu(pid: Option<u32>) -> std::io::Result<Option<Duration>> {
    pid.map(bench::sys::process_cpu_time).transpose()
}

/// `used` per one of `count`, in ns, for the report.
fn per(used: Option<Duration>, count: u64) -> String {
    match used {
        Some(used) if count > 0 => format!(
            ", server CPU {:.0} ns each",
            used.as_nanos() as f64 / count as f64
        ),
        _ => String::new(),
    }
}

/// How long the handshakes may take: a server under callgrind is some 50 times slower.
const TIME_LIMIT: Duration = Duration::from_secs(600);

fn main() -> Result<(), load::Error> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let deadline = Instant::now() + TIME_LIMIT;
        let payload = load::payload(cli.size);
        let clients = load::open(cli.addr, cli.connections, 20, &payload).await?;
        let pause = Duration::from_micros(cli.pause_us);
        let before_echoes = server_cpu(cli.server_pid)?;
        let mut echoing = JoinSet::new();
        for mut client in clients {
            let payload = payload.clone();
            echoing.spawn(async move {
                for _ in 0..cli.messages {
                    load::echo(&mut client, &payload).await?;
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                client.close(None).await?;
                while client.next().await.transpose()?.is_some() {}
                Ok::<_, load::Error>(())
            });
        }
        while let Some(echoed) = echoing.join_next().await {
            echoed??;
        }
        let after_echoes = server_cpu(cli.server_pid)?;
        let headers: &[_] = if cli.browser_headers {
            &load::BROWSER_HEADERS
        } else {
            &[]
        };
        let handshakes =
            load::handshakes(cli.addr, cli.handshakes, 20, payload, headers, deadline).await;
        if let Some(error) = handshakes.error {
            return Err(error.into());
        }
        let after_handshakes = server_cpu(cli.server_pid)?;
        let used = |from: Option<Duration>, to: Option<Duration>| Some(to? - from?);
        let echoes = cli.connections * cli.messages;
        println!(
            "{echoes} echoes{}; {} handshakes{}",
            per(used(before_echoes, after_echoes), echoes as u64),
            handshakes.completed,
            per(used(after_echoes, after_handshakes), handshakes.completed),
        );
        Ok(())
    })
}
