//! Runs every echo server under test in turn, pinned to one CPU, against the load generator
//! pinned to the other, and prints the results as Markdown tables with every figure's ratio to
//! the raw tokio-tungstenite floor.
//!
//! Each scenario starts a fresh server process: ping-pong at 64 B, 1 KiB and 64 KiB; the
//! handshake rate; and a run holding thousands of idle connections. Scenarios are the outer
//! loop and servers the inner one, so that slow drifts in the machine's load spread over every
//! server alike. Only 127.0.0.1 is ever targeted, and every run is bounded in count and time.
//!
//! ```text
//! scripts/bench            # builds every server and the Python environments, then runs this
//! scripts/bench --smoke    # small counts, to check that everything works
//! ```

use std::error::Error;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use tokio::time::{Instant, sleep, timeout_at};

use bench::load;
use bench::process::ServerProcess;
use bench::report::{self, Table, with_ratio};
use bench::sys;

/// Compare the echo servers: messages/s, latency, server CPU per message, handshakes/s and
/// memory per idle connection, each as a ratio to the raw tokio-tungstenite floor.
#[derive(Parser)]
struct Cli {
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
    /// Idle connections to hold [default: 10000, smoke: 1000].
    #[arg(long)]
    idle: Option<usize>,
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

/// The counts of one invocation.
#[derive(Debug, Clone, Copy)]
struct Counts {
    connections: usize,
    messages: usize,
    large_messages: usize,
    handshakes: usize,
    handshake_concurrency: usize,
    idle: usize,
    time_limit: Duration,
}

impl Cli {
    fn counts(&self) -> Counts {
        let (messages, large_messages, handshakes, idle) = if self.smoke {
            (100, 10, 300, 1000)
        } else {
            (2000, 200, 5000, 10_000)
        };
        Counts {
            connections: self.connections.unwrap_or(50),
            messages: self.messages.unwrap_or(messages),
            large_messages: self.large_messages.unwrap_or(large_messages),
            handshakes: self.handshakes.unwrap_or(handshakes),
            handshake_concurrency: self.handshake_concurrency,
            idle: self.idle.unwrap_or(idle),
            time_limit: Duration::from_secs(self.time_limit),
        }
    }
}

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

fn server_name(name: &str) -> Result<&'static str, String> {
    SERVERS
        .iter()
        .find(|spec| spec.name == name)
        .map(|spec| spec.name)
        .ok_or_else(|| {
            let names: Vec<_> = SERVERS.iter().map(|spec| spec.name).collect();
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
    places: Places,
    server_cpu: usize,
}

impl Bench {
    /// Starts a fresh server for one scenario.
    fn start(&self, spec: &Spec) -> Outcome<ServerProcess> {
        let log = self.places.logs.join(format!("{}.log", spec.name));
        let started = match spec.program {
            Program::Rust { bin, args } => {
                let program = self.places.bin_dir.join(bin);
                if !program.exists() {
                    return Err(format!(
                        "{} is not built: run scripts/bench, or cargo build --release -p bench --bins",
                        program.display()
                    ));
                }
                let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
                ServerProcess::start(&program, &args, self.server_cpu, &log)
            }
            Program::Python { venv, script } => {
                let python = self.places.package.join(venv).join("bin/python");
                if !python.exists() {
                    return Err(format!(
                        "skipped: no {} (scripts/bench makes it)",
                        python.display()
                    ));
                }
                let script = self.places.package.join("python").join(script);
                ServerProcess::start(&python, &[script.as_os_str()], self.server_cpu, &log)
            }
        };
        started.map_err(|error| error.to_string())
    }

    async fn echo(&self, spec: &Spec, size: usize, messages: usize) -> Outcome<Echo> {
        let server = self.start(spec)?;
        let payload = load::payload(size);
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
        let server = self.start(spec)?;
        let payload = load::payload(64);
        let deadline = Instant::now() + self.counts.time_limit;
        let concurrency = self.counts.handshake_concurrency;
        let warm_up = load::handshakes(
            server.addr(),
            concurrency,
            concurrency,
            payload.clone(),
            deadline,
        )
        .await;
        if let Some(error) = warm_up.error {
            return Err(format!("warm-up failed: {error}"));
        }
        let before = Sample::take(&server, self.server_cpu).map_err(|e| e.to_string())?;
        let total = self.counts.handshakes;
        let run = load::handshakes(server.addr(), total, concurrency, payload, deadline).await;
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

    async fn idle(&self, spec: &Spec) -> Outcome<Idle> {
        let mut server = self.start(spec)?;
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
    mut scenario: impl FnMut(Spec) -> F,
    store: impl Fn(&mut Results, Outcome<T>),
    results: &mut [Results],
    show: impl Fn(&T) -> String,
) where
    F: Future<Output = Outcome<T>>,
{
    for (spec, results) in specs.iter().zip(results.iter_mut()) {
        eprint!("{label}: {} ... ", spec.name);
        let outcome = scenario(*spec).await;
        match &outcome {
            Ok(figures) => eprintln!("{}", show(figures)),
            Err(error) => eprintln!("{error}"),
        }
        store(results, outcome);
    }
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

fn main() -> Result<(), Box<dyn Error>> {
    let cli = Cli::parse();
    let counts = cli.counts();
    let specs: Vec<Spec> = if cli.servers.is_empty() {
        SERVERS.to_vec()
    } else {
        SERVERS
            .iter()
            .filter(|spec| cli.servers.contains(&spec.name))
            .copied()
            .collect()
    };
    sys::pin_to_cpu(cli.client_cpu).map_err(|error| {
        format!(
            "cannot pin the load generator to CPU {}: {error}",
            cli.client_cpu
        )
    })?;
    let open_files = sys::raise_open_files(counts.idle as u64 + 1024)?;
    if open_files < counts.idle as u64 + 64 {
        return Err(format!(
            "the open-file limit is {open_files}, too low for --idle {}",
            counts.idle
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
        places,
        server_cpu: cli.server_cpu,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let load_before = sys::load_average();
    let mut results: Vec<Results> = specs.iter().map(|_| Results::default()).collect();
    runtime.block_on(async {
        for (index, (size, label)) in SIZES.iter().enumerate() {
            let messages = if *size >= 64 << 10 {
                counts.large_messages
            } else {
                counts.messages
            };
            each_server(
                &specs,
                &format!("echo {label}"),
                |spec| {
                    let bench = &bench;
                    async move { bench.echo(&spec, *size, messages).await }
                },
                |results, outcome| results.echo[index] = Some(outcome),
                &mut results,
                |echo| {
                    format!(
                        "{}/s, server CPU {} / message",
                        report::rate(echo.per_second),
                        report::nanos(echo.cpu_per_message)
                    )
                },
            )
            .await;
        }
        each_server(
            &specs,
            "handshakes",
            |spec| {
                let bench = &bench;
                async move { bench.handshakes(&spec).await }
            },
            |results, outcome| results.handshakes = Some(outcome),
            &mut results,
            |run| format!("{}/s", report::rate(run.per_second)),
        )
        .await;
        each_server(
            &specs,
            "idle",
            |spec| {
                let bench = &bench;
                async move { bench.idle(&spec).await }
            },
            |results, outcome| results.idle = Some(outcome),
            &mut results,
            |idle| format!("{} / connection", report::bytes(idle.per_connection)),
        )
        .await;
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
    println!(
        "Counts: {} connections x {} echoes (64 B, 1 KiB) / {} echoes (64 KiB); {} handshakes, \
         {} at a time; {} idle connections.\n",
        counts.connections,
        counts.messages,
        counts.large_messages,
        counts.handshakes,
        counts.handshake_concurrency,
        counts.idle
    );
    println!("Servers:\n");
    for spec in &specs {
        println!("- `{}`: {}", spec.name, spec.about);
    }
    println!("\nFigures in parentheses are ratios to `{FLOOR}`.\n");
    println!("### Summary\n\n{}", summary_table(&specs, &results));
    for (index, (_, label)) in SIZES.iter().enumerate() {
        println!(
            "### Echo, {label} text messages, {} connections\n\n{}",
            counts.connections,
            echo_table(&specs, &results, index)
        );
    }
    println!(
        "### Handshakes: connect, one 64 B echo, close; {} at a time\n\n{}",
        counts.handshake_concurrency,
        handshake_table(&specs, &results)
    );
    println!(
        "### Idle connections (RSS growth / connections)\n\n{}",
        idle_table(&specs, &results)
    );
    if cfg!(debug_assertions) {
        println!("Warning: compare and the servers next to it were built without --release.");
    }
    Ok(())
}
