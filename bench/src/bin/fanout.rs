//! Broadcast fan-out: how long one small message takes from the publisher's send to the last
//! member's receipt, for 1, 100, 1,000 and 10,000 members of one room, and the server's memory.
//!
//! ```text
//! cargo run --release -p bench --bin fanout [-- --rounds 20 --sizes 1,100,1000,10000]
//! ```
//!
//! The server runs in a child process (this binary with `serve`) on one thread pinned to CPU
//! 0, so that its resident memory is its own; the members and the publisher are WebSocket
//! clients in this process, pinned to CPU 1, over loopback, as in `compare`. Each round the
//! publisher sends one text to `/publish`, the server broadcasts it to the room, and the round
//! ends when every member has received it. Both processes raise their open-file limit (10,000
//! members need over 10,000).

use std::ffi::OsStr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bench::process::ServerProcess;
use bench::report::{as_nanos, bytes, nanos};
use bench::sys;
use clap::{Parser, Subcommand};
use tokio::sync::Notify;
use ws_routes::{Message, Rooms, Server, State, WebSocket, route, routes};

const ROOM: &str = "bench";

/// A member: joins the room, says so, then only reads (the server writes while it waits).
#[route("/member")]
async fn member(mut ws: WebSocket, State(rooms): State<Rooms>) {
    let me = ws.sender();
    rooms.join(ROOM, &me);
    if me.send("joined").await.is_err() {
        return;
    }
    while let Some(Ok(_)) = ws.recv().await {}
}

/// The publisher: every text it sends is broadcast to the room.
#[route("/publish")]
async fn publish(mut ws: WebSocket, State(rooms): State<Rooms>) {
    while let Some(Ok(message)) = ws.recv().await {
        if let Message::Text(text) = message {
            rooms.broadcast(ROOM, text);
        }
    }
}

/// The server: serves until killed, on one thread (it is pinned to one CPU).
fn serve(addr: &str) -> std::io::Result<()> {
    bench::server::run(async {
        let server = Server::new(routes![member, publish])
            .with_state(Rooms::new())
            .bind(addr)
            .await?;
        bench::server::announce(server.local_addr()?)?;
        server.run().await
    })
}

/// The round in progress: members still to receive, and who tells the publisher.
struct Round {
    remaining: AtomicUsize,
    last: Notify,
}

#[derive(Parser)]
#[command(about = "Broadcast fan-out: time from one send to the last member's receipt")]
struct Cli {
    /// Rounds per room size.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Room sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000,10000")]
    sizes: Vec<usize>,
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Subcommand)]
enum Mode {
    /// Run as the server under test (what the benchmark starts).
    #[command(hide = true)]
    Serve {
        #[command(flatten)]
        server: bench::server::Args,
    },
}

/// The CPUs the server and the clients are pinned to.
const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;

/// Connects a member and waits until it is in the room. Connecting thousands at once can
/// meet a full accept queue (the kernel resets some): those retry.
async fn join(url: String) -> WebSocket {
    let mut attempts = 0;
    let mut ws = loop {
        match ws_routes::connect(&url).await {
            Ok(ws) => break ws,
            Err(error) if attempts < 5 => {
                attempts += 1;
                eprintln!("fanout: connecting a member failed ({error}); retrying");
                tokio::time::sleep(Duration::from_millis(100 * attempts)).await;
            }
            Err(error) => panic!("connect a member: {error}"),
        }
    };
    match ws.recv().await {
        Some(Ok(Message::Text(text))) if text == "joined" => ws,
        other => panic!("expected joined, got {other:?}"),
    }
}

async fn bench(cli: Cli, server: &mut ServerProcess) -> Result<(), String> {
    let addr = server.addr();
    let current = Arc::new(std::sync::Mutex::new(Arc::new(Round {
        remaining: AtomicUsize::new(0),
        last: Notify::new(),
    })));
    let mut members = 0;
    let mut publisher = ws_routes::connect(&format!("ws://{addr}/publish"))
        .await
        .map_err(|e| e.to_string())?;
    println!("| members | median | slowest | rounds | server RSS |");
    println!("|---:|---:|---:|---:|---:|");
    let mut sizes = cli.sizes;
    sizes.sort_unstable();
    for size in sizes {
        while members < size {
            let batch = (size - members).min(100);
            let joins = (0..batch).map(|_| tokio::spawn(join(format!("ws://{addr}/member"))));
            for joined in joins.collect::<Vec<_>>() {
                let mut ws = joined.await.map_err(|e| e.to_string())?;
                let current = Arc::clone(&current);
                tokio::spawn(async move {
                    while let Some(Ok(_)) = ws.recv().await {
                        let round = Arc::clone(&current.lock().expect("round"));
                        if round.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                            round.last.notify_one();
                        }
                    }
                });
            }
            members += batch;
        }
        let mut times = Vec::with_capacity(cli.rounds);
        for number in 0..cli.rounds {
            let round = Arc::new(Round {
                remaining: AtomicUsize::new(size),
                last: Notify::new(),
            });
            *current.lock().expect("round") = Arc::clone(&round);
            let sent = Instant::now();
            publisher
                .send(format!("round {number}"))
                .await
                .map_err(|e| e.to_string())?;
            tokio::time::timeout(Duration::from_secs(60), round.last.notified())
                .await
                .map_err(|_| format!("round {number} with {size} members took over 60 s"))?;
            times.push(sent.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        times.sort();
        server.check_alive().map_err(|e| e.to_string())?;
        let rss = server.rss().map_err(|e| e.to_string())?;
        println!(
            "| {size} | {} | {} | {} | {} |",
            nanos(as_nanos(times[times.len() / 2])),
            nanos(as_nanos(times[times.len() - 1])),
            cli.rounds,
            bytes(rss as f64)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Some(Mode::Serve { server }) => serve(&server.addr).map_err(|e| e.to_string()),
        None => run(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fanout: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the server pinned to one CPU, pins the clients to the other, and measures.
fn run(cli: Cli) -> Result<(), String> {
    let largest = cli.sizes.iter().copied().max().unwrap_or(0) as u64;
    let open_files = sys::raise_open_files(largest + 1024).map_err(|e| e.to_string())?;
    if open_files < largest + 64 {
        return Err(format!("the open-file limit is {open_files}: too low"));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let log = std::env::temp_dir().join("ws-routes-fanout-server.log");
    let mut server = ServerProcess::start(&exe, &[OsStr::new("serve")], SERVER_CPU, &log)
        .map_err(|e| e.to_string())?;
    sys::pin_to_cpu(CLIENT_CPU).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(bench(cli, &mut server))
}
