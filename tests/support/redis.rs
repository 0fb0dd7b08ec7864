//! A `redis-server` of the tests' own, on a free port, and a proxy in front of it that a test
//! can cut, to choose which server loses Redis and which gets it back first; waiting for what
//! the backplane does.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use ws_routes::Rooms;
use ws_routes::rooms::BackplaneStats;

/// A `redis-server` of our own, killed when dropped.
pub struct Redis {
    child: Child,
    port: u16,
    /// Where it keeps its append-only file, when it has one; removed when dropped.
    dir: Option<PathBuf>,
}

impl Redis {
    /// Starts one without persistence on a free port (it comes back empty after
    /// [`start_again`](Self::start_again)); fails the test, saying so, when the binary is
    /// missing (the tests that need it are `#[ignore]`d for plain `cargo test`).
    pub fn start() -> Redis {
        Self::start_with(free_port(), None)
    }

    /// Starts one that writes every command to an append-only file before answering
    /// (`appendfsync always`), in a directory of its own, so that it comes back after a kill
    /// with everything it acknowledged: a deployment that keeps its data.
    pub fn start_persistent() -> Redis {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("ws-routes-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the Redis directory");
        Self::start_with(port, Some(dir))
    }

    fn start_with(port: u16, dir: Option<PathBuf>) -> Redis {
        match Self::spawn(port, dir) {
            Ok(redis) => redis,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                panic!("redis-server is not installed; `scripts/test` installs it")
            }
            Err(error) => panic!("could not start redis-server: {error}"),
        }
    }

    fn spawn(port: u16, dir: Option<PathBuf>) -> std::io::Result<Redis> {
        let mut command = Command::new("redis-server");
        command.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
        match &dir {
            Some(dir) => {
                command.arg("--dir").arg(dir);
                command.args([
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                ]);
            }
            None => {
                command.args(["--save", "", "--appendonly", "no"]);
            }
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let redis = Redis { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis.answers() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    /// Whether it answers a PING (a persistent one listens before it has loaded its file).
    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (SIGKILL: no shutdown, nothing saved on the way out).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port: empty, or from its append-only file.
    pub fn start_again(&mut self) {
        let fresh = Self::spawn(self.port, self.dir.take()).expect("restart redis-server");
        let _ = std::mem::replace(self, fresh);
    }

    /// Runs one command given as its arguments, and returns the raw reply's first line.
    pub fn command(&self, args: &[&[u8]]) -> String {
        use std::io::{BufRead, BufReader, Write};
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to Redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(&request).expect("send to Redis");
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .expect("a reply from Redis");
        line.trim_end().to_owned()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A TCP proxy to a Redis on 127.0.0.1: while closed it cuts every connection through it and
/// refuses new ones, as if Redis were away for the servers behind it alone.
pub struct Proxy {
    port: u16,
    open: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts an open proxy to `upstream` on a free port.
    pub async fn start(upstream: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let (open, state) = watch::channel(true);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut state = state.clone();
                if !*state.borrow() {
                    continue;
                }
                tokio::spawn(async move {
                    let connect = tokio::net::TcpStream::connect(("127.0.0.1", upstream));
                    let Ok(Ok(mut upstream)) =
                        tokio::time::timeout(Duration::from_secs(2), connect).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = state.wait_for(|open| !open) => {}
                    }
                });
            }
        });
        Proxy { port, open, accept }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Opens it, or closes it (cutting the connections through it).
    pub fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Ports given to a test of this process by [`free_port`] or [`free_node_port`].
static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port that was free a moment ago (redis-server cannot be told to pick one itself), and
/// that no other test of this process was given. The kernel frees the port it picked as soon
/// as it is read; tests starting servers at once could otherwise each be given the same one,
/// and one server would then answer for both.
pub fn free_port() -> u16 {
    loop {
        let port = kernel_free_port();
        if claim(port) {
            return port;
        }
    }
}

/// A free port, as [`free_port`], for a Redis Cluster node: its cluster bus listens 10,000
/// above it, a port that must exist, be free and be given to no other test as well.
pub fn free_node_port() -> u16 {
    loop {
        let port = kernel_free_port();
        let Some(bus) = port.checked_add(10_000) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", bus)).is_ok() && claim(port) && claim(bus) {
            return port;
        }
    }
}

/// A port the kernel picks, free till it is read.
fn kernel_free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// Whether no test of this process was given `port` before; it is given now.
fn claim(port: u16) -> bool {
    GIVEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(port)
}

/// What the Redis backplane of `rooms` has done; panics on rooms without one.
pub fn stats(rooms: &Rooms) -> BackplaneStats {
    rooms.backplane_stats().expect("a Redis backplane")
}

/// Polls `condition` every 20 ms until it holds, for up to `within`.
pub async fn wait_until<F: Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut condition: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the backplane's publisher and reader are both connected: from then on, every
/// broadcast of any server reaches this one. Twenty seconds at most (a reconnect waits up to
/// two seconds of backoff; the rest is slack for a loaded machine).
pub async fn connected(rooms: &Rooms) {
    wait_until("connected to Redis", Duration::from_secs(20), || async {
        stats(rooms).connected
    })
    .await;
}

/// A server on a runtime of its own, which a test can tear down without any cleanup, as a
/// crash would: its tasks are dropped mid-flight and nothing more is said to Redis or to its
/// clients.
pub struct Crashable {
    runtime: Option<tokio::runtime::Runtime>,
    pub addr: std::net::SocketAddr,
}

impl Crashable {
    /// Runs `serve` on a new runtime: it starts the server there and returns its address.
    pub async fn start<F>(serve: impl FnOnce() -> F + Send + 'static) -> Crashable
    where
        F: Future<Output = std::net::SocketAddr>,
    {
        let start = move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let addr = runtime.block_on(serve());
            Crashable {
                runtime: Some(runtime),
                addr,
            }
        };
        tokio::task::spawn_blocking(start)
            .await
            .expect("start the crashable server")
    }

    pub fn crash(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Crashable {
    fn drop(&mut self) {
        self.crash();
    }
}

/// The partition of a room or user among `partitions`, as the README documents it (and
/// servers sharing rooms must agree on): FNV-1a of its name, modulo the partitions.
pub fn partition(name: &str, partitions: u16) -> u16 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    u16::try_from(hash % u64::from(partitions)).expect("below the partitions")
}

/// Waits until the backplane of `rooms` is connected and reads `streams` streams.
pub async fn reading(rooms: &Rooms, streams: usize) {
    wait_until(
        "the backplane reads its streams",
        Duration::from_secs(20),
        || async {
            let stats = stats(rooms);
            stats.connected && stats.streams_read == streams
        },
    )
    .await;
}
