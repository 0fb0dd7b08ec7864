//! The server the hardening tests share (limits, timeouts, admission, TLS, shutdown, bad
//! input): its routes, a start that returns its address and handle, and reading a refusal.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ws_routes::extract::FromRequest;
use ws_routes::http::StatusCode;
use ws_routes::server::ServerHandle;
use ws_routes::{Error, Reject, Request, Routes, Server, State, WebSocket, route, routes};

#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// Answers "latency" with whether the keepalive has measured a round trip yet: one that took
/// some time, and less than 5 s.
#[route("/latency")]
async fn latency(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if message.as_text() == Some("latency") {
            let measured = ws.latency().is_some_and(|latency| {
                latency > Duration::ZERO && latency < Duration::from_secs(5)
            });
            let _ = ws.send(format!("measured: {measured}")).await;
        }
    }
}

/// What the shutdown test's handler received, in order.
#[derive(Clone, Default)]
pub struct Received(pub Arc<Mutex<Vec<String>>>);

/// An extractor that always refuses.
struct Forbidden;

impl FromRequest for Forbidden {
    fn from_request(_request: &Request) -> Result<Self, Reject> {
        Err(Reject::new(StatusCode::FORBIDDEN))
    }
}

/// Takes an extractor that refuses: the connection closes with 1008 before this runs.
#[route("/forbidden")]
async fn forbidden(mut ws: WebSocket, _refused: Forbidden) {
    let _ = ws.send("the handler ran").await;
}

/// Takes its time over each message, so that some are still unread when shutdown begins.
#[route("/slow")]
async fn slow(mut ws: WebSocket, State(received): State<Received>) {
    while let Some(Ok(message)) = ws.recv().await {
        if let Some(text) = message.as_text() {
            tokio::time::sleep(Duration::from_millis(30)).await;
            received.0.lock().unwrap().push(text.to_owned());
        }
    }
}

/// How the last `/flood` handler ended: the error its `send` returned.
pub static FLOOD_ENDED: Mutex<Option<String>> = Mutex::new(None);

/// Closes at once, then reads until the peer's answer or the close timeout ends `recv`.
#[route("/close-and-drain")]
async fn close_and_drain(mut ws: WebSocket) {
    if ws.close(1000u16, "bye").await.is_ok() {
        while ws.recv().await.is_some() {}
    }
}

/// Sends 64 KiB messages as fast as the client takes them, until a send fails.
#[route("/flood")]
async fn flood(mut ws: WebSocket) {
    let chunk = "x".repeat(64 << 10);
    let error = loop {
        if let Err(error) = ws.send(chunk.as_str()).await {
            break error;
        }
    };
    *FLOOD_ENDED.lock().unwrap() = Some(format!("{error:?}"));
}

/// Pushes 64 KiB messages through a `Sender` while the handler waits in `recv`.
#[route("/push")]
async fn push(mut ws: WebSocket, State(received): State<Received>) {
    let sender = ws.sender();
    tokio::spawn(async move {
        let chunk = "y".repeat(64 << 10);
        while sender.send(chunk.as_str()).await.is_ok() {}
    });
    let ended = loop {
        match ws.recv().await {
            Some(Ok(_)) => continue,
            Some(Err(error)) => break format!("{error:?}"),
            None => break "None".to_owned(),
        }
    };
    received.0.lock().unwrap().push(ended);
}

/// Queues 32 MiB through its `Sender` without ever calling `recv`, then closes: `close` writes
/// what waits first, which a client that never reads cannot take.
#[route("/push-then-close")]
async fn push_then_close(mut ws: WebSocket, State(received): State<Received>) {
    let sender = ws.sender();
    let chunk = ws_routes::Bytes::from(vec![b'y'; 1 << 20]);
    for _ in 0..32 {
        sender.try_send(chunk.clone()).expect("room in the queue");
    }
    let closed = ws.close(4000u16, "bye").await;
    received.0.lock().unwrap().push(format!("{closed:?}"));
}

/// Says how the handshake request prints with `Debug`, as a log line would show it.
struct Printed(String);

#[route("/printed/{name}")]
impl Printed {
    fn accept(request: &Request) -> Self {
        Printed(format!("{request:?}"))
    }

    async fn on_open(&mut self, session: &mut ws_routes::Session) {
        let _ = session.send(self.0.clone()).await;
    }
}

/// Never reads again: only the shutdown timeout can end it.
#[route("/stubborn")]
async fn stubborn(_ws: WebSocket) {
    std::future::pending::<()>().await;
}

#[route("/chat", protocols = ["chat.v2", "chat.v1"], require_protocol)]
async fn chat(mut ws: WebSocket) {
    let protocol = ws.protocol().unwrap_or("none").to_owned();
    let _ = ws.send(protocol).await;
}

#[route("/maybe", protocols = ["json"])]
async fn maybe(mut ws: WebSocket) {
    let protocol = ws.protocol().unwrap_or("none").to_owned();
    let _ = ws.send(protocol).await;
}

/// A hook that authenticates from the headers and the peer address.
#[derive(Debug)]
struct Guarded {
    peer: SocketAddr,
}

#[route("/guarded")]
impl Guarded {
    fn accept(request: &Request) -> Result<Self, Reject> {
        let token = request
            .headers()
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        if token != Some("Bearer let-me-in") || !request.peer_addr().ip().is_loopback() {
            return Err(Reject::new(StatusCode::UNAUTHORIZED));
        }
        Ok(Guarded {
            peer: request.peer_addr(),
        })
    }

    async fn on_open(&mut self, session: &mut ws_routes::Session) {
        let _ = session
            .send(format!("welcome from {}", self.peer.ip()))
            .await;
    }
}

const ROUTES: Routes = routes![
    echo,
    latency,
    slow,
    stubborn,
    chat,
    maybe,
    close_and_drain,
    Guarded,
    flood,
    push,
    push_then_close,
    Printed,
    forbidden
];

/// Serves `server` (built on [`ROUTES`]) and returns its address, its handle and the task
/// that runs it.
pub async fn start(
    server: Server,
) -> (
    SocketAddr,
    ServerHandle,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listening = server
        .with_state(Received::default())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle) = (listening.local_addr().unwrap(), listening.handle());
    (addr, handle, tokio::spawn(listening.run()))
}

/// A server with the shared routes and default settings.
pub fn server() -> Server {
    Server::new(ROUTES)
}

/// The status a refused handshake answered with; panics on anything else.
pub async fn refused_status(result: Result<WebSocket, Error>) -> StatusCode {
    match result {
        Err(Error::Refused { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}
