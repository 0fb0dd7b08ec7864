//! Broadcast fan-out: how long one small message takes from the publisher's send to the last
//! member's receipt, for 1, 100, 1,000 and 10,000 members of one room, and the server's memory.
//!
//! ```text
//! cargo run --release -p bench --bin fanout [-- --rounds 20 --sizes 1,100,1000,10000]
//! ```
//!
//! The server runs in a child process (this binary with `serve`), so that its resident memory
//! is its own; the members and the publisher are WebSocket clients in this process, over
//! loopback. Each round the publisher sends one text to `/publish`, the server broadcasts it
//! to the room, and the round ends when every member has received it. Both processes raise
//! their soft limit of open files to the hard limit (10,000 members need over 10,000).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

/// The child process: serves until killed.
async fn serve() -> std::io::Result<()> {
    let server = Server::new(routes![member, publish])
        .with_state(Rooms::new())
        .bind("127.0.0.1:0")
        .await?;
    println!("listening {}", server.local_addr()?);
    server.run().await
}

/// The round in progress: members still to receive, and who tells the publisher.
struct Round {
    remaining: AtomicUsize,
    last: Notify,
}

struct Settings {
    rounds: usize,
    sizes: Vec<usize>,
}

fn settings() -> Result<Settings, String> {
    let mut settings = Settings {
        rounds: 10,
        sizes: vec![1, 100, 1000, 10_000],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--rounds" => settings.rounds = value.parse().map_err(|_| "bad --rounds")?,
            "--sizes" => {
                settings.sizes = value
                    .split(',')
                    .map(|size| size.parse().map_err(|_| format!("bad size {size}")))
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    settings.sizes.sort_unstable();
    Ok(settings)
}

/// The server process, killed when dropped.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory of a process, in MiB, from /proc.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

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

async fn bench(settings: Settings) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start the server: {e}"))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let server = ServerProcess(child);
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .ok_or(format!("unexpected {line:?}"))?
        .to_owned();
    let pid = server.0.id();

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
    for &size in &settings.sizes {
        while members < size {
            let batch = (size - members).min(100);
            let joins = (0..batch).map(|_| tokio::spawn(join(format!("ws://{addr}/member"))));
            for joined in joins.collect::<Vec<_>>() {
                let mut ws = joined.await.map_err(|e| e.to_string())?;
                let current = Arc::clone(&current);
                tokio::spawn(async move {
                    while let Some(Ok(message)) = ws.recv().await {
                        if message.is_data() {
                            let round = Arc::clone(&current.lock().expect("round"));
                            if round.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                                round.last.notify_one();
                            }
                        }
                    }
                });
            }
            members += batch;
        }
        let mut times = Vec::with_capacity(settings.rounds);
        for number in 0..settings.rounds {
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
        println!(
            "| {size} | {} | {} | {} | {:.1} MiB |",
            millis(times[times.len() / 2]),
            millis(times[times.len() - 1]),
            settings.rounds,
            rss_mib(pid)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("fanout: could not raise the open-file limit: {error}");
    }
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    if std::env::args().nth(1).as_deref() == Some("serve") {
        return match runtime.block_on(serve()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("fanout server: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let result = settings().and_then(|settings| runtime.block_on(bench(settings)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fanout: {error}");
            ExitCode::FAILURE
        }
    }
}
