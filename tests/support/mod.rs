//! What the integration tests share: starting a server on a free port and reading replies.

#![allow(dead_code)]

pub mod cluster;
pub mod hardening;
pub mod log;
pub mod raw;
pub mod redis;
pub mod rooms;

use std::net::SocketAddr;

use ws_routes::{Message, Routes, Server, WebSocket};

/// Serves `routes` on a free port of 127.0.0.1 and returns the address.
pub async fn spawn(routes: Routes) -> SocketAddr {
    spawn_server(Server::new(routes)).await
}

/// Serves `server` on a free port of 127.0.0.1 and returns the address.
pub async fn spawn_server(server: Server) -> SocketAddr {
    let listening = server.bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listening.local_addr().expect("local address");
    tokio::spawn(listening.run());
    addr
}

/// Connects to `path` on `addr`, within [`NETWORK_TIMEOUT`].
pub async fn connect(addr: SocketAddr, path: &str) -> WebSocket {
    connect_url(&format!("ws://{addr}{path}")).await
}

/// Connects to a full `ws://` URL, within [`NETWORK_TIMEOUT`], without offering
/// permessage-deflate: the tests of limits, queues and stalled readers fill socket buffers with
/// repetitive data, which compression would shrink a thousandfold. Compression has tests of its
/// own (tests/compression.rs, and the Python, Chromium and mounted ones).
pub async fn connect_url(url: &str) -> WebSocket {
    let plain = ws_routes::Client::new().compression(ws_routes::Compression::disabled());
    within(plain.connect(url)).await.expect("connect")
}

/// How long a test waits for anything on the network before it fails.
pub const NETWORK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Awaits `future` for up to [`NETWORK_TIMEOUT`]; panics, rather than hangs, past it.
pub async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(NETWORK_TIMEOUT, future)
        .await
        .expect("nothing within the network timeout")
}

/// The next message, within [`NETWORK_TIMEOUT`].
pub async fn next(ws: &mut WebSocket) -> Option<Result<Message, ws_routes::Error>> {
    tokio::time::timeout(NETWORK_TIMEOUT, ws.recv())
        .await
        .expect("no message within the network timeout")
}

/// The next text message; panics on anything else.
pub async fn text(ws: &mut WebSocket) -> String {
    match next(ws).await {
        Some(Ok(Message::Text(text))) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Reads until the connection closes and returns the code and reason of the server's close
/// frame; panics on a failure or a close without a frame.
pub async fn close_frame(ws: &mut WebSocket) -> (u16, String) {
    loop {
        match next(ws).await {
            Some(Ok(_)) => continue,
            Some(Err(error)) => panic!("connection failed before its close frame: {error}"),
            None => break,
        }
    }
    let frame = ws
        .close_frame()
        .expect("connection ended without a close frame");
    (frame.code.as_u16(), frame.reason.to_string())
}

/// Reads until the connection ends, cleanly or not, and returns the close frame it got, if any.
pub async fn until_closed(ws: &mut WebSocket) -> Option<(u16, String)> {
    while let Some(Ok(_)) = next(ws).await {}
    ws.close_frame()
        .map(|frame| (frame.code.as_u16(), frame.reason.to_string()))
}

/// Sends `text` and returns the text reply.
pub async fn ask(ws: &mut WebSocket, text: &str) -> String {
    ws.send(text).await.expect("send");
    self::text(ws).await
}

/// A running example binary (built by `cargo test` next to the test binaries), killed when
/// dropped.
pub struct Example {
    child: std::process::Child,
    /// The `ws://host:port` it said it listens on.
    pub url: String,
}

impl Example {
    /// Starts `examples/NAME.rs` with `args` and waits for the line saying where it listens.
    pub fn start(name: &str, args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(example_binary(name))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the example");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        let at = line
            .find("ws://")
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let address = &line[at..];
        let end = address[5..]
            .find('/')
            .map_or(address.trim_end().len(), |slash| slash + 5);
        Example {
            child,
            url: address[..end].to_owned(),
        }
    }
}

impl Example {
    /// The process id, to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the example") {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            // Polling a child process: there is no portable way to wait with a deadline.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a plain HTTP `GET path` to a running example; panics unless it answers 200.
pub async fn get(example: &Example, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = example.url.trim_start_matches("ws://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    let (_, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    body.to_owned()
}

/// The path of an example binary.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let deps = std::env::current_exe().expect("test binary path");
    let profile = deps
        .parent()
        .and_then(|dir| dir.parent())
        .expect("target profile directory");
    let binary = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test`, which builds the examples",
        binary.display()
    );
    // `cargo test --test NAME` builds no example: an old binary would test old code.
    let built = modified(&binary);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for source in [
        root.join("examples").join(format!("{name}.rs")),
        root.join("examples/common"),
        root.join("ws-routes/src"),
        root.join("ws-routes-macros/src"),
    ] {
        assert!(
            newest(&source) <= built,
            "{} is older than {}: build the examples (`cargo build --all-features --examples`, \
             or a plain `cargo test`, which builds them) before `cargo test --test ...`",
            binary.display(),
            source.display()
        );
    }
    binary
}

fn modified(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The newest modification time of `path` or, for a directory, of any file under it.
fn newest(path: &std::path::Path) -> std::time::SystemTime {
    if !path.is_dir() {
        return modified(path);
    }
    std::fs::read_dir(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .map(|entry| newest(&entry.expect("a directory entry").path()))
        .fold(std::time::SystemTime::UNIX_EPOCH, std::cmp::max)
}

/// Python with the `websockets` package (`WS_ROUTES_PYTHON`, else `.venv/bin/python`), as
/// `scripts/test` installs it; panics with what to do when it is missing. The tests that need
/// it are `#[ignore]`d, so plain `cargo test` lists them as ignored instead of running them.
pub fn python() -> std::path::PathBuf {
    let python = std::env::var_os("WS_ROUTES_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
        });
    assert!(
        python.exists(),
        "{} is missing: run `scripts/test`, which installs it",
        python.display()
    );
    python
}

/// A script of `tests/python/`.
pub fn python_script(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// Runs `script` against `url`; it prints "ok" when its checks pass.
pub async fn python_checks(script: &str, url: &str) {
    let output = within(
        tokio::process::Command::new(python())
            .arg(python_script(script))
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("run python");
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "ok",
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls `condition` for up to ten seconds.
pub async fn wait_for(mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("condition not met within ten seconds");
}
