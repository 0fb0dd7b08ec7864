//! The load generator: tokio-tungstenite clients that open connections, ping-pong text
//! messages, and cycle through handshakes. Every run is bounded in count and by a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

/// A client connection.
pub type Client = WebSocketStream<TcpStream>;

/// How long one step (connecting, one echo, closing) may take before it counts as failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a step of the load failed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What a browser's WebSocket request carries beside the handshake's own headers (its
/// permessage-deflate offer aside, which these clients cannot take up): what handshake cycles
/// send with `drive --browser-headers`, for a server whose handshake work grows with them.
pub const BROWSER_HEADERS: [(&str, &str); 9] = [
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 \
         Safari/537.36",
    ),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("accept-language", "en-GB,en;q=0.9"),
    ("cache-control", "no-cache"),
    ("pragma", "no-cache"),
    ("origin", "http://localhost:8000"),
    ("cookie", "session=3f2a9c1e7b5d4a8f; theme=dark"),
    (
        "authorization",
        "Bearer abcdefghijklmnopqrstuvwxyz0123456789",
    ),
    ("x-request-id", "6e0c1b7a-5d2f-4c3e-9a8b-1f2e3d4c5b6a"),
];

/// A text message of `size` ASCII bytes.
pub fn payload(size: usize) -> Utf8Bytes {
    let text: String = (0..size)
        .map(|index| char::from(b'a' + (index % 26) as u8))
        .collect();
    text.into()
}

/// A request of `ws_routes::reply` carrying a text of `size` ASCII bytes: its answer from a
/// route that replies with the payload is as long (`\x1e=1 ` for `\x1e?1 `), so the echo
/// runs time it as they time an echo. Every request is number 1: the route answers each one
/// and the client waits for it before the next.
pub fn request(size: usize) -> Utf8Bytes {
    format!("\u{1e}?1 {}", payload(size)).into()
}

/// Connects to `ws://ADDR/echo/ID`, with small client buffers so that thousands of idle
/// clients stay cheap on the generator's side.
pub async fn connect(addr: SocketAddr, id: usize) -> Result<Client, Error> {
    connect_to(addr, &format!("/echo/{id}")).await
}

/// Connects to `ws://ADDR` + `path`, as [`connect`] does.
pub async fn connect_to(addr: SocketAddr, path: &str) -> Result<Client, Error> {
    connect_with(addr, path, &[]).await
}

/// Connects as [`connect_to`] does, sending `headers` beside the handshake's own.
async fn connect_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> Result<Client, Error> {
    let connecting = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let config = WebSocketConfig::default()
            .read_buffer_size(4 << 10)
            .write_buffer_size(0);
        let mut request = format!("ws://{addr}{path}").into_client_request()?;
        for &(name, value) in headers {
            request.headers_mut().append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let (client, _) = client_async_with_config(request, tcp, Some(config)).await?;
        Ok::<_, Error>(client)
    };
    timeout(STEP_TIMEOUT, connecting)
        .await
        .map_err(|_| "connecting timed out")?
}

/// Sends `payload` and waits for it to come back; returns the round-trip time.
pub async fn echo(client: &mut Client, payload: &Utf8Bytes) -> Result<Duration, Error> {
    let start = Instant::now();
    timeout(STEP_TIMEOUT, round_trip(client, payload))
        .await
        .map_err(|_| "the echo timed out")??;
    Ok(start.elapsed())
}

async fn round_trip(client: &mut Client, payload: &Utf8Bytes) -> Result<(), Error> {
    client.send(Message::Text(payload.clone())).await?;
    loop {
        match client.next().await.transpose()? {
            Some(Message::Text(text)) if text.len() == payload.len() => return Ok(()),
            Some(Message::Text(text)) => {
                let sent = payload.len();
                return Err(
                    format!("an echo of {sent} bytes came back with {}", text.len()).into(),
                );
            }
            Some(Message::Ping(_) | Message::Pong(_)) => continue,
            Some(other) => return Err(format!("expected the echo, got {other:?}").into()),
            None => return Err("the server closed the connection".into()),
        }
    }
}

/// Opens `count` connections, `concurrency` at a time, each checked with one echo of
/// `payload`. Fails on the first connection that fails.
pub async fn open(
    addr: SocketAddr,
    count: usize,
    concurrency: usize,
    payload: &Utf8Bytes,
) -> Result<Vec<Client>, Error> {
    stream::iter(0..count)
        .map(|id| async move {
            let mut client = connect(addr, id).await?;
            echo(&mut client, payload).await?;
            Ok::<_, Error>(client)
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await
}

/// What a ping-pong run measured.
#[derive(Debug)]
pub struct PingPong {
    /// Echoes completed.
    pub echoes: u64,
    /// Wall time from the first send to the last echo.
    pub elapsed: Duration,
    /// Every round-trip time, sorted.
    pub latencies: Vec<Duration>,
    /// The first failure, if a connection failed (its echoes so far still count).
    pub error: Option<String>,
}

impl PingPong {
    /// The round-trip time below which a fraction `quantile` of the echoes fall (nearest rank).
    pub fn latency(&self, quantile: f64) -> Option<Duration> {
        let rank = (quantile * self.latencies.len() as f64).ceil() as usize;
        self.latencies.get(rank.max(1) - 1).copied()
    }
}

/// Every client sends `payload`, waits for the echo and sends again, `messages` times or
/// until `deadline`. Returns the clients with what was measured.
pub async fn ping_pong(
    clients: Vec<Client>,
    messages: usize,
    payload: Utf8Bytes,
    deadline: Instant,
) -> (Vec<Client>, PingPong) {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for mut client in clients {
        let payload = payload.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(messages);
            let mut error = None;
            while latencies.len() < messages && Instant::now() < deadline {
                match echo(&mut client, &payload).await {
                    Ok(latency) => latencies.push(latency),
                    Err(failure) => {
                        error = Some(failure.to_string());
                        break;
                    }
                }
            }
            (client, latencies, error)
        });
    }
    let mut clients = Vec::new();
    let mut latencies = Vec::new();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((client, measured, error)) => {
                clients.push(client);
                latencies.extend(measured);
                first_error = first_error.or(error);
            }
            Err(panic) => first_error = first_error.or(Some(panic.to_string())),
        }
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let run = PingPong {
        echoes: latencies.len() as u64,
        elapsed,
        latencies,
        error: first_error,
    };
    (clients, run)
}

/// What a handshake-rate run measured.
#[derive(Debug)]
pub struct Handshakes {
    /// Cycles completed: connect, one echo, close.
    pub completed: u64,
    /// Cycles that failed.
    pub failed: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// The first failure, if any.
    pub error: Option<String>,
}

/// One cycle: connect, echo `payload` once, close, and wait for the server's close.
async fn cycle(
    addr: SocketAddr,
    id: usize,
    payload: &Utf8Bytes,
    headers: &[(&'static str, &'static str)],
) -> Result<(), Error> {
    let mut client = connect_with(addr, &format!("/echo/{id}"), headers).await?;
    echo(&mut client, payload).await?;
    let closing = async {
        client.close(None).await?;
        // The server answers with its close frame, then ends the TCP connection.
        while client.next().await.transpose()?.is_some() {}
        Ok::<_, Error>(())
    };
    timeout(STEP_TIMEOUT, closing)
        .await
        .map_err(|_| "closing timed out")?
}

/// Runs `total` cycles (connect with `headers` beside the handshake's own, one echo of
/// `payload`, close), `concurrency` at a time, or as many as fit before `deadline`.
pub async fn handshakes(
    addr: SocketAddr,
    total: usize,
    concurrency: usize,
    payload: Utf8Bytes,
    headers: &'static [(&'static str, &'static str)],
    deadline: Instant,
) -> Handshakes {
    let start = Instant::now();
    let tickets = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let tickets = Arc::clone(&tickets);
        let payload = payload.clone();
        workers.spawn(async move {
            let (mut completed, mut failed, mut error) = (0, 0, None);
            loop {
                let id = tickets.fetch_add(1, Ordering::Relaxed);
                if id >= total || Instant::now() >= deadline {
                    break;
                }
                match cycle(addr, id, &payload, headers).await {
                    Ok(()) => completed += 1,
                    Err(failure) => {
                        failed += 1;
                        error = error.or_else(|| Some(failure.to_string()));
                    }
                }
            }
            (completed, failed, error)
        });
    }
    let mut run = Handshakes {
        completed: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        error: None,
    };
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((completed, failed, error)) => {
                run.completed += completed;
                run.failed += failed;
                run.error = run.error.or(error);
            }
            Err(panic) => run.error = run.error.or(Some(panic.to_string())),
        }
    }
    run.elapsed = start.elapsed();
    run
}
