//! What the integration tests share: starting a server on a free port and reading replies.

#![allow(dead_code)]

pub mod redis;

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

/// Connects to `path` on `addr`.
pub async fn connect(addr: SocketAddr, path: &str) -> WebSocket {
    ws_routes::connect(&format!("ws://{addr}{path}"))
        .await
        .expect("connect")
}

/// Connects to a full `ws://` URL.
pub async fn connect_url(url: &str) -> WebSocket {
    ws_routes::connect(url).await.expect("connect")
}

/// How long a test waits for anything on the network before it fails.
pub const NETWORK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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
    binary
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
