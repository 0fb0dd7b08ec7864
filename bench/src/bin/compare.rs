//! Runs every server under test in turn, pinned to one CPU, against the load generator pinned
//! to the other, and prints the results as Markdown tables with every figure's ratio to the
//! floor: raw tokio-tungstenite, or for fan-out a loop of `try_write`s of one framed message.
//!
//! Each scenario starts a fresh server process: ping-pong at 64 B, 1 KiB and 64 KiB; the
//! handshake rate; a run holding thousands of idle connections; broadcasts to 1,000 and 10,000
//! members of a room; ws-routes on two runtime workers against one; and what recovery costs
//! ws-routes (replaying a room's history to reconnecting clients, and the history's memory);
//! and a request/reply round trip of `ws_routes::reply` against a plain echo. Scenarios are the
//! outer loop and servers the inner one, so that slow drifts in the machine's load spread over
//! every server alike. Only 127.0.0.1 is ever targeted, and every run is bounded in count and
//! time.
//!
//! ```text
//! scripts/bench                       # builds every server and the Python environments, then runs this
//! scripts/bench --smoke               # small counts, to check that everything works
//! scripts/bench --sections fanout     # only the fan-out tables
//! ```

use std::error::Error;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use tokio::time::{Instant, sleep, timeout_at};

use bench::fanout::Room;
use bench::load;
use bench::process::ServerProcess;
use bench::report::{self, Table, with_ratio};
use bench::sys;

/// Compare the servers: echo messages/s, latency, server CPU per message, handshakes/s, memory
/// per idle connection, and broadcast fan-out, each as a ratio to a floor server.
#[derive(Parser)]
struct Cli {
    /// Sections to run, comma-separated (default: all). `--sections fanout` runs only the
    /// fan-out tables; `workers` compares ws-routes on two runtime workers with one.
    #[arg(long, value_delimiter = ',', value_enum)]
    sections: Vec<Section>,
    /// Servers to run, comma-separated (default: all). Ratios need `floor` among them.
    #[arg(long, value_delimiter = ',', value_parser = server_name)]
    servers: Vec<&'static str>,
    /// Small counts, to check that the harness works; the figures mean little.
    #[arg(long)]
    smoke: bool,
    /// Connections ping-ponging at once [default: 50].
    #[arg(long)]
    connections: Option<usize>,
    /// Echoes per connection at 64 B and 1 KiB [default: 2000, smoke: 100].
    #[arg(long)]
    messages: Option<usize>,
    /// Echoes per connection at 64 KiB [default: 200, smoke: 10].
    #[arg(long)]
    large_messages: Option<usize>,
    /// Handshake cycles (connect, one echo, close) [default: 5000, smoke: 300].
    #[arg(long)]
    handshakes: Option<usize>,
    /// Handshake cycles in flight at once.
    #[arg(long, default_value_t = 20)]
    handshake_concurrency: usize,
    /// Rounds of the echo and handshake runs: each round runs every server once, in turn, and
    /// the tables show each server's run with the median server CPU [default: 5, smoke: 1].
    #[arg(long)]
    rounds: Option<usize>,
    /// Idle connections to hold [default: 10000, smoke: 1000].
    #[arg(long)]
    idle: Option<usize>,
    /// Room sizes of the fan-out runs, comma-separated [default: 1000,10000, smoke: 100,1000].
    #[arg(long, value_delimiter = ',')]
    fanout_members: Vec<usize>,
    /// Measured broadcasts per fan-out run [default: 50, smoke: 5].
    #[arg(long)]
    fanout_rounds: Option<usize>,
    /// Clients that reconnect and get a room's whole history replayed, in the recovery run
    /// [default: 100, smoke: 10].
    #[arg(long)]
    replays: Option<usize>,
    /// Longest a single run may take, in seconds; a run cut short says so.
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// The CPU the servers are pinned to.
    #[arg(long, default_value_t = 0)]
    server_cpu: usize,
    /// The CPU the load generator is pinned to.
    #[arg(long, default_value_t = 1)]
    client_cpu: usize,
}

/// The parts of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    /// Ping-pong at 64 B, 1 KiB and 64 KiB.
    Echo,
    /// Connect, one echo, close.
    Handshakes,
    /// Memory per idle connection.
    Idle,
    /// Broadcast to every member of a room: ws-routes `Rooms`, a `try_write` floor, axum.
    Fanout,
    /// ws-routes on tokio's multi-thread runtime with 2 workers against 1 thread.
    Workers,
    /// ws-routes replaying a room's history to reconnecting clients; the history's memory.
    Recovery,
    /// A request and its reply (`ws_routes::reply`) against a plain echo, 64 B, on ws-routes.
    Replies,
}

/// The counts of one invocation.
#[derive(Debug, Clone, Copy)]
struct Counts {
    connections: usize,
    messages: usize,
    large_messages: usize,
    handshakes: usize,
    handshake_concurrency: usize,
    idle: usize,
    replays: usize,
    /// Rounds of the echo and handshake runs.
    rounds: usize,
    time_limit: Duration,
}

impl Cli {
    fn counts(&self) -> Counts {
        let (messages, large_messages, handshakes, idle, replays, rounds) = if self.smoke {
            (100, 10, 300, 1000, 10, 1)
        } else {
            (2000, 200, 5000, 10_000, 100, 5)
        };
        Counts {
            connections: self.connections.unwrap_or(50),
            messages: self.messages.unwrap_or(messages),
            large_messages: self.large_messages.unwrap_or(large_messages),
            handshakes: self.handshakes.unwrap_or(handshakes),
            handshake_concurrency: self.handshake_concurrency,
            idle: self.idle.unwrap_or(idle),
            replays: self.replays.unwrap_or(replays).max(1),
            rounds: self.rounds.unwrap_or(rounds).max(1),
            time_limit: Duration::from_secs(self.time_limit),
        }
    }

    /// The room sizes and the measured broadcasts per room of the fan-out runs, sorted.
    fn fanout(&self) -> Fanouts {
        let (members, rounds) = if self.smoke {
            (vec![100, 1000], 5)
        } else {
            (vec![1000, 10_000], 50)
        };
        let mut members = if self.fanout_members.is_empty() {
            members
        } else {
            self.fanout_members.clone()
        };
        members.sort_unstable();
        members.dedup();
        Fanouts {
            members,
            rounds: self.fanout_rounds.unwrap_or(rounds).max(1),
        }
    }

    fn runs(&self, section: Section) -> bool {
        self.sections.is_empty() || self.sections.contains(&section)
    }
}

/// The fan-out runs of one invocation.
#[derive(Debug, Clone)]
struct Fanouts {
    members: Vec<usize>,
    rounds: usize,
}

/// Broadcasts before a fan-out run's measured window opens.
const FANOUT_WARM_UP: usize = 2;

/// The pause between two broadcasts of a fan-out run.
const FANOUT_PAUSE: Duration = Duration::from_millis(10);

/// The messages of the history that the recovery run replays (`History`'s default bound), and
/// their size.
const HISTORY_MESSAGES: usize = 1000;
const HISTORY_MESSAGE_SIZE: usize = 64;

/// The fan-out server whose room keeps a history: the recovery run's server.
const WITH_HISTORY: &str = "ws-routes+history";

/// How a server under test is started.
#[derive(Debug, Clone, Copy)]
enum Program {
    /// A binary of this package, next to `compare`.
    Rust {
        bin: &'static str,
        args: &'static [&'static str],
    },
    /// A script of `bench/python/`, run by the Python of a virtual environment in `bench/`.
    Python {
        venv: &'static str,
        script: &'static str,
    },
}

#[derive(Debug, Clone, Copy)]
struct Spec {
    name: &'static str,
    about: &'static str,
    program: Program,
}

/// The reference every ratio is taken against.
const FLOOR: &str = "floor";

/// The bare WebSocket engines, the floor among them: ws-routes is also set against the
/// fastest of them in each scenario.
const ENGINES: &[&str] = &[
    FLOOR,
    "fastwebsockets",
    "tokio-websockets",
    "yawc",
    "sockudo-ws",
];

const SERVERS: &[Spec] = &[
    Spec {
        name: FLOOR,
        about: "raw tokio-tungstenite 0.30, `/echo/{id}` routed in the handshake callback, \
                read buffer 4 KiB, write buffer 0",
        program: Program::Rust {
            bin: "raw-echo",
            args: &["--config", "floor"],
        },
    },
    Spec {
        name: "ws-routes",
        about: "ws-routes, `#[route(\"/echo/{id}\")]`, default settings",
        program: Program::Rust {
            bin: "ws-routes-echo",
            args: &[],
        },
    },
    Spec {
        name: "fastwebsockets",
        about: "fastwebsockets 0.10, upgrade served by hyper 1 on `/echo/{id}`, \
                `FragmentCollector`, defaults (8 KiB read buffer, no write buffer)",
        program: Program::Rust {
            bin: "fastwebsockets-echo",
            args: &[],
        },
    },
    Spec {
        name: "tokio-websockets",
        about: "tokio-websockets 0.13, its own handshake, path checked after it, flushed past \
                4 KiB queued",
        program: Program::Rust {
            bin: "tokio-websockets-echo",
            args: &[],
        },
    },
    Spec {
        name: "yawc",
        about: "yawc 0.5, upgrade served by hyper 1 on `/echo/{id}`, 4 KiB read and write \
                buffers, no compression, UTF-8 checked",
        program: Program::Rust {
            bin: "yawc-echo",
            args: &[],
        },
    },
    Spec {
        name: "sockudo-ws",
        about: "sockudo-ws 3.1, its own handshake, path checked after it, 4 KiB write buffer, \
                its keepalive and idle timeout on",
        program: Program::Rust {
            bin: "sockudo-ws-echo",
            args: &[],
        },
    },
    Spec {
        name: "raw-default",
        about: "raw tokio-tungstenite 0.30 as the floor, with `WebSocketConfig::default()`",
        program: Program::Rust {
            bin: "raw-echo",
            args: &["--config", "default"],
        },
    },
    Spec {
        name: "axum",
        about: "axum 0.8, `Path<String>` and `WebSocketUpgrade` on `/echo/{id}`, defaults",
        program: Program::Rust {
            bin: "axum-echo",
            args: &[],
        },
    },
    Spec {
        name: "websockets-17",
        about: "Python websockets 17 with its router (`websockets.asyncio.router.route`, \
                werkzeug rule `/echo/<id>`)",
        program: Program::Python {
            venv: ".venv-ws17",
            script: "ws17_echo.py",
        },
    },
    Spec {
        name: "seed",
        about: "Python websockets-routes 0.2 on websockets 10.4, `@router.route(\"/echo/{id}\")`",
        program: Program::Python {
            venv: ".venv-seed",
            script: "seed_echo.py",
        },
    },
];

/// The fan-out servers: the same names as the echo servers they stand beside.
const FANOUT_SERVERS: &[Spec] = &[
    Spec {
        name: FLOOR,
        about: "raw tokio-tungstenite 0.30 handshakes, then each broadcast framed once and \
                `try_write`n to every member's socket in one loop (the rest queued for a socket \
                that would block)",
        program: Program::Rust {
            bin: "raw-fanout",
            args: &[],
        },
    },
    Spec {
        name: "bare-floor",
        about: "the floor with nothing per member but its socket in a list: no task, no queue; \
                each broadcast one `try_write` loop over the list",
        program: Program::Rust {
            bin: "raw-fanout",
            args: &["--bare"],
        },
    },
    Spec {
        name: "ws-routes",
        about: "ws-routes `Rooms`: every member joins one room, the publisher's handler calls \
                `rooms.broadcast`, default settings",
        program: Program::Rust {
            bin: "ws-routes-fanout",
            args: &[],
        },
    },
    Spec {
        name: "ws-routes+history",
        about: "the same with the room's history on (`History` defaults): every broadcast \
                numbered and kept, and members joined with `join_since`, so each gets it in \
                its envelope",
        program: Program::Rust {
            bin: "ws-routes-fanout",
            args: &["--history"],
        },
    },
    Spec {
        name: "axum",
        about: "axum 0.8 with a `tokio::sync::broadcast` channel: every member's task \
                subscribes and forwards to its socket, defaults",
        program: Program::Rust {
            bin: "axum-fanout",
            args: &[],
        },
    },
];

/// The server the `workers` section runs with one and with two runtime workers.
const WS_ROUTES: &str = "ws-routes";

/// The server of the `replies` section, beside `ws-routes`.
const WITH_REPLIES: Spec = Spec {
    name: "ws-routes+replies",
    about: "ws-routes-echo with `enable_replies`: every request (`\\x1e?1 ` and 64 B) answered \
            with its payload by `IncomingRequest::reply`, through the connection's queue",
    program: Program::Rust {
        bin: "ws-routes-echo",
        args: &["--replies"],
    },
};

fn server_name(name: &str) -> Result<&'static str, String> {
    let all = || SERVERS.iter().chain(FANOUT_SERVERS);
    all()
        .find(|spec| spec.name == name)
        .map(|spec| spec.name)
        .ok_or_else(|| {
            let mut names: Vec<_> = all().map(|spec| spec.name).collect();
            names.sort_unstable();
            names.dedup();
            format!("no server `{name}`; the servers are {}", names.join(", "))
        })
}

/// The message sizes of the ping-pong runs.
const SIZES: [(usize, &str); 3] = [(64, "64 B"), (1 << 10, "1 KiB"), (64 << 10, "64 KiB")];

/// Echoes per connection before the measured window opens.
const WARM_UP_ECHOES: usize = 10;

/// Connections opened, echoed once and closed before an idle run's baseline is read.
const IDLE_WARM_UP: usize = 100;

/// Idle connections being opened at once.
const IDLE_CONCURRENCY: usize = 50;

/// A failed or skipped measurement, shown in the table instead of figures.
type Outcome<T> = Result<T, String>;

/// What one server did in one run.
#[derive(Debug, Default)]
struct Results {
    echo: [Option<Outcome<Echo>>; 3],
    handshakes: Option<Outcome<Handshakes>>,
    idle: Option<Outcome<Idle>>,
    /// One per room size, in the order of [`Fanouts::members`].
    fanout: Vec<Option<Outcome<Fanout>>>,
}

/// What ws-routes did on one thread (`[0]`) and on two workers (`[1]`).
#[derive(Debug, Default)]
struct Workers {
    fanout: [Option<Outcome<Fanout>>; 2],
    echo: [Option<Outcome<Echo>>; 2],
}

#[derive(Debug, Clone, Copy)]
struct Echo {
    per_second: f64,
    p50: f64,
    p99: f64,
    cpu_per_message: f64,
    others: Option<f64>,
}

#[derive(Debug, Clone)]
struct Handshakes {
    per_second: f64,
    cpu_per_handshake: f64,
    failed: u64,
    error: Option<String>,
    others: Option<f64>,
}

/// What one broadcast run measured.
#[derive(Debug, Clone, Copy)]
struct Fanout {
    /// Publish-to-last-delivery time, median and worst, in ns.
    median: f64,
    worst: f64,
    cpu_per_delivery: f64,
    /// The server's resident set size after the broadcasts, members still connected.
    rss: u64,
    others: Option<f64>,
}

/// What the recovery run measured.
#[derive(Debug, Clone, Copy)]
struct Replay {
    /// Server CPU time per replayed message, in ns, handshakes included.
    cpu_per_message: f64,
    /// Replayed messages per second, one reconnecting client after the other.
    per_second: f64,
    /// The server's RSS growth from filling the room's history.
    history_rss: f64,
    others: Option<f64>,
}

/// How a server under test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threads {
    /// One thread (tokio's current-thread runtime), pinned to the server CPU.
    Pinned,
    /// tokio's multi-thread runtime with two workers, on the server and the load generator's
    /// CPUs.
    TwoWorkers,
}

#[derive(Debug, Clone, Copy)]
struct Idle {
    connections: usize,
    before: u64,
    growth: f64,
    per_connection: f64,
}

/// The server's CPU time and the server CPU's busy time at one instant.
struct Sample {
    at: Instant,
    server: Duration,
    cpu_busy: Duration,
}

/// What happened between two samples.
struct Window {
    /// The server's CPU time.
    server: Duration,
    /// The share of the server CPU's time that other processes took (0 on a quiet machine);
    /// `None` for windows too short to tell, as `/proc/stat` counts in clock ticks.
    others: Option<f64>,
}

/// The shortest window whose `others` share is worth showing.
const SHORTEST_OTHERS_WINDOW: Duration = Duration::from_secs(1);

impl Sample {
    fn take(server: &ServerProcess, cpu: usize) -> io::Result<Sample> {
        Ok(Sample {
            at: Instant::now(),
            server: server.cpu_time()?,
            cpu_busy: sys::cpu_busy_time(cpu)?,
        })
    }

    fn until(&self, after: &Sample) -> Window {
        let server = after.server.saturating_sub(self.server);
        let busy = after.cpu_busy.saturating_sub(self.cpu_busy);
        let wall = after.at.duration_since(self.at);
        Window {
            server,
            others: (wall >= SHORTEST_OTHERS_WINDOW)
                .then(|| busy.saturating_sub(server).as_secs_f64() / wall.as_secs_f64()),
        }
    }
}

/// Where the servers and scripts are.
struct Places {
    /// The directory of this executable, where the Rust servers are built too.
    bin_dir: PathBuf,
    /// The `bench/` package directory, holding `python/` and the virtual environments.
    package: PathBuf,
    /// Where the servers' standard error goes.
    logs: PathBuf,
}

/// Everything a scenario needs.
struct Bench {
    counts: Counts,
    fanouts: Fanouts,
    places: Places,
    server_cpu: usize,
    client_cpu: usize,
}

impl Bench {
    /// The CPUs a server runs on, as the kernel writes the list.
    fn cpus(&self, threads: Threads) -> String {
        let (low, high) = match threads {
            Threads::Pinned => return self.server_cpu.to_string(),
            Threads::TwoWorkers if self.server_cpu < self.client_cpu => {
                (self.server_cpu, self.client_cpu)
            }
            Threads::TwoWorkers => (self.client_cpu, self.server_cpu),
        };
        if high == low + 1 {
            format!("{low}-{high}")
        } else {
            format!("{low},{high}")
        }
    }

    /// Starts a fresh server for one scenario.
    fn start(&self, spec: &Spec, threads: Threads) -> Outcome<ServerProcess> {
        let log = self.places.logs.join(format!("{}.log", spec.name));
        let cpus = self.cpus(threads);
        let started = match spec.program {
            Program::Rust { bin, args } => {
                let program = self.places.bin_dir.join(bin);
                if !program.exists() {
                    return Err(format!(
                        "{} is not built: run scripts/bench, or cargo build --release -p bench --bins",
                        program.display()
                    ));
                }
                let workers: &[&str] = match threads {
                    Threads::Pinned => &[],
                    Threads::TwoWorkers => &["--workers", "2"],
                };
                let args: Vec<&OsStr> = args.iter().chain(workers).map(OsStr::new).collect();
                ServerProcess::start(&program, &args, &cpus, &log)
            }
            Program::Python { venv, script } => {
                let python = self.places.package.join(venv).join("bin/python");
                if !python.exists() {
                    return Err(format!(
                        "skipped: no {} (scripts/bench makes it)",
                        python.display()
                    ));
                }
                if threads != Threads::Pinned {
                    return Err("a Python server has one thread".to_owned());
                }
                let script = self.places.package.join("python").join(script);
                ServerProcess::start(&python, &[script.as_os_str()], &cpus, &log)
            }
        };
        started.map_err(|error| error.to_string())
    }

    async fn echo(
        &self,
        spec: &Spec,
        threads: Threads,
        size: usize,
        messages: usize,
    ) -> Outcome<Echo> {
        let server = self.start(spec, threads)?;
        let payload = if spec.name == WITH_REPLIES.name {
            load::request(size)
        } else {
            load::payload(size)
        };
        let deadline = Instant::now() + self.counts.time_limit;
        let connections = self.counts.connections;
        let clients = load::open(server.addr(), connections, connections, &payload)
            .await
            .map_err(|error| format!("connecting failed: {error}"))?;
        let (clients, warm_up) =
            load::ping_pong(clients, WARM_UP_ECHOES, payload.clone(), deadline).await;
        if let Some(error) = warm_up.error {
            return Err(format!("warm-up failed: {error}"));
        }
        let before = Sample::take(&server, self.server_cpu).map_err(|e| e.to_string())?;
        let (_clients, run) = load::ping_pong(clients, messages, payload, deadline).await;
        let after = Sample::take(&server, self.server_cpu).map_err(|e| e.to_string())?;
        if let Some(error) = run.error {
            return Err(format!("failed after {} echoes: {error}", run.echoes));
        }
        let expected = (messages * connections) as u64;
        if run.echoes < expected {
            return Err(format!(
                "cut short by --time-limit: {} of {expected} echoes",
                run.echoes
            ));
        }
        let window = before.until(&after);
        let latency = |quantile| run.latency(quantile).map_or(0.0, report::as_nanos);
        Ok(Echo {
            per_second: run.echoes as f64 / run.elapsed.as_secs_f64(),
            p50: latency(0.5),
            p99: latency(0.99),
            cpu_per_message: report::as_nanos(window.server) / run.echoes as f64,
            others: window.others,
        })
    }

    async fn handshakes(&self, spec: &Spec) -> Outcome<Handshakes> {
        let server = self.start(spec, Threads::Pinned)?;
        let payload = load::payload(64);
        let deadline = Instant::now() + self.counts.time_limit;
        let concurrency = self.counts.handshake_concurrency;
        let warm_up = load::handshakes(
            server.addr(),
            concurrency,
            concurrency,
            payload.clone(),
            &[],
            deadline,
        )
        .await;
        if let Some(error) = warm_up.error {
            return Err(format!("warm-up failed: {error}"));
        }
        let before = Sample::take(&server, self.server_cpu).map_err(|e| e.to_string())?;
        let total = self.counts.handshakes;
        let run = load::handshakes(server.addr(), total, concurrency, payload, &[], deadline).await;
        let after = Sample::take(&server, self.server_cpu).map_err(|e| e.to_string())?;
        if run.completed == 0 {
            return Err(format!(
                "no handshake completed: {}",
                run.error.unwrap_or_default()
            ));
        }
        if run.completed + run.failed < total as u64 {
            return Err(format!(
                "cut short by --time-limit: {} of {total} handshakes",
                run.completed + run.failed
            ));
        }
        let window = before.until(&after);
        Ok(Handshakes {
            per_second: run.completed as f64 / run.elapsed.as_secs_f64(),
            cpu_per_handshake: report::as_nanos(window.server) / run.completed as f64,
            failed: run.failed,
            error: run.error,
            others: window.others,
        })
    }

    /// Fills a room with `members` members, then times the broadcasts and reads the
    /// server's CPU time over them.
    async fn fanout(&self, spec: &Spec, threads: Threads, members: usize) -> Outcome<Fanout> {
        let mut server = self.start(spec, threads)?;
        let deadline = Instant::now() + self.counts.time_limit;
        let mut room = Room::join(server.addr(), members, deadline)
            .await
            .map_err(|error| format!("joining failed: {error}"))?;
        for number in 0..FANOUT_WARM_UP {
            room.round(&format!("warm-up {number}"), deadline)
                .await
                .map_err(|error| format!("warm-up failed: {error}"))?;
            sleep(FANOUT_PAUSE).await;
        }
        let rounds = self.fanouts.rounds;
        let mut times = Vec::with_capacity(rounds);
        let before = Sample::take(&server, self.server_cpu).map_err(|e| e.to_string())?;
        for number in 0..rounds {
            let time = room
                .round(&format!("round {number}"), deadline)
                .await
                .map_err(|error| format!("round {number} failed: {error}"))?;
            times.push(report::as_nanos(time));
            sleep(FANOUT_PAUSE).await;
        }
        let after = Sample::take(&server, self.server_cpu).map_err(|e| e.to_string())?;
        server.check_alive().map_err(|e| e.to_string())?;
        let rss = server.rss().map_err(|e| e.to_string())?;
        times.sort_by(f64::total_cmp);
        let window = before.until(&after);
        Ok(Fanout {
            median: times[times.len() / 2],
            worst: times[times.len() - 1],
            cpu_per_delivery: report::as_nanos(window.server) / (rounds * members) as f64,
            rss,
            others: window.others.filter(|_| threads == Threads::Pinned),
        })
    }

    /// Fills a room's history, then has clients reconnect one after the other claiming its
    /// start, and reads the server's CPU time over the replays.
    async fn recovery(&self, spec: &Spec) -> Outcome<Replay> {
        let mut server = self.start(spec, Threads::Pinned)?;
        let addr = server.addr();
        let deadline = Instant::now() + self.counts.time_limit;
        let run = async {
            let (mut member, epoch) = bench::recovery::member(addr).await?;
            // Let the server settle before its memory is read.
            sleep(Duration::from_millis(500)).await;
            let before = server.rss()?;
            bench::recovery::fill(addr, &mut member, HISTORY_MESSAGES, HISTORY_MESSAGE_SIZE)
                .await?;
            sleep(Duration::from_millis(500)).await;
            let filled = server.rss()?;
            let start = Sample::take(&server, self.server_cpu)?;
            let clients = self.counts.replays;
            let elapsed = bench::recovery::replay(addr, &epoch, clients, HISTORY_MESSAGES).await?;
            let end = Sample::take(&server, self.server_cpu)?;
            let replayed = (clients * HISTORY_MESSAGES) as f64;
            let window = start.until(&end);
            Ok::<_, load::Error>(Replay {
                cpu_per_message: report::as_nanos(window.server) / replayed,
                per_second: replayed / elapsed.as_secs_f64(),
                history_rss: filled.saturating_sub(before) as f64,
                others: window.others,
            })
        };
        let replay = timeout_at(deadline, run)
            .await
            .map_err(|_| "cut short by --time-limit".to_owned())?
            .map_err(|error| format!("recovery run failed: {error}"))?;
        server.check_alive().map_err(|e| e.to_string())?;
        Ok(replay)
    }

    async fn idle(&self, spec: &Spec) -> Outcome<Idle> {
        let mut server = self.start(spec, Threads::Pinned)?;
        let payload = load::payload(64);
        let deadline = Instant::now() + self.counts.time_limit;
        let warm_up = load::open(server.addr(), IDLE_WARM_UP, IDLE_CONCURRENCY, &payload)
            .await
            .map_err(|error| format!("warm-up failed: {error}"))?;
        drop(warm_up);
        sleep(Duration::from_millis(500)).await;
        let before = server.rss().map_err(|e| e.to_string())?;
        let count = self.counts.idle;
        let opening = load::open(server.addr(), count, IDLE_CONCURRENCY, &payload);
        let clients = timeout_at(deadline, opening)
            .await
            .map_err(|_| format!("cut short by --time-limit while opening {count} connections"))?
            .map_err(|error| format!("opening {count} connections failed: {error}"))?;
        // Let the server finish whatever the last echoes started.
        sleep(Duration::from_secs(1)).await;
        server.check_alive().map_err(|e| e.to_string())?;
        let after = server.rss().map_err(|e| e.to_string())?;
        drop(server);
        drop(clients);
        let growth = after as f64 - before as f64;
        Ok(Idle {
            connections: count,
            before,
            growth,
            per_connection: growth / count as f64,
        })
    }
}

/// Runs `scenario` on every server, printing progress to standard error.
async fn each_server<T, F>(
    specs: &[Spec],
    label: &str,
    scenario: impl FnMut(Spec) -> F,
    store: impl Fn(&mut Results, Outcome<T>),
    results: &mut [Results],
    show: impl Fn(&T) -> String,
) where
    F: Future<Output = Outcome<T>>,
{
    let once = Rounds {
        count: 1,
        key: |_: &T| 0.0,
    };
    each_server_rounds(specs, label, once, scenario, store, results, show).await;
}

/// How many times [`each_server_rounds`] runs each server, and the figure whose median picks
/// the run it keeps.
struct Rounds<K> {
    count: usize,
    key: K,
}

/// Runs `scenario` on every server `rounds.count` times, the servers in turn within a round,
/// so that a drift in the machine's speed spreads over all of them alike; keeps each server's
/// run with the median `rounds.key` (the lower middle one of an even count), or its first
/// failure. The lowest of several engines' single runs is biased low by their noise; medians
/// of a few rounds are not.
async fn each_server_rounds<T, F, K>(
    specs: &[Spec],
    label: &str,
    rounds: Rounds<K>,
    mut scenario: impl FnMut(Spec) -> F,
    store: impl Fn(&mut Results, Outcome<T>),
    results: &mut [Results],
    show: impl Fn(&T) -> String,
) where
    F: Future<Output = Outcome<T>>,
    K: Fn(&T) -> f64,
{
    let mut runs: Vec<Vec<Outcome<T>>> = specs.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds.count {
        for (spec, runs) in specs.iter().zip(&mut runs) {
            if rounds.count > 1 {
                eprint!(
                    "{label}, round {round} of {}: {} ... ",
                    rounds.count, spec.name
                );
            } else {
                eprint!("{label}: {} ... ", spec.name);
            }
            let outcome = scenario(*spec).await;
            match &outcome {
                Ok(figures) => eprintln!("{}", show(figures)),
                Err(error) => eprintln!("{error}"),
            }
            runs.push(outcome);
        }
    }
    for (runs, results) in runs.into_iter().zip(results.iter_mut()) {
        store(results, median_run(runs, &rounds.key));
    }
}

/// The run with the median `key` (the lower middle one of an even count), or the first failure.
fn median_run<T>(runs: Vec<Outcome<T>>, key: impl Fn(&T) -> f64) -> Outcome<T> {
    let mut done = runs.into_iter().collect::<Result<Vec<T>, String>>()?;
    done.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let middle = done.len().saturating_sub(1) / 2;
    done.into_iter()
        .nth(middle)
        .ok_or_else(|| "no run".to_owned())
}

/// A cell for a failed or skipped run, short enough for a table.
fn failure(error: &str) -> String {
    const LONGEST: usize = 80;
    let error = error.replace('|', "/").replace('\n', " ");
    match error.char_indices().nth(LONGEST) {
        Some((at, _)) => format!("{}...", &error[..at]),
        None => error,
    }
}

fn echo_table(specs: &[Spec], results: &[Results], size: usize) -> Table {
    let mut table = Table::new(&[
        "server",
        "messages/s",
        "p50",
        "p99",
        "server CPU / message",
        "others on server CPU",
    ]);
    let floor = floor_of(specs, results, |results| results.echo[size].as_ref());
    for (spec, results) in specs.iter().zip(results) {
        let cells = match &results.echo[size] {
            Some(Ok(echo)) => vec![
                with_ratio(echo.per_second, floor.map(|f| f.per_second), report::rate),
                with_ratio(echo.p50, floor.map(|f| f.p50), report::nanos),
                with_ratio(echo.p99, floor.map(|f| f.p99), report::nanos),
                with_ratio(
                    echo.cpu_per_message,
                    floor.map(|f| f.cpu_per_message),
                    report::nanos,
                ),
                report::percent(echo.others),
            ],
            Some(Err(error)) => vec![failure(error)],
            None => vec![],
        };
        table.row([vec![spec.name.to_owned()], cells].concat());
    }
    table
}

fn handshake_table(specs: &[Spec], results: &[Results]) -> Table {
    let mut table = Table::new(&[
        "server",
        "handshakes/s",
        "server CPU / handshake",
        "failed",
        "others on server CPU",
    ]);
    let floor = floor_of(specs, results, |results| results.handshakes.as_ref());
    for (spec, results) in specs.iter().zip(results) {
        let cells = match &results.handshakes {
            Some(Ok(run)) => vec![
                with_ratio(run.per_second, floor.map(|f| f.per_second), report::rate),
                with_ratio(
                    run.cpu_per_handshake,
                    floor.map(|f| f.cpu_per_handshake),
                    report::nanos,
                ),
                match &run.error {
                    Some(error) => format!("{} ({})", run.failed, failure(error)),
                    None => run.failed.to_string(),
                },
                report::percent(run.others),
            ],
            Some(Err(error)) => vec![failure(error)],
            None => vec![],
        };
        table.row([vec![spec.name.to_owned()], cells].concat());
    }
    table
}

fn idle_table(specs: &[Spec], results: &[Results]) -> Table {
    let mut table = Table::new(&[
        "server",
        "idle connections",
        "RSS before",
        "RSS growth",
        "memory / idle connection",
    ]);
    let floor = floor_of(specs, results, |results| results.idle.as_ref());
    for (spec, results) in specs.iter().zip(results) {
        let cells = match &results.idle {
            Some(Ok(idle)) => vec![
                idle.connections.to_string(),
                report::bytes(idle.before as f64),
                with_ratio(idle.growth, floor.map(|f| f.growth), report::bytes),
                with_ratio(
                    idle.per_connection,
                    floor.map(|f| f.per_connection),
                    report::bytes,
                ),
            ],
            Some(Err(error)) => vec![failure(error)],
            None => vec![],
        };
        table.row([vec![spec.name.to_owned()], cells].concat());
    }
    table
}

fn fanout_table(specs: &[Spec], results: &[Results], size: usize) -> Table {
    let mut table = Table::new(&[
        "server",
        "publish to last delivery, median",
        "worst",
        "server CPU / delivery",
        "server RSS",
        "others on server CPU",
    ]);
    let floor = floor_of(specs, results, |results| results.fanout.get(size)?.as_ref());
    for (spec, results) in specs.iter().zip(results) {
        let cells = match results.fanout.get(size) {
            Some(Some(Ok(run))) => vec![
                with_ratio(run.median, floor.map(|f| f.median), report::nanos),
                with_ratio(run.worst, floor.map(|f| f.worst), report::nanos),
                with_ratio(
                    run.cpu_per_delivery,
                    floor.map(|f| f.cpu_per_delivery),
                    report::nanos,
                ),
                with_ratio(run.rss as f64, floor.map(|f| f.rss as f64), report::bytes),
                report::percent(run.others),
            ],
            Some(Some(Err(error))) => vec![failure(error)],
            _ => vec![],
        };
        table.row([vec![spec.name.to_owned()], cells].concat());
    }
    table
}

/// A figure of a run: what it is, how it is read from the run, how it is shown.
type Figure<T> = (&'static str, fn(&T) -> f64, fn(f64) -> String);

/// One row per figure of two runs side by side, the second with its ratio to the first.
fn rows<T>(
    table: &mut Table,
    scenario: &str,
    runs: &[Option<Outcome<T>>; 2],
    figures: &[Figure<T>],
) {
    for (what, figure, show) in figures {
        let mut cells = vec![format!("{scenario}: {what}")];
        let first = match &runs[0] {
            Some(Ok(run)) => Some(figure(run)),
            _ => None,
        };
        for (index, run) in runs.iter().enumerate() {
            cells.push(match run {
                Some(Ok(run)) if index == 1 => with_ratio(figure(run), first, show),
                Some(Ok(run)) => show(figure(run)),
                Some(Err(error)) => failure(error),
                None => String::new(),
            });
        }
        table.row(cells);
    }
}

/// ws-routes' plain echo and its request/reply round trip, side by side; the ratio is replies
/// to echo.
fn replies_table(replies: &[Option<Outcome<Echo>>; 2]) -> Table {
    let mut table = Table::new(&["ws-routes, 64 B", "echo", "request and reply"]);
    rows(
        &mut table,
        "round trip",
        replies,
        &[
            ("messages/s", |run| run.per_second, report::rate),
            ("p50", |run| run.p50, report::nanos),
            ("p99", |run| run.p99, report::nanos),
            (
                "server CPU / message",
                |run| run.cpu_per_message,
                report::nanos,
            ),
        ],
    );
    table
}

/// ws-routes on one thread and on two workers, side by side; the ratio is two to one.
fn workers_table(workers: &Workers, members: usize, one: &str, two: &str) -> Table {
    let mut table = Table::new(&["ws-routes", one, two]);
    rows(
        &mut table,
        &format!("fan-out to {members}"),
        &workers.fanout,
        &[
            (
                "publish to last delivery, median",
                |run| run.median,
                report::nanos,
            ),
            ("worst", |run| run.worst, report::nanos),
            (
                "server CPU / delivery",
                |run| run.cpu_per_delivery,
                report::nanos,
            ),
        ],
    );
    rows(
        &mut table,
        "echo 64 B",
        &workers.echo,
        &[
            ("messages/s", |run| run.per_second, report::rate),
            (
                "server CPU / message",
                |run| run.cpu_per_message,
                report::nanos,
            ),
        ],
    );
    table
}

/// One row per server with the figures the targets are about.
fn summary_table(specs: &[Spec], results: &[Results]) -> Table {
    let mut table = Table::new(&[
        "server",
        "CPU / message 64 B",
        "CPU / message 1 KiB",
        "CPU / message 64 KiB",
        "handshakes/s",
        "memory / idle connection",
    ]);
    let echo_floors: Vec<_> = (0..SIZES.len())
        .map(|size| floor_of(specs, results, |results| results.echo[size].as_ref()))
        .collect();
    let handshake_floor = floor_of(specs, results, |results| results.handshakes.as_ref());
    let idle_floor = floor_of(specs, results, |results| results.idle.as_ref());
    for (spec, results) in specs.iter().zip(results) {
        let mut cells = vec![spec.name.to_owned()];
        for (size, floor) in echo_floors.iter().enumerate() {
            cells.push(summary_cell(&results.echo[size], |echo| {
                with_ratio(
                    echo.cpu_per_message,
                    floor.map(|f| f.cpu_per_message),
                    report::nanos,
                )
            }));
        }
        cells.push(summary_cell(&results.handshakes, |run| {
            with_ratio(
                run.per_second,
                handshake_floor.map(|f| f.per_second),
                report::rate,
            )
        }));
        cells.push(summary_cell(&results.idle, |idle| {
            with_ratio(
                idle.per_connection,
                idle_floor.map(|f| f.per_connection),
                report::bytes,
            )
        }));
        table.row(cells);
    }
    table
}

/// For each scenario run, the engine of [`ENGINES`] with the lowest server CPU (or memory),
/// and ws-routes' figure as a ratio to it; `None` when ws-routes or every engine is missing.
fn engines_table(specs: &[Spec], results: &[Results]) -> Option<Table> {
    let at = |name: &str| specs.iter().position(|spec| spec.name == name);
    let ours = &results[at(WS_ROUTES)?];
    let engines: Vec<(&str, &Results)> = ENGINES
        .iter()
        .filter_map(|name| Some((*name, &results[at(name)?])))
        .collect();
    if engines.is_empty() {
        return None;
    }
    let mut table = Table::new(&["figure", "fastest engine", "its figure", "ws-routes"]);
    let mut row =
        |label: String, figure: &dyn Fn(&Results) -> Option<f64>, show: fn(f64) -> String| {
            let best = engines
                .iter()
                .filter_map(|(name, results)| Some((*name, figure(results)?)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let mine = figure(ours);
            if best.is_none() && mine.is_none() {
                // A scenario this run left out.
                return;
            }
            let (name, theirs) = match best {
                Some((name, value)) => (format!("`{name}`"), show(value)),
                None => ("-".to_owned(), "-".to_owned()),
            };
            let ours = mine.map_or_else(
                || "-".to_owned(),
                |value| with_ratio(value, best.map(|(_, value)| value), show),
            );
            table.row(vec![label, name, theirs, ours]);
        };
    fn ok<T>(outcome: &Option<Outcome<T>>) -> Option<&T> {
        outcome.as_ref()?.as_ref().ok()
    }
    for (size, (_, label)) in SIZES.iter().enumerate() {
        row(
            format!("server CPU / message, {label}"),
            &|results| ok(&results.echo[size]).map(|echo| echo.cpu_per_message),
            report::nanos,
        );
    }
    row(
        "server CPU / handshake".to_owned(),
        &|results| ok(&results.handshakes).map(|run| run.cpu_per_handshake),
        report::nanos,
    );
    row(
        "memory / idle connection".to_owned(),
        &|results| ok(&results.idle).map(|idle| idle.per_connection),
        report::bytes,
    );
    Some(table)
}

/// A summary cell: the figure, `failed` (the scenario's own table says why), or nothing.
fn summary_cell<T>(outcome: &Option<Outcome<T>>, show: impl Fn(&T) -> String) -> String {
    match outcome {
        Some(Ok(figures)) => show(figures),
        Some(Err(_)) => "failed".to_owned(),
        None => String::new(),
    }
}

/// The floor's figures of one scenario, when the floor ran it successfully.
fn floor_of<'a, T>(
    specs: &[Spec],
    results: &'a [Results],
    scenario: impl Fn(&'a Results) -> Option<&'a Outcome<T>>,
) -> Option<&'a T> {
    let at = specs.iter().position(|spec| spec.name == FLOOR)?;
    scenario(&results[at])?.as_ref().ok()
}

/// The specs of `list` that `--servers` names (all when it names none).
fn chosen(list: &[Spec], names: &[&'static str]) -> Vec<Spec> {
    list.iter()
        .filter(|spec| names.is_empty() || names.contains(&spec.name))
        .copied()
        .collect()
}

/// The spec called `name` in `list`.
fn named(list: &[Spec], name: &str) -> Spec {
    *list
        .iter()
        .find(|spec| spec.name == name)
        .expect("the server is listed")
}

fn main() -> Result<(), Box<dyn Error>> {
    let cli = Cli::parse();
    let counts = cli.counts();
    let fanouts = cli.fanout();
    let specs = chosen(SERVERS, &cli.servers);
    let fanout_specs = chosen(FANOUT_SERVERS, &cli.servers);
    sys::pin_to_cpu(cli.client_cpu).map_err(|error| {
        format!(
            "cannot pin the load generator to CPU {}: {error}",
            cli.client_cpu
        )
    })?;
    let largest_room = fanouts.members.last().copied().unwrap_or(0);
    let most_connections = counts.idle.max(largest_room) as u64;
    let open_files = sys::raise_open_files(most_connections + 1024)?;
    if open_files < most_connections + 64 {
        return Err(format!(
            "the open-file limit is {open_files}, too low for {most_connections} connections"
        )
        .into());
    }
    let exe = std::env::current_exe()?;
    let places = Places {
        bin_dir: exe.parent().map(Path::to_path_buf).unwrap_or_default(),
        package: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        logs: std::env::temp_dir().join("ws-routes-bench"),
    };
    std::fs::create_dir_all(&places.logs)?;
    let bench = Bench {
        counts,
        fanouts: fanouts.clone(),
        places,
        server_cpu: cli.server_cpu,
        client_cpu: cli.client_cpu,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let load_before = sys::load_average();
    let mut results: Vec<Results> = specs.iter().map(|_| Results::default()).collect();
    let mut fanout_results: Vec<Results> =
        fanout_specs.iter().map(|_| Results::default()).collect();
    let mut workers = Workers::default();
    let mut replay = None;
    let mut replies: [Option<Outcome<Echo>>; 2] = Default::default();
    runtime.block_on(async {
        let bench = &bench;
        if cli.runs(Section::Echo) {
            for (index, (size, label)) in SIZES.iter().enumerate() {
                let messages = if *size >= 64 << 10 {
                    counts.large_messages
                } else {
                    counts.messages
                };
                let rounds = Rounds {
                    count: counts.rounds,
                    key: |echo: &Echo| echo.cpu_per_message,
                };
                each_server_rounds(
                    &specs,
                    &format!("echo {label}"),
                    rounds,
                    |spec| async move { bench.echo(&spec, Threads::Pinned, *size, messages).await },
                    |results, outcome| results.echo[index] = Some(outcome),
                    &mut results,
                    show_echo,
                )
                .await;
            }
        }
        if cli.runs(Section::Handshakes) {
            let rounds = Rounds {
                count: counts.rounds,
                key: |run: &Handshakes| run.cpu_per_handshake,
            };
            each_server_rounds(
                &specs,
                "handshakes",
                rounds,
                |spec| async move { bench.handshakes(&spec).await },
                |results, outcome| results.handshakes = Some(outcome),
                &mut results,
                |run| format!("{}/s", report::rate(run.per_second)),
            )
            .await;
        }
        if cli.runs(Section::Idle) {
            each_server(
                &specs,
                "idle",
                |spec| async move { bench.idle(&spec).await },
                |results, outcome| results.idle = Some(outcome),
                &mut results,
                |idle| format!("{} / connection", report::bytes(idle.per_connection)),
            )
            .await;
        }
        if cli.runs(Section::Fanout) {
            for &members in &fanouts.members {
                each_server(
                    &fanout_specs,
                    &format!("fan-out to {members}"),
                    |spec| async move { bench.fanout(&spec, Threads::Pinned, members).await },
                    |results, outcome| results.fanout.push(Some(outcome)),
                    &mut fanout_results,
                    show_fanout,
                )
                .await;
            }
        }
        if cli.runs(Section::Recovery) {
            let spec = named(FANOUT_SERVERS, WITH_HISTORY);
            eprint!("recovery: {} ... ", spec.name);
            let outcome = bench.recovery(&spec).await;
            eprintln!(
                "{}",
                outcome.as_ref().map_or_else(Clone::clone, show_replay)
            );
            replay = Some(outcome);
        }
        if cli.runs(Section::Replies) {
            for (index, spec) in [named(SERVERS, WS_ROUTES), WITH_REPLIES].iter().enumerate() {
                eprint!("echo 64 B: {} ... ", spec.name);
                let outcome = bench.echo(spec, Threads::Pinned, 64, counts.messages).await;
                eprintln!("{}", outcome.as_ref().map_or_else(Clone::clone, show_echo));
                replies[index] = Some(outcome);
            }
        }
        if cli.runs(Section::Workers) {
            let fanout = named(FANOUT_SERVERS, WS_ROUTES);
            let echo = named(SERVERS, WS_ROUTES);
            for (index, threads) in [Threads::Pinned, Threads::TwoWorkers]
                .into_iter()
                .enumerate()
            {
                eprint!("fan-out to {largest_room}, {threads:?}: ws-routes ... ");
                let outcome = bench.fanout(&fanout, threads, largest_room).await;
                eprintln!(
                    "{}",
                    outcome.as_ref().map_or_else(Clone::clone, show_fanout)
                );
                workers.fanout[index] = Some(outcome);
                eprint!("echo 64 B, {threads:?}: ws-routes ... ");
                let outcome = bench.echo(&echo, threads, 64, counts.messages).await;
                eprintln!("{}", outcome.as_ref().map_or_else(Clone::clone, show_echo));
                workers.echo[index] = Some(outcome);
            }
        }
    });

    println!(
        "## Results{}\n",
        if cli.smoke {
            " (smoke run: small counts, figures are indicative only)"
        } else {
            ""
        }
    );
    println!("Machine: {}.", sys::machine());
    println!(
        "Servers on CPU {}, load generator on CPU {}; load average {load_before} before, {} after.",
        cli.server_cpu,
        cli.client_cpu,
        sys::load_average()
    );
    let classic = [Section::Echo, Section::Handshakes, Section::Idle];
    if classic.into_iter().any(|section| cli.runs(section)) {
        println!(
            "Counts: {} connections x {} echoes (64 B, 1 KiB) / {} echoes (64 KiB); {} handshakes, \
             {} at a time; {} idle connections. Echo and handshake figures: each server's run \
             with the median server CPU of {} rounds.\n",
            counts.connections,
            counts.messages,
            counts.large_messages,
            counts.handshakes,
            counts.handshake_concurrency,
            counts.idle,
            counts.rounds
        );
        println!("Servers:\n");
        for spec in &specs {
            println!("- `{}`: {}", spec.name, spec.about);
        }
        println!("\nFigures in parentheses are ratios to `{FLOOR}`.\n");
        println!("### Summary\n\n{}", summary_table(&specs, &results));
        if let Some(table) = engines_table(&specs, &results) {
            println!(
                "### ws-routes against the fastest engine\n\n\
                 In each scenario, the engine among {} with the lowest figure, and ws-routes' \
                 ratio to it.\n\n{table}",
                ENGINES
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if cli.runs(Section::Echo) {
        for (index, (_, label)) in SIZES.iter().enumerate() {
            println!(
                "### Echo, {label} text messages, {} connections\n\n{}",
                counts.connections,
                echo_table(&specs, &results, index)
            );
        }
    }
    if cli.runs(Section::Handshakes) {
        println!(
            "### Handshakes: connect, one 64 B echo, close; {} at a time\n\n{}",
            counts.handshake_concurrency,
            handshake_table(&specs, &results)
        );
    }
    if cli.runs(Section::Idle) {
        println!(
            "### Idle connections (RSS growth / connections)\n\n{}",
            idle_table(&specs, &results)
        );
    }
    if cli.runs(Section::Fanout) {
        println!(
            "### Fan-out: one 16 B text to every member of a room; {} broadcasts after {FANOUT_WARM_UP} unmeasured\n",
            fanouts.rounds
        );
        for spec in &fanout_specs {
            println!("- `{}`: {}", spec.name, spec.about);
        }
        println!();
        for (index, members) in fanouts.members.iter().enumerate() {
            println!(
                "#### {members} members\n\n{}",
                fanout_table(&fanout_specs, &fanout_results, index)
            );
        }
    }
    if cli.runs(Section::Workers) {
        let one = format!("1 thread, CPU {}", bench.cpus(Threads::Pinned));
        let two = format!("2 workers, CPUs {}", bench.cpus(Threads::TwoWorkers));
        println!(
            "### ws-routes on 2 runtime workers against 1 thread\n\n\
             The 2-worker server shares CPU {} with the load generator; in parentheses, 2 \
             workers / 1 thread.\n\n{}",
            cli.client_cpu,
            workers_table(&workers, largest_room, &one, &two)
        );
    }
    if cli.runs(Section::Replies) {
        println!(
            "### Replies: a request and its reply against a plain echo, 64 B, {} connections\n\n\
             `{}`: {}. In parentheses, replies / echo.\n\n{}",
            counts.connections,
            WITH_REPLIES.name,
            WITH_REPLIES.about,
            replies_table(&replies)
        );
    }
    if let Some(replay) = &replay {
        println!(
            "### Recovery: a room's history replayed to reconnecting clients\n\n\
             `{WITH_HISTORY}` with a history of {HISTORY_MESSAGES} texts of \
             {HISTORY_MESSAGE_SIZE} B; {} clients reconnect one after the other, each claiming \
             the start of the history, and read it all.\n\n{}",
            counts.replays,
            replay_table(replay, counts.replays)
        );
    }
    if cfg!(debug_assertions) {
        println!("Warning: compare and the servers next to it were built without --release.");
    }
    Ok(())
}

fn show_echo(echo: &Echo) -> String {
    format!(
        "{}/s, server CPU {} / message",
        report::rate(echo.per_second),
        report::nanos(echo.cpu_per_message)
    )
}

fn show_replay(run: &Replay) -> String {
    format!(
        "server CPU {} / replayed message, {:.0} replayed/s",
        report::nanos(run.cpu_per_message),
        run.per_second
    )
}

/// The recovery run's figures, one a row.
fn replay_table(replay: &Outcome<Replay>, clients: usize) -> Table {
    let mut table = Table::new(&["ws-routes, room history on", "figure"]);
    match replay {
        Ok(run) => {
            table.row(vec![
                format!("server CPU / replayed message ({clients} clients, handshakes included)"),
                report::nanos(run.cpu_per_message),
            ]);
            table.row(vec![
                "replayed messages / s, one client after the other".to_owned(),
                format!("{:.0}", run.per_second),
            ]);
            table.row(vec![
                format!(
                    "server RSS growth for one room's history ({HISTORY_MESSAGES} x \
                     {HISTORY_MESSAGE_SIZE} B)"
                ),
                report::bytes(run.history_rss),
            ]);
            table.row(vec![
                "others on server CPU".to_owned(),
                report::percent(run.others),
            ]);
        }
        Err(error) => table.row(vec!["failed".to_owned(), failure(error)]),
    }
    table
}

fn show_fanout(run: &Fanout) -> String {
    format!(
        "median {}, server CPU {} / delivery",
        report::nanos(run.median),
        report::nanos(run.cpu_per_delivery)
    )
}
