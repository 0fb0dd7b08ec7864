//! The permessage-deflate benchmark: 1 KiB JSON-like messages echoed by ws-routes with and
//! without compression, and by Python `websockets` 17 with its default compression; the
//! server's CPU and bytes sent per message, and memory per idle compressed connection.
//! `scripts/bench` runs it after `compare`; it prints a Markdown table.
//!
//! ```text
//! cargo run --release -p bench --bin compression -- --messages 20000
//! ```
//!
//! The load generator is ws-routes' own client (tokio-tungstenite, `compare`'s generator, has no
//! permessage-deflate); with compression off it offers none, as `compare`'s clients.

use std::ffi::OsStr;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bench::process::ServerProcess;
use bench::report::{Table, bytes, nanos, with_ratio};
use bench::sys;
use clap::Parser;
use ws_routes::{Client, Compression, Message, WebSocket};

#[derive(Parser)]
#[command(about = "Echo 1 KiB JSON-like messages with and without permessage-deflate")]
struct Cli {
    /// Connections echoing at once.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Messages echoed in the measured window, all connections together.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Idle compressed connections opened for the memory figure.
    #[arg(long, default_value_t = 5_000)]
    idle: usize,
    /// Where the servers' binaries are (release build of the `bench` package).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

/// One server configuration under test.
struct Case {
    name: &'static str,
    /// Whether the client offers permessage-deflate.
    compressed: bool,
    python: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "ws-routes, uncompressed",
        compressed: false,
        python: false,
    },
    Case {
        name: "ws-routes, permessage-deflate",
        compressed: true,
        python: false,
    },
    Case {
        name: "websockets-17, permessage-deflate",
        compressed: true,
        python: true,
    },
];

/// A 1 KiB message (1,024 bytes) of the kind compression is for: JSON records.
fn json_message(seed: usize) -> String {
    let mut text = String::from("[");
    let mut n = seed;
    while text.len() < 1100 {
        text.push_str(&format!(
            "{{\"id\":{n},\"sensor\":\"s-{}\",\"value\":{}.{}}},",
            n % 13,
            n * 7 % 1000,
            n % 10
        ));
        n += 1;
    }
    text.truncate(1023);
    text.push(']');
    text
}

/// The bytes the server's open TCP connections on `port` have sent: the kernel's
/// `bytes_sent` of each, from `ss -ti` (what went on the wire, whatever system calls the
/// server made).
fn sent_on_wire(port: u16) -> io::Result<u64> {
    let output = std::process::Command::new("ss")
        .args(["-Htin", &format!("sport = :{port}")])
        .output()?;
    if !output.status.success() {
        return Err(io::Error::other("ss -ti failed"));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|field| field.strip_prefix("bytes_sent:")?.parse::<u64>().ok())
        .sum())
}

fn client(compressed: bool) -> Client {
    let compression = if compressed {
        Compression::default()
    } else {
        Compression::disabled()
    };
    Client::new().compression(compression)
}

async fn open(addr: SocketAddr, count: usize, compressed: bool) -> Result<Vec<WebSocket>, String> {
    let client = client(compressed);
    let mut sockets = Vec::with_capacity(count);
    for id in 0..count {
        let ws = client
            .connect(&format!("ws://{addr}/echo/{id}"))
            .await
            .map_err(|error| format!("connecting: {error}"))?;
        if ws.is_compressed() != compressed {
            return Err(format!("compression negotiated: {}", ws.is_compressed()));
        }
        sockets.push(ws);
    }
    Ok(sockets)
}

async fn echo(ws: &mut WebSocket, text: &str) -> Result<(), String> {
    ws.send(text).await.map_err(|error| error.to_string())?;
    match tokio::time::timeout(Duration::from_secs(10), ws.recv()).await {
        Ok(Some(Ok(Message::Text(back)))) if back == text => Ok(()),
        other => Err(format!("bad echo: {other:?}")),
    }
}

/// What one case measured.
struct Figures {
    cpu_per_message: f64,
    bytes_per_message: f64,
    idle_per_connection: f64,
}

async fn measure(server: &ServerProcess, cli: &Cli, case: &Case) -> Result<Figures, String> {
    let io = |error: io::Error| error.to_string();
    let addr = server.addr();
    let mut sockets = open(addr, cli.connections, case.compressed).await?;
    let messages: Vec<String> = (0..64).map(|seed| json_message(seed * 31)).collect();
    for ws in &mut sockets {
        echo(ws, &messages[0]).await?;
    }
    let per_connection = cli.messages.div_ceil(cli.connections);
    let cpu_before = server.cpu_time().map_err(io)?;
    let sent_before = sent_on_wire(addr.port()).map_err(io)?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, mut ws) in sockets.into_iter().enumerate() {
        let messages = messages.clone();
        tasks.spawn(async move {
            for round in 0..per_connection {
                echo(&mut ws, &messages[(index + round) % messages.len()]).await?;
            }
            Ok::<_, String>(ws)
        });
    }
    let mut sockets = Vec::new();
    while let Some(done) = tasks.join_next().await {
        sockets.push(done.map_err(|error| error.to_string())??);
    }
    let echoed = (per_connection * cli.connections) as f64;
    let cpu = server.cpu_time().map_err(io)? - cpu_before;
    let sent = sent_on_wire(addr.port()).map_err(io)? - sent_before;
    eprintln!("{}: {echoed} echoes in {:?}", case.name, started.elapsed());
    drop(sockets);

    let rss_before = server.rss().map_err(io)?;
    let mut idle = open(addr, cli.idle, case.compressed).await?;
    for ws in &mut idle {
        echo(ws, &messages[1]).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = server.rss().map_err(io)?;
    Ok(Figures {
        cpu_per_message: cpu.as_nanos() as f64 / echoed,
        bytes_per_message: sent as f64 / echoed,
        idle_per_connection: rss_after.saturating_sub(rss_before) as f64 / cli.idle as f64,
    })
}

fn start(case: &Case, bin_dir: &Path, package: &Path, logs: &Path) -> io::Result<ServerProcess> {
    let log = logs.join(format!(
        "compression-{}.log",
        case.name.replace([' ', ','], "-")
    ));
    if case.python {
        let python = package.join(".venv-ws17/bin/python");
        let script = package.join("python/ws17_echo.py");
        ServerProcess::start(&python, &[script.as_os_str()], 0, &log)
    } else {
        let args: [&OsStr; 0] = [];
        ServerProcess::start(&bin_dir.join("ws-routes-echo"), &args, 0, &log)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    sys::raise_open_files(65_536)?;
    sys::pin_to_cpu(1)?;
    let package = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = match &cli.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or("the binary has no directory")?
            .to_owned(),
    };
    let logs = package.join("../target/bench-logs");
    std::fs::create_dir_all(&logs)?;

    let mut table = Table::new(&[
        "server",
        "server CPU / message",
        "bytes sent / message",
        "memory / idle connection",
    ]);
    let mut floor: Option<(f64, f64, f64)> = None;
    for case in CASES {
        if case.python && !package.join(".venv-ws17/bin/python").exists() {
            table.row(vec![
                case.name.into(),
                "skipped: no bench/.venv-ws17".into(),
                "".into(),
                "".into(),
            ]);
            continue;
        }
        let server = start(case, &bin_dir, &package, &logs)?;
        match measure(&server, &cli, case).await {
            Ok(figures) => {
                let base = *floor.get_or_insert((
                    figures.cpu_per_message,
                    figures.bytes_per_message,
                    figures.idle_per_connection,
                ));
                table.row(vec![
                    case.name.into(),
                    with_ratio(figures.cpu_per_message, Some(base.0), nanos),
                    with_ratio(figures.bytes_per_message, Some(base.1), bytes),
                    with_ratio(figures.idle_per_connection, Some(base.2), bytes),
                ]);
            }
            Err(error) => table.row(vec![
                case.name.into(),
                format!("failed: {error}"),
                "".into(),
                "".into(),
            ]),
        }
    }
    println!(
        "### permessage-deflate, 1 KiB JSON-like text, {} connections, {} messages\n",
        cli.connections, cli.messages
    );
    println!("{table}");
    println!(
        "Ratios are to ws-routes without compression. {}",
        sys::machine()
    );
    Ok(())
}
