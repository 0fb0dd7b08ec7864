//! Production hardening over real sockets: limits, timeouts, keepalive, who may connect,
//! TLS, graceful shutdown, and bad input that must not hurt anyone else.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_routes::http::StatusCode;
use ws_routes::{
    Client, Error, Reject, Request, Routes, Server, ServerHandle, State, TlsConfig, WebSocket,
    route, routes,
};

use support::{ask, close_frame, connect, text, wait_for};

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
    echo, latency, slow, stubborn, chat, maybe, Guarded, flood, push, Printed
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
    while first.recv().await.is_some() {}
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
    let mut tcp = raw_upgrade(addr, "/echo").await;
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

// ----- 2. Timeouts -----------------------------------------------------------------------

#[tokio::test]
async fn stalled_handshakes_neither_block_others_nor_outlive_the_timeout() {
    // 300 stalled clients and their server ends fit well under the common limit of 1,024
    // open files.
    const STALLED: usize = 300;
    let (addr, handle, _) = start(server().handshake_timeout(Duration::from_secs(2))).await;
    let rss_before = resident_memory();
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: web")
            .await
            .unwrap();
        stalled.push(tcp);
    }
    wait_for(|| handle.connections() >= STALLED).await;
    let mut ws = connect(addr, "/echo").await;
    assert_eq!(ask(&mut ws, "served meanwhile").await, "served meanwhile");
    // Every stalled connection is dropped by the server once its time is up...
    for tcp in &mut stalled {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a stalled handshake outlived the timeout");
    }
    // ...and what they held is given back.
    wait_for(|| handle.connections() == 1).await;
    let growth = resident_memory().saturating_sub(rss_before);
    assert!(
        growth < 16 << 20,
        "{growth} bytes still resident after the flood"
    );
}

#[tokio::test]
async fn connections_over_the_limit_cost_nothing_and_are_closed_at_once() {
    let (addr, handle, _) = start(server().max_connections(4)).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect(addr, "/echo").await);
    }
    wait_for(|| handle.connections() == 4).await;
    let files_before = open_files();
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..200 {
        flood.spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.ok()?;
            let _ = tcp.write_all(UPGRADE_ECHO.as_bytes()).await;
            let mut answer = Vec::new();
            let _ = tcp.read_to_end(&mut answer).await;
            Some(answer)
        });
    }
    let mut refused_with_503 = 0;
    let all_answered = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(answer) = flood.join_next().await {
            if answer
                .unwrap()
                .is_some_and(|answer| answer.starts_with(b"HTTP/1.1 503 "))
            {
                refused_with_503 += 1;
            }
        }
    })
    .await;
    assert!(all_answered.is_ok(), "a refused connection was held open");
    assert!(refused_with_503 > 0, "no refusal said 503");
    // The server kept no descriptor for any of them, and still counts only the four.
    wait_for(|| open_files() <= files_before + 2).await;
    assert_eq!(handle.connections(), 4);
    assert_eq!(ask(&mut held[0], "still here").await, "still here");
}

/// An upgrade request for `/echo`, as a browser would send it.
const UPGRADE_ECHO: &str = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// The open file descriptors of this process (the server runs in it).
fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

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
    let mut ws = connect(addr, "/echo").await;
    // Not reading means not answering the pings: after one interval and one timeout (200 ms)
    // the server gives up. A second is a wide margin on a loaded machine.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        close_frame(&mut ws).await,
        (1011, "keepalive ping timeout".into())
    );
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
    let received = Received::default();
    let listening = server()
        .keepalive(Duration::from_secs(60), Duration::from_millis(500))
        .with_state(received.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle) = (listening.local_addr().unwrap(), listening.handle());
    tokio::spawn(listening.run());
    let _stalled = connect(addr, "/push").await;
    wait_for(|| !received.0.lock().unwrap().is_empty()).await;
    assert_eq!(received.0.lock().unwrap()[0], "WriteTimeout");
    wait_for(|| handle.connections() == 0).await;
}

#[tokio::test]
async fn keepalive_keeps_a_responsive_client_and_measures_its_latency() {
    let (addr, _, _) =
        start(server().keepalive(Duration::from_millis(50), Duration::from_millis(200))).await;
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
    let (addr, _, _) = start(
        server()
            .no_keepalive()
            .idle_timeout(Duration::from_millis(200)),
    )
    .await;
    let mut ws = connect(addr, "/echo").await;
    assert_eq!(ask(&mut ws, "still here").await, "still here");
    assert_eq!(close_frame(&mut ws).await, (1000, "idle timeout".into()));
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
    tcp.write_all(UPGRADE_ECHO.as_bytes()).await.unwrap();
    let mut status = [0; 12];
    tcp.read_exact(&mut status).await.unwrap();
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

    let untrusting = ws_routes::connect(&format!("wss://localhost:{}/echo", addr.port())).await;
    assert!(
        untrusting.is_err(),
        "a client that does not trust the certificate refuses it"
    );
    let plain = ws_routes::connect(&format!("ws://{addr}/echo")).await;
    assert!(
        plain.is_err(),
        "plain ws:// to a TLS server does not connect"
    );
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
    assert!(ws.recv().await.is_none(), "the close handshake completes");
    let mut answer = String::new();
    halfway.read_to_string(&mut answer).await.unwrap();
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
    // The handler never read, so the connection ends without its close handshake.
    while let Some(Ok(_)) = ws.recv().await {}
}

// ----- 6. Bad input ----------------------------------------------------------------------

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let (addr, _, _) = start(server()).await;
    let mut tcp = raw_upgrade(addr, "/echo").await;
    tcp.write_all(&masked_frame(0x1, true, &[0xff, 0xfe, 0x41]))
        .await
        .unwrap();
    assert_eq!(read_close(&mut tcp).await, (1007, "invalid UTF-8".into()));
}

#[tokio::test]
async fn garbage_frames_close_with_1002_and_others_are_still_served() {
    let (addr, _, _) = start(server()).await;
    let mut watcher = connect(addr, "/echo").await;
    let mut tcp = raw_upgrade(addr, "/echo").await;
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
        let mut tcp = raw_upgrade(addr, "/echo").await;
        let frame = masked_frame(0x2, true, &[7; 4000]);
        tcp.write_all(&frame[..1000]).await.unwrap();
        drop(tcp);
    }
    wait_for(|| handle.connections() == 1).await;
    assert_eq!(ask(&mut watcher, "still fine").await, "still fine");
}

// ----- Raw WebSocket plumbing for the tests above ----------------------------------------

/// Opens a WebSocket by hand and returns the TCP stream after the 101.
async fn raw_upgrade(addr: SocketAddr, path: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// A client frame: masked, as RFC 6455 requires.
fn masked_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        length @ 0..=125 => frame.push(0x80 | length as u8),
        length @ 126..=65535 => {
            frame.push(0x80 | 126);
            frame.extend((length as u16).to_be_bytes());
        }
        length => {
            frame.push(0x80 | 127);
            frame.extend((length as u64).to_be_bytes());
        }
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    frame.extend(mask);
    frame.extend(
        payload
            .iter()
            .enumerate()
            .map(|(index, byte)| byte ^ mask[index % 4]),
    );
    frame
}

/// Reads server frames until a close frame and returns its code and reason.
async fn read_close(tcp: &mut TcpStream) -> (u16, String) {
    loop {
        let mut header = [0u8; 2];
        tcp.read_exact(&mut header).await.unwrap();
        let length = match header[1] & 0x7f {
            126 => u64::from(tcp.read_u16().await.unwrap()),
            127 => tcp.read_u64().await.unwrap(),
            length => u64::from(length),
        };
        let mut payload = vec![0; usize::try_from(length).unwrap()];
        tcp.read_exact(&mut payload).await.unwrap();
        if header[0] & 0x0f == 0x8 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            return (code, String::from_utf8(payload[2..].to_vec()).unwrap());
        }
    }
}

/// This process's resident memory, from /proc.
fn resident_memory() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}
