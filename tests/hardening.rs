//! Production hardening over real sockets: limits, timeouts, keepalive, who may connect,
//! TLS, graceful shutdown, and bad input that must not hurt anyone else.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_routes::error::ProtocolError;
use ws_routes::extract::FromRequest;
use ws_routes::http::StatusCode;
use ws_routes::server::ServerHandle;
use ws_routes::{
    Client, Error, Message, Reject, Request, Routes, Server, State, TlsConfig, WebSocket, route,
    routes,
};

use support::raw::{self, masked_frame, read_close, read_message};
use support::{ask, close_frame, connect, next, text, until_closed, wait_for, within};

#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// Answers "latency" with whether the keepalive has measured a round trip yet.
#[route("/latency")]
async fn latency(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if message.as_text() == Some("latency") {
            let measured = ws
                .latency()
                .is_some_and(|latency| latency < Duration::from_secs(5));
            let _ = ws.send(format!("measured: {measured}")).await;
        }
    }
}

/// What the shutdown test's handler received, in order.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<String>>>);

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
static FLOOD_ENDED: Mutex<Option<String>> = Mutex::new(None);

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
    Guarded,
    flood,
    push,
    push_then_close,
    Printed,
    forbidden
];

/// Serves `server` (built on [`ROUTES`]) and returns its address, its handle and the task
/// that runs it.
async fn start(
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

fn server() -> Server {
    Server::new(ROUTES)
}

async fn refused_status(result: Result<WebSocket, Error>) -> StatusCode {
    match result {
        Err(Error::Refused { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// ----- 1. Limits -------------------------------------------------------------------------

#[tokio::test]
async fn past_max_connections_the_handshake_gets_503_until_one_leaves() {
    let (addr, handle, _) = start(server().max_connections(2)).await;
    let mut first = connect(addr, "/echo").await;
    let _second = connect(addr, "/echo").await;
    let url = format!("ws://{addr}/echo");
    assert_eq!(
        refused_status(ws_routes::connect(&url).await).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    first.close(1000u16, "").await.unwrap();
    assert_eq!(until_closed(&mut first).await, Some((1000, String::new())));
    wait_for(|| handle.connections() == 1).await;
    let mut third = connect(addr, "/echo").await;
    assert_eq!(ask(&mut third, "in").await, "in");
}

#[tokio::test]
async fn past_the_per_ip_limit_the_handshake_gets_429() {
    let (addr, _, _) = start(server().max_connections_per_ip(1)).await;
    let _first = connect(addr, "/echo").await;
    let url = format!("ws://{addr}/echo");
    assert_eq!(
        refused_status(ws_routes::connect(&url).await).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_fragmented_message_over_the_limit_closes_with_1009() {
    let (addr, _, _) = start(server().max_message_size(1000).max_frame_size(600)).await;
    let mut tcp = raw::upgrade(addr, "/echo").await;
    tcp.write_all(&masked_frame(0x1, false, &[b'a'; 500]))
        .await
        .unwrap();
    tcp.write_all(&masked_frame(0x0, false, &[b'a'; 500]))
        .await
        .unwrap();
    tcp.write_all(&masked_frame(0x0, true, &[b'a'; 500]))
        .await
        .unwrap();
    assert_eq!(read_close(&mut tcp).await, (1009, "message too big".into()));
}

#[tokio::test]
async fn a_frame_over_max_frame_size_closes_with_1009_though_the_message_fits() {
    let (addr, _, _) = start(server().max_message_size(10_000).max_frame_size(600)).await;
    // Under both limits, whole or in fragments, the message comes back.
    let mut tcp = raw::upgrade(addr, "/echo").await;
    tcp.write_all(&masked_frame(0x2, true, &[1; 600]))
        .await
        .unwrap();
    assert_eq!(read_message(&mut tcp).await, (0x2, vec![1; 600]));
    for (opcode, fin) in [(0x2, false), (0x0, false), (0x0, true)] {
        tcp.write_all(&masked_frame(opcode, fin, &[2; 500]))
            .await
            .unwrap();
    }
    assert_eq!(read_message(&mut tcp).await, (0x2, vec![2; 1500]));
    // One frame of 601 bytes is over the frame limit, far under the message limit.
    tcp.write_all(&masked_frame(0x2, true, &[3; 601]))
        .await
        .unwrap();
    assert_eq!(read_close(&mut tcp).await, (1009, "message too big".into()));
}

#[tokio::test]
async fn messages_far_larger_than_the_read_buffer_arrive_intact() {
    // The read buffer is 4 KiB by default; this message is 75 times that.
    let (addr, _, _) = start(server()).await;
    let mut ws = connect(addr, "/echo").await;
    let large: Vec<u8> = (0..300 << 10)
        .map(|index: u32| (index % 251) as u8)
        .collect();
    ws.send(large.clone()).await.unwrap();
    match next(&mut ws).await {
        Some(Ok(Message::Binary(echoed))) => assert!(echoed == large, "the echo differs"),
        other => panic!("expected the binary echo, got {other:?}"),
    }
    let text: String = (0..300 << 10)
        .map(|index: u32| char::from(b'a' + (index % 26) as u8))
        .collect();
    assert!(ask(&mut ws, &text).await == text, "the text echo differs");
}

#[tokio::test]
async fn an_extractor_that_refuses_closes_with_1008_and_the_status_reason() {
    let (addr, _, _) = start(server()).await;
    let mut ws = connect(addr, "/forbidden").await;
    assert_eq!(close_frame(&mut ws).await, (1008, "Forbidden".into()));
}

#[tokio::test]
async fn the_client_refuses_a_message_over_its_own_limit() {
    let (addr, _, _) = start(server()).await;
    let mut ws = within(
        Client::new()
            .max_message_size(1000)
            .connect(&format!("ws://{addr}/echo")),
    )
    .await
    .unwrap();
    assert_eq!(ask(&mut ws, &"a".repeat(1000)).await, "a".repeat(1000));
    // The server echoes 1001 bytes, one over the client's limit.
    ws.send("b".repeat(1001)).await.unwrap();
    assert!(
        matches!(next(&mut ws).await, Some(Err(Error::MessageTooBig))),
        "the client reports the message as too big"
    );
    assert!(
        next(&mut ws).await.is_none(),
        "and then the connection is over"
    );
}

// ----- 2. Timeouts -----------------------------------------------------------------------

#[tokio::test]
async fn settings_near_duration_max_do_not_overflow() {
    let (addr, _, _) = start(
        server()
            .keepalive(Duration::MAX, Duration::MAX)
            .idle_timeout(Duration::MAX)
            .close_timeout(Duration::MAX)
            .handshake_timeout(Duration::MAX),
    )
    .await;
    let mut ws = connect(addr, "/echo").await;
    assert_eq!(ask(&mut ws, "fine").await, "fine");
    ws.close(1000u16, "").await.unwrap();
    assert!(support::next(&mut ws).await.is_none());
}

#[tokio::test]
async fn keepalive_closes_a_client_that_stops_answering_pings() {
    let (addr, _, _) =
        start(server().keepalive(Duration::from_millis(100), Duration::from_millis(100))).await;
    // A raw client reads the pings but never answers them: after one interval and one timeout
    // the server gives up, however slowly the machine runs. The server's clock starts at the
    // upgrade, so ours starts before asking for it.
    let started = tokio::time::Instant::now();
    let mut tcp = raw::upgrade(addr, "/echo").await;
    assert_eq!(
        read_close(&mut tcp).await,
        (1011, "keepalive ping timeout".into())
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_client_that_floods_frames_cannot_postpone_its_keepalive() {
    let (addr, _, _) =
        start(server().keepalive(Duration::from_millis(100), Duration::from_millis(300))).await;
    // This client writes frames without pause and never answers a ping; it reads (the echoes
    // and the pings) so that only the keepalive can end it.
    let tcp = raw::upgrade(addr, "/echo").await;
    let (mut reading, mut writing) = tcp.into_split();
    let frame = masked_frame(0x1, true, b"flood");
    let flood = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if writing.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    let close = within(async {
        loop {
            let mut header = [0u8; 2];
            reading.read_exact(&mut header).await.unwrap();
            let mut payload = vec![0; usize::from(header[1] & 0x7f)];
            reading.read_exact(&mut payload).await.unwrap();
            if header[0] & 0x0f == 0x8 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                break (code, String::from_utf8(payload[2..].to_vec()).unwrap());
            }
        }
    })
    .await;
    assert_eq!(close, (1011, "keepalive ping timeout".into()));
    flood.abort();
}

#[tokio::test]
async fn without_keepalive_the_write_timeout_is_the_close_timeout() {
    pushes_to_a_stalled_client_end_with_a_write_timeout(
        server()
            .no_keepalive()
            .close_timeout(Duration::from_millis(500)),
    )
    .await;
}

#[tokio::test]
async fn a_client_that_never_answers_the_close_handshake_is_dropped_after_close_timeout() {
    let (addr, handle, _) = start(
        server()
            .no_keepalive()
            .close_timeout(Duration::from_secs(1)),
    )
    .await;
    let started = tokio::time::Instant::now();
    // `/maybe` says which protocol it speaks and returns: the server starts the close
    // handshake, which this client never answers.
    let mut tcp = raw::upgrade(addr, "/maybe").await;
    assert_eq!(read_close(&mut tcp).await, (1000, String::new()));
    let mut rest = Vec::new();
    let _ = within(tcp.read_to_end(&mut rest)).await;
    assert!(rest.is_empty(), "nothing after the close frame");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "dropped before the close timeout"
    );
    wait_for(|| handle.connections() == 0).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let (addr, handle, _) =
        start(server().keepalive(Duration::from_secs(60), Duration::from_millis(500))).await;
    // Connects, then never reads: the handler's sends fill every buffer and then stall.
    let _stalled = connect(addr, "/flood").await;
    wait_for(|| FLOOD_ENDED.lock().unwrap().is_some()).await;
    assert_eq!(FLOOD_ENDED.lock().unwrap().as_deref(), Some("WriteTimeout"));
    wait_for(|| handle.connections() == 0).await;
}

#[tokio::test]
async fn queued_pushes_to_a_client_that_stops_reading_end_the_connection_too() {
    pushes_to_a_stalled_client_end_with_a_write_timeout(
        server().keepalive(Duration::from_secs(60), Duration::from_millis(500)),
    )
    .await;
}

#[tokio::test]
async fn close_gives_up_on_what_was_queued_after_the_write_timeout() {
    let server = server().keepalive(Duration::from_secs(60), Duration::from_millis(500));
    a_stalled_client_ends(server, "/push-then-close", "Err(WriteTimeout)").await;
}

/// `/push` pushes to a client that never reads: its handler's `recv` ends with
/// `WriteTimeout`, and the connection goes.
async fn pushes_to_a_stalled_client_end_with_a_write_timeout(server: Server) {
    a_stalled_client_ends(server, "/push", "WriteTimeout").await;
}

/// Connects to `path` and never reads: the handler reports `ended`, and the connection goes.
async fn a_stalled_client_ends(server: Server, path: &str, ended: &str) {
    let received = Received::default();
    let listening = server
        .with_state(received.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle) = (listening.local_addr().unwrap(), listening.handle());
    tokio::spawn(listening.run());
    let _stalled = connect(addr, path).await;
    wait_for(|| !received.0.lock().unwrap().is_empty()).await;
    assert_eq!(received.0.lock().unwrap()[0], ended);
    wait_for(|| handle.connections() == 0).await;
}

#[tokio::test]
async fn keepalive_keeps_a_responsive_client_and_measures_its_latency() {
    // A ping every 50 ms; the pong may take 5 s, which a client that reads never needs even
    // when the machine is loaded (client and server share this test's runtime).
    let (addr, _, _) =
        start(server().keepalive(Duration::from_millis(50), Duration::from_secs(5))).await;
    let mut ws = connect(addr, "/latency").await;
    // Reading answers the pings; stay for many intervals.
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    // Pings are answered inside `recv` and never come out of it.
    if let Ok(received) = tokio::time::timeout_at(until, ws.recv()).await {
        panic!("expected nothing while pings come and go, got {received:?}");
    }
    assert_eq!(ask(&mut ws, "latency").await, "measured: true");
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    // Two seconds leave the first message ample time to arrive before the connection counts
    // as idle, however loaded the machine.
    let idle = Duration::from_secs(2);
    let (addr, _, _) = start(server().no_keepalive().idle_timeout(idle)).await;
    let mut ws = connect(addr, "/echo").await;
    // Activity moves the deadline: a message sent most of the way through the first idle
    // period keeps the connection open until a whole idle period after it.
    tokio::time::sleep(idle * 3 / 4).await;
    let last_activity = tokio::time::Instant::now();
    assert_eq!(ask(&mut ws, "still here").await, "still here");
    assert_eq!(close_frame(&mut ws).await, (1000, "idle timeout".into()));
    assert!(
        last_activity.elapsed() >= idle,
        "closed {:?} after the last message, before the idle timeout",
        last_activity.elapsed()
    );
}

// ----- 3. Who may connect ----------------------------------------------------------------

#[tokio::test]
async fn only_allowed_origins_may_connect() {
    let origins = ["https://app.example.com", "https://*.example.org"];
    let (addr, _, _) = start(server().allowed_origins(origins)).await;
    let url = format!("ws://{addr}/echo");
    for origin in [
        "https://evil.example.net",
        "https://example.org",
        "https://evilexample.org",
        "null",
    ] {
        let refused = Client::new().header("origin", origin).connect(&url).await;
        assert_eq!(
            refused_status(refused).await,
            StatusCode::FORBIDDEN,
            "{origin}"
        );
    }
    for origin in ["https://app.example.com", "https://eu.example.org"] {
        let mut ws = Client::new()
            .header("origin", origin)
            .connect(&url)
            .await
            .unwrap();
        assert_eq!(ask(&mut ws, origin).await, origin);
    }
    // Without an Origin (a program, not a page), refused unless the server allows it.
    assert_eq!(
        refused_status(ws_routes::connect(&url).await).await,
        StatusCode::FORBIDDEN
    );
    let lenient = server().allowed_origins(origins).allow_missing_origin(true);
    let (addr, _, _) = start(lenient).await;
    let mut program = ws_routes::connect(&format!("ws://{addr}/echo"))
        .await
        .expect("no Origin: allowed");
    assert_eq!(ask(&mut program, "hi").await, "hi");
}

#[tokio::test]
async fn debug_output_hides_credentials_and_the_query_string() {
    let (addr, _, _) = start(server()).await;
    let mut ws = Client::new()
        .header("authorization", "Bearer s3cr3t-t0ken")
        .header("cookie", "session=c00kie")
        .header("user-agent", "test-agent")
        .connect(&format!("ws://{addr}/printed/ada?token=qu3ry-t0ken"))
        .await
        .unwrap();
    let printed = text(&mut ws).await;
    for secret in ["s3cr3t-t0ken", "c00kie", "qu3ry-t0ken"] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
    assert!(printed.contains("test-agent"), "{printed}");
    assert!(printed.contains("/printed/ada"), "{printed}");
}

#[tokio::test]
async fn a_malformed_origin_pattern_fails_bind_naming_it() {
    for pattern in ["*example.com", "https://example.com/app", "example.com"] {
        let error = server()
            .with_state(Received::default())
            .allowed_origins([pattern])
            .bind("127.0.0.1:0")
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains(pattern), "{error}");
    }
}

#[tokio::test]
async fn a_handshake_must_be_as_strict_as_pythons() {
    let (addr, _, _) = start(server()).await;
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
    let cases = [
        (
            "a key of 15 bytes",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n\r\n"
            ),
        ),
        (
            "a key that is not base64",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n\r\n"
            ),
        ),
        (
            "two keys",
            format!("GET /echo HTTP/1.1\r\nHost: x\r\n{upgrade}{key}{key}\r\n"),
        ),
        (
            "two versions",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Version: 13\r\n{key}\r\n"
            ),
        ),
        (
            "two origins",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://a\r\nOrigin: https://b\r\n{upgrade}{key}\r\n"
            ),
        ),
        (
            "HTTP/1.0",
            format!("GET /echo HTTP/1.0\r\nHost: x\r\n{upgrade}{key}\r\n"),
        ),
        (
            "no Host",
            format!("GET /echo HTTP/1.1\r\n{upgrade}{key}\r\n"),
        ),
        (
            "a body",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n{upgrade}{key}\r\nhello"
            ),
        ),
        (
            "a chunked body",
            format!(
                "GET /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n{upgrade}{key}\r\n0\r\n\r\n"
            ),
        ),
    ];
    for (what, request) in cases {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within ten seconds"))
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400 "), "{what}: {answer}");
    }
    // The same request done right is upgraded.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw::upgrade_request("/echo").as_bytes())
        .await
        .unwrap();
    let mut status = [0; 12];
    within(tcp.read_exact(&mut status)).await.unwrap();
    assert_eq!(&status, b"HTTP/1.1 101");
}

#[tokio::test]
async fn subprotocols_are_negotiated_per_route() {
    let (addr, _, _) = start(server()).await;
    let url = format!("ws://{addr}/chat");
    let mut ws = Client::new()
        .protocols(["chat.v1"])
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v1"));
    assert_eq!(text(&mut ws).await, "chat.v1");
    let mut ws = Client::new()
        .protocols(["chat.v1", "chat.v2"])
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(
        text(&mut ws).await,
        "chat.v2",
        "the server's preference wins"
    );
    for offered in [vec!["chat.v3"], vec![]] {
        let refused = Client::new().protocols(offered.clone()).connect(&url).await;
        assert_eq!(
            refused_status(refused).await,
            StatusCode::BAD_REQUEST,
            "{offered:?}"
        );
    }
    let mut ws = connect(addr, "/maybe").await;
    assert_eq!(
        text(&mut ws).await,
        "none",
        "optional protocols: the handshake goes on without"
    );
}

#[tokio::test]
async fn hooks_see_the_headers_and_the_peer_address() {
    let (addr, _, _) = start(server()).await;
    let url = format!("ws://{addr}/guarded");
    assert_eq!(
        refused_status(ws_routes::connect(&url).await).await,
        StatusCode::UNAUTHORIZED
    );
    let mut ws = Client::new()
        .header("authorization", "Bearer let-me-in")
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(text(&mut ws).await, "welcome from 127.0.0.1");
}

// ----- 4. TLS ----------------------------------------------------------------------------

#[tokio::test]
async fn wss_with_a_certificate_from_pem_files() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (certified.cert.pem(), certified.signing_key.serialize_pem());
    let dir = std::env::temp_dir().join(format!("ws-routes-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.join("key.pem"), &key).unwrap();
    let tls = TlsConfig::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
    let (addr, _, _) = start(server().tls(tls)).await;

    let client = Client::new().tls_roots_pem(cert.as_bytes()).unwrap();
    let mut ws = client
        .connect(&format!("wss://localhost:{}/echo", addr.port()))
        .await
        .unwrap();
    assert_eq!(ask(&mut ws, "over TLS").await, "over TLS");

    // A client that does not trust the certificate refuses it: rustls's verdict comes as an
    // I/O error of kind InvalidData.
    let untrusting = within(ws_routes::connect(&format!(
        "wss://localhost:{}/echo",
        addr.port()
    )))
    .await;
    match untrusting {
        Err(Error::Io(error)) => {
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{error}");
            assert!(error.to_string().contains("certificate"), "{error}");
        }
        other => panic!("expected an untrusted certificate, got {other:?}"),
    }
    // Plain ws:// to a TLS port: rustls takes the HTTP request for a malformed ClientHello,
    // answers with a TLS alert and closes. The client reads the alert as an HTTP response and
    // fails to parse it; should the server's reset overtake the alert, the read fails instead.
    let plain = within(ws_routes::connect(&format!("ws://{addr}/echo"))).await;
    match plain {
        Err(Error::Protocol(ProtocolError::UnreadableResponse(error))) => {
            assert!(
                error.to_string().contains("invalid HTTP version"),
                "{error}"
            );
        }
        Err(Error::Io(error)) => {
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
        }
        other => panic!("expected an unreadable answer, got {other:?}"),
    }
    let mut ws = client
        .connect(&format!("wss://localhost:{}/echo", addr.port()))
        .await
        .unwrap();
    assert_eq!(ask(&mut ws, "still serving").await, "still serving");

    // ALPN: offered h2 and http/1.1, the server picks the one a WebSocket handshake speaks.
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let mut config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_handshake_timeout_covers_the_tls_handshake() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tls = TlsConfig::from_pem(
        certified.cert.pem().as_bytes(),
        certified.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let timeout = Duration::from_secs(1);
    let (addr, handle, _) = start(server().tls(tls).handshake_timeout(timeout)).await;
    let started = tokio::time::Instant::now();
    // One client opens TCP and says nothing; another sends half a ClientHello: a record
    // header announcing 512 bytes, then 16 of them.
    let silent = TcpStream::connect(addr).await.unwrap();
    let mut halfway = TcpStream::connect(addr).await.unwrap();
    let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00];
    hello.extend([0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    hello.extend([0u8; 10]);
    halfway.write_all(&hello).await.unwrap();
    for mut tcp in [silent, halfway] {
        let mut rest = Vec::new();
        // Dropped: the read ends, with an end of file or a reset.
        let _ = within(tcp.read_to_end(&mut rest)).await;
        assert!(rest.is_empty(), "no answer to an unfinished handshake");
    }
    assert!(
        started.elapsed() >= timeout,
        "dropped before the handshake timeout"
    );
    wait_for(|| handle.connections() == 0).await;
}

#[test]
fn bad_pem_is_a_clear_error() {
    let error = TlsConfig::from_pem(b"not a certificate", b"not a key").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}

// ----- 5. Graceful shutdown --------------------------------------------------------------

#[tokio::test]
async fn shutdown_closes_with_1001_after_every_accepted_message_reached_its_handler() {
    let received = Received::default();
    let listening = server()
        .with_state(received.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle) = (listening.local_addr().unwrap(), listening.handle());
    let running = tokio::spawn(listening.run());

    let mut ws = connect(addr, "/slow").await;
    for number in 0..5 {
        ws.send(format!("message {number}")).await.unwrap();
    }
    // A handshake in progress when the shutdown begins.
    let mut halfway = TcpStream::connect(addr).await.unwrap();
    halfway
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    wait_for(|| handle.connections() == 2).await;
    let started = tokio::time::Instant::now();
    handle.shutdown();

    assert_eq!(
        close_frame(&mut ws).await,
        (1001, "server shutting down".into())
    );
    assert!(
        next(&mut ws).await.is_none(),
        "the close handshake completes"
    );
    let mut answer = String::new();
    within(halfway.read_to_string(&mut answer)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let expected: Vec<String> = (0..5).map(|number| format!("message {number}")).collect();
    assert_eq!(
        *received.0.lock().unwrap(),
        expected,
        "nothing accepted was dropped"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "nobody waited for a timeout"
    );
}

#[tokio::test]
async fn shutdown_cancels_handlers_still_running_at_the_deadline() {
    let (addr, handle, running) =
        start(server().shutdown_timeout(Duration::from_millis(300))).await;
    let mut ws = connect(addr, "/stubborn").await;
    let started = tokio::time::Instant::now();
    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the handler had its grace period"
    );
    assert_eq!(handle.connections(), 0);
    // The handler never waited in `recv`, where the 1001 is sent: cancelling it drops the
    // connection without a close frame, which the client reports as 1006.
    assert_eq!(until_closed(&mut ws).await, Some((1006, String::new())));
}

// ----- 6. Bad input ----------------------------------------------------------------------

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let (addr, _, _) = start(server()).await;
    let mut tcp = raw::upgrade(addr, "/echo").await;
    tcp.write_all(&masked_frame(0x1, true, &[0xff, 0xfe, 0x41]))
        .await
        .unwrap();
    assert_eq!(read_close(&mut tcp).await, (1007, "invalid UTF-8".into()));
}

#[tokio::test]
async fn garbage_frames_close_with_1002_and_others_are_still_served() {
    let (addr, _, _) = start(server()).await;
    let mut watcher = connect(addr, "/echo").await;
    let mut tcp = raw::upgrade(addr, "/echo").await;
    // Reserved bits set and an unknown opcode.
    tcp.write_all(&[0xf3, 0x80, 1, 2, 3, 4]).await.unwrap();
    assert_eq!(read_close(&mut tcp).await, (1002, "protocol error".into()));
    assert_eq!(ask(&mut watcher, "fine").await, "fine");
}

#[tokio::test]
async fn a_client_vanishing_mid_message_hurts_nobody() {
    let (addr, handle, _) = start(server()).await;
    let mut watcher = connect(addr, "/echo").await;
    for _ in 0..20 {
        let mut tcp = raw::upgrade(addr, "/echo").await;
        let frame = masked_frame(0x2, true, &[7; 4000]);
        tcp.write_all(&frame[..1000]).await.unwrap();
        drop(tcp);
    }
    wait_for(|| handle.connections() == 1).await;
    assert_eq!(ask(&mut watcher, "still fine").await, "still fine");
}
