//! What the Redis backplane costs and carries, on one Redis and on a local 3-master Redis
//! Cluster (started here; needs `redis-server` and `redis-cli`):
//!
//! - **throughput**: one server broadcasts to 1,000 rooms as fast as its outbox takes them,
//!   another reads them all; broadcasts per second until the reader has read the last, and
//!   the Redis CPU (every master's `used_cpu_user` + `used_cpu_sys`) per broadcast;
//! - **fan-in**: four servers each serve a quarter of the 1,000 rooms, ten broadcasts go to
//!   every room; the entries each server reads from Redis, with one stream (every server
//!   reads everything), and with 16 partitions for quarters dealt at random and for quarters
//!   dealt by partition (as a deployment that routes a room's clients by its partition would).
//!
//! ```text
//! cargo run --release -p bench --bin backplane -- --broadcasts 20000
//! ```

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use ws_routes::rooms::RoomsBuilder;
use ws_routes::{Rooms, Server, State, WebSocket, route, routes};

type Error = Box<dyn std::error::Error>;

#[derive(Parser)]
#[command(
    about = "Redis backplane throughput, Redis CPU per broadcast, and entries read per server"
)]
struct Cli {
    /// Broadcasts of the throughput run.
    #[arg(long, default_value_t = 20_000)]
    broadcasts: u64,
    /// Rooms the broadcasts go to.
    #[arg(long, default_value_t = 1000)]
    rooms: usize,
}

/// Joins every room of the comma-separated list its client sends, then answers `joined`.
#[route("/member")]
async fn member(mut ws: WebSocket, State(rooms): State<Rooms>) {
    let me = ws.sender();
    while let Some(Ok(message)) = ws.recv().await {
        if let Some(list) = message.as_text() {
            for room in list.split(',') {
                rooms.join(room, &me);
            }
            if ws.send("joined").await.is_err() {
                return;
            }
        }
    }
}

/// A `redis-server` process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn redis_server(port: u16, cluster_dir: Option<&PathBuf>) -> Result<Process, Error> {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"]);
    if let Some(dir) = cluster_dir {
        command
            .args(["--cluster-enabled", "yes"])
            .arg("--cluster-config-file")
            .arg(dir.join(format!("nodes-{port}.conf")))
            .arg("--dir")
            .arg(dir);
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let process = Process(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis_cli(port, &["PING"]).as_deref() != Some("PONG") {
        if Instant::now() > deadline {
            return Err("redis-server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(process)
}

fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// CPU seconds a Redis has used (user and system).
fn redis_cpu(port: u16) -> f64 {
    redis_cli(port, &["INFO", "cpu"])
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with("used_cpu_sys:") || line.starts_with("used_cpu_user:"))
        .filter_map(|line| line.split(':').nth(1)?.trim().parse::<f64>().ok())
        .sum()
}

/// Where the rooms share: the ports of its masters, and how to point a builder at it.
struct Backplane {
    name: &'static str,
    masters: Vec<u16>,
    partitions: u16,
    cluster: bool,
}

impl Backplane {
    fn builder(&self, prefix: &str) -> RoomsBuilder {
        let urls: Vec<String> = self
            .masters
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}/"))
            .collect();
        let builder = if self.cluster {
            Rooms::builder().redis_cluster(urls)
        } else {
            Rooms::builder().redis(&urls[0])
        };
        builder
            .redis_prefix(prefix)
            .redis_partitions(self.partitions)
            .max_rooms_per_member(100_000)
            .redis_outbox_bytes(256 << 20)
    }

    fn cpu(&self) -> f64 {
        self.masters.iter().map(|port| redis_cpu(*port)).sum()
    }
}

/// A server of `rooms` with one member in each of `joined`.
async fn serve(rooms: &Rooms, joined: &[String]) -> Result<WebSocket, Error> {
    let server = Server::new(routes![member])
        .with_state(rooms.clone())
        .bind("127.0.0.1:0")
        .await?;
    let addr = server.local_addr()?;
    tokio::spawn(server.run());
    let mut ws = ws_routes::connect(&format!("ws://{addr}/member")).await?;
    ws.send(joined.join(",")).await?;
    match ws.recv().await {
        Some(Ok(message)) if message.as_text() == Some("joined") => Ok(ws),
        other => Err(format!("no join: {other:?}").into()),
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("{what}: not within 120 s").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

fn stats(rooms: &Rooms) -> ws_routes::rooms::BackplaneStats {
    rooms.backplane_stats().expect("a Redis backplane")
}

/// Broadcasts per second, and Redis CPU microseconds per broadcast.
async fn throughput(
    backplane: &Backplane,
    cli: &Cli,
    names: &[String],
) -> Result<(f64, f64), Error> {
    let prefix = format!("t{}", free_port());
    let sender = backplane.builder(&prefix).build()?;
    let reader = backplane.builder(&prefix).build()?;
    let _member = serve(&reader, names).await?;
    until("connected", || {
        stats(&sender).connected && stats(&reader).connected
    })
    .await?;
    let before = (stats(&reader).read, backplane.cpu());
    let started = Instant::now();
    for i in 0..cli.broadcasts {
        let room = &names[usize::try_from(i).unwrap_or(0) % names.len()];
        sender.broadcast(
            room,
            "a 64-byte broadcast, the size of a chat line or a small event...",
        );
    }
    until("every broadcast read", || {
        stats(&reader).read - before.0 >= cli.broadcasts
    })
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = backplane.cpu() - before.1;
    Ok((
        cli.broadcasts as f64 / elapsed,
        cpu * 1e6 / cli.broadcasts as f64,
    ))
}

/// Entries read per server, as a share of what was broadcast, with rooms dealt by `deal`.
async fn fan_in(
    backplane: &Backplane,
    names: &[String],
    deal: impl Fn(usize, &str) -> usize,
) -> Result<f64, Error> {
    const SERVERS: usize = 4;
    const PER_ROOM: u64 = 10;
    let prefix = format!("f{}", free_port());
    let sender = backplane.builder(&prefix).build()?;
    let mut servers = Vec::new();
    let mut members = Vec::new();
    for server in 0..SERVERS {
        let rooms = backplane.builder(&prefix).build()?;
        let quarter: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(i, name)| deal(*i, name) == server)
            .map(|(_, name)| name.clone())
            .collect();
        members.push(serve(&rooms, &quarter).await?);
        servers.push(rooms);
    }
    until("connected", || {
        stats(&sender).connected && servers.iter().all(|rooms| stats(rooms).connected)
    })
    .await?;
    let before: Vec<u64> = servers.iter().map(|rooms| stats(rooms).read).collect();
    for _ in 0..PER_ROOM {
        for name in names {
            sender.broadcast(name, "tick");
        }
    }
    let total = PER_ROOM * names.len() as u64;
    until("published", || {
        stats(&sender).published >= total && stats(&sender).waiting == 0
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let read: u64 = servers
        .iter()
        .zip(&before)
        .map(|(rooms, before)| stats(rooms).read - before)
        .sum();
    Ok(read as f64 / SERVERS as f64 / total as f64)
}

/// The partition of a room: FNV-1a of its name, modulo `partitions`.
fn partition(room: &str, partitions: u16) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in room.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(hash % u64::from(partitions)).unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cli = Cli::parse();
    let names: Vec<String> = (0..cli.rooms).map(|i| format!("room-{i}")).collect();

    let single_port = free_port();
    let _single = redis_server(single_port, None)?;
    let dir = std::env::temp_dir().join(format!("ws-routes-bench-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let _nodes: Vec<Process> = ports
        .iter()
        .map(|port| redis_server(*port, Some(&dir)))
        .collect::<Result<_, _>>()?;
    let mut create = vec!["--cluster".to_owned(), "create".to_owned()];
    create.extend(ports.iter().map(|port| format!("127.0.0.1:{port}")));
    create.push("--cluster-yes".into());
    let created = Command::new("redis-cli")
        .args(&create)
        .stdout(Stdio::null())
        .status()?;
    if !created.success() {
        return Err("redis-cli --cluster create failed".into());
    }
    until("the cluster is up", || {
        ports.iter().all(|port| {
            redis_cli(*port, &["CLUSTER", "INFO"])
                .is_some_and(|info| info.contains("cluster_state:ok"))
        })
    })
    .await?;

    let backplanes = [
        Backplane {
            name: "1 Redis, 1 stream",
            masters: vec![single_port],
            partitions: 1,
            cluster: false,
        },
        Backplane {
            name: "1 Redis, 16 partitions",
            masters: vec![single_port],
            partitions: 16,
            cluster: false,
        },
        Backplane {
            name: "3-master cluster, 16 partitions",
            masters: ports.clone(),
            partitions: 16,
            cluster: true,
        },
    ];
    println!(
        "Redis backplane, {} broadcasts of 64 B to {} rooms (`--broadcasts`, `--rooms`)",
        cli.broadcasts, cli.rooms
    );
    println!("| backplane | broadcasts/s | Redis CPU us / broadcast |");
    println!("|---|---|---|");
    for backplane in &backplanes {
        let (rate, cpu) = throughput(backplane, &cli, &names).await?;
        println!("| {} | {rate:.0} | {cpu:.1} |", backplane.name);
    }
    println!();
    println!("Four servers, each with members in a quarter of the rooms, 10 broadcasts per room:");
    println!("| backplane | quarters dealt | entries read per server / broadcast |");
    println!("|---|---|---|");
    let full = fan_in(&backplanes[0], &names, |i, _| i % 4).await?;
    println!("| {} | at random | {full:.2} |", backplanes[0].name);
    for backplane in &backplanes[1..] {
        let random = fan_in(backplane, &names, |i, _| i % 4).await?;
        println!("| {} | at random | {random:.2} |", backplane.name);
        let by_partition = fan_in(backplane, &names, |_, name| partition(name, 16) % 4).await?;
        println!("| {} | by partition | {by_partition:.2} |", backplane.name);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
