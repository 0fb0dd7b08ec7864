//! Class-style routes over real sockets: the `accept` hook and its refusals, the lifecycle
//! methods, one instance per connection, shared state, and pushing from spawned tasks.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ws_routes::http::StatusCode;
use ws_routes::server::ServerHandle;
use ws_routes::{
    Bytes, Close, CloseFrame, Error, Message, Reject, Request, Routes, Sender, Server, Session,
    State, WebSocket, route, routes,
};

use support::{ask, close_frame, connect, next, spawn_server, text, wait_for};

/// The close frames `on_close` heard: code and reason, or `None` when there was none.
type ClosedFrames = Arc<Mutex<Vec<Option<(u16, String)>>>>;

/// What the tests look at from outside the connections.
#[derive(Clone, Default)]
struct Shared {
    connections: Arc<AtomicU64>,
    closed: ClosedFrames,
    sender: Arc<Mutex<Option<Sender>>>,
    /// What `on_error` received, as `Debug` prints it.
    errors: Arc<Mutex<Vec<String>>>,
}

struct Counter {
    name: String,
    seen: u64,
    shared: Shared,
}

#[route("/counter/{name}")]
impl Counter {
    async fn accept(
        request: &Request,
        name: String,
        State(shared): State<Shared>,
    ) -> Result<Self, Reject> {
        match request.query().get("token").as_deref() {
            Some("secret") => {}
            Some("banned") => return Err(Reject::new(StatusCode::FORBIDDEN).body("banned\n")),
            _ => {
                return Err(Reject::new(StatusCode::UNAUTHORIZED)
                    .header("www-authenticate", "Token")
                    .body("a token is required: add ?token=... to the URL\n"));
            }
        }
        // Pretend to look the token up somewhere slow: the hook is async.
        tokio::time::sleep(Duration::from_millis(5)).await;
        shared.connections.fetch_add(1, Ordering::SeqCst);
        Ok(Counter {
            name,
            seen: 0,
            shared,
        })
    }

    async fn on_open(&mut self, session: &mut Session) {
        let total = self.shared.connections.load(Ordering::SeqCst);
        let _ = session
            .send(format!("hello {} (connection {total})", self.name))
            .await;
    }

    async fn on_text(&mut self, session: &mut Session, text: String) -> Result<(), Close> {
        if text == "quit" {
            return Err(Close::new(4001, "asked to quit"));
        }
        self.seen += 1;
        let _ = session
            .send(format!("{} #{}: {text}", self.name, self.seen))
            .await;
        Ok(())
    }

    async fn on_binary(&mut self, session: &mut Session, data: Bytes) {
        let _ = session.send(format!("{} bytes", data.len())).await;
    }

    async fn on_close(&mut self, frame: Option<CloseFrame>) {
        let frame = frame.map(|frame| (u16::from(frame.code), frame.reason.to_string()));
        self.shared.closed.lock().unwrap().push(frame);
    }
}

/// Pushes from a spawned task, every few milliseconds, until the client leaves.
#[derive(Default)]
struct Ticker;

#[route("/ticker")]
impl Ticker {
    async fn on_open(&mut self, session: &mut Session) {
        let sender = session.sender();
        let shared = session
            .request()
            .state::<Shared>()
            .cloned()
            .unwrap_or_default();
        *shared.sender.lock().unwrap() = Some(sender.clone());
        tokio::spawn(async move {
            for tick in 0.. {
                if sender.send(format!("tick {tick}")).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
}

/// The seed's form: one method takes the whole connection.
struct Seed {
    greeting: &'static str,
}

impl Seed {
    fn new() -> Self {
        Seed { greeting: "light" }
    }
}

#[route("/seed/{status}", init = Seed::new)]
impl Seed {
    async fn handle(self, mut ws: WebSocket, status: String) {
        while let Some(Ok(_)) = ws.recv().await {
            if ws
                .send(format!("{} {status}", self.greeting))
                .await
                .is_err()
            {
                break;
            }
        }
    }
}

/// A synchronous hook that reads a typed parameter, and an error handler that reports to the
/// shared state.
struct Limited {
    limit: usize,
    shared: Shared,
}

#[route("/limited/{limit}")]
impl Limited {
    fn accept(limit: usize, State(shared): State<Shared>) -> Self {
        Limited { limit, shared }
    }

    async fn on_text(&mut self, session: &mut Session, text: ws_routes::Utf8Bytes) {
        let reply = if text.len() > self.limit {
            "too long"
        } else {
            "ok"
        };
        let _ = session.send(reply).await;
    }

    async fn on_error(&mut self, session: &mut Session, error: Error) {
        let seen = format!("{error:?} on {}", session.path().path());
        self.shared.errors.lock().unwrap().push(seen);
    }
}

/// A hook that panics: the client gets HTTP 500 and the server goes on.
#[derive(Default)]
struct Broken;

#[route("/broken")]
impl Broken {
    async fn accept() -> Self {
        panic!("the hook panics on purpose");
    }
}

const ROUTES: Routes = routes![Counter, Ticker, Seed, Limited, Broken];

async fn start() -> (std::net::SocketAddr, Shared) {
    let shared = Shared::default();
    let addr = spawn_server(Server::new(ROUTES).with_state(shared.clone())).await;
    (addr, shared)
}

/// Serves `server` (built on [`ROUTES`]) with a fresh [`Shared`], and returns its handle too,
/// to wait until connections are over.
async fn start_with_handle(server: Server) -> (std::net::SocketAddr, Shared, ServerHandle) {
    let shared = Shared::default();
    let listening = server
        .with_state(shared.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle) = (listening.local_addr().unwrap(), listening.handle());
    tokio::spawn(listening.run());
    (addr, shared, handle)
}

async fn refusal(url: String) -> (StatusCode, ws_routes::http::HeaderMap, String) {
    match ws_routes::connect(&url).await {
        Err(Error::Refused {
            status,
            headers,
            body,
        }) => (
            status,
            *headers,
            String::from_utf8(body.unwrap_or_default()).unwrap(),
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_accept_hook_refuses_with_status_headers_and_body() {
    let (addr, shared) = start().await;
    let (status, headers, body) = refusal(format!("ws://{addr}/counter/a")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Token");
    assert_eq!(body, "a token is required: add ?token=... to the URL\n");

    let (status, _, body) = refusal(format!("ws://{addr}/counter/a?token=banned")).await;
    assert_eq!((status, body.as_str()), (StatusCode::FORBIDDEN, "banned\n"));
    assert_eq!(
        shared.connections.load(Ordering::SeqCst),
        0,
        "no refused handshake became a connection"
    );
}

#[tokio::test]
async fn each_connection_gets_its_own_instance_and_shares_the_state() {
    let (addr, _) = start().await;
    let mut a = connect(addr, "/counter/a?token=secret").await;
    assert_eq!(text(&mut a).await, "hello a (connection 1)");
    let mut b = connect(addr, "/counter/b?token=secret").await;
    assert_eq!(text(&mut b).await, "hello b (connection 2)");
    assert_eq!(ask(&mut a, "x").await, "a #1: x");
    assert_eq!(ask(&mut a, "y").await, "a #2: y");
    assert_eq!(
        ask(&mut b, "z").await,
        "b #1: z",
        "b's instance never saw a's messages"
    );
    b.send(vec![1u8, 2, 3]).await.unwrap();
    assert_eq!(text(&mut b).await, "3 bytes");
}

#[tokio::test]
async fn on_close_runs_exactly_once_with_the_clients_code_and_reason() {
    let (addr, shared, handle) = start_with_handle(Server::new(ROUTES)).await;
    let mut ws = connect(addr, "/counter/a?token=secret").await;
    text(&mut ws).await;
    ws.close(4321u16, "see you").await.unwrap();
    assert!(
        next(&mut ws).await.is_none(),
        "the close handshake completes"
    );
    // The server counts a connection until its task is over, after `on_close` has returned:
    // nothing can call it again once the count is zero.
    wait_for(|| handle.connections() == 0).await;
    assert_eq!(
        *shared.closed.lock().unwrap(),
        [Some((4321, "see you".into()))]
    );
}

#[tokio::test]
async fn a_lifecycle_method_closes_with_the_code_it_chooses() {
    let (addr, shared, handle) = start_with_handle(Server::new(ROUTES)).await;
    let mut ws = connect(addr, "/counter/a?token=secret").await;
    text(&mut ws).await;
    ws.send("quit").await.unwrap();
    assert_eq!(close_frame(&mut ws).await, (4001, "asked to quit".into()));
    wait_for(|| handle.connections() == 0).await;
    // The method's return ends the lifecycle: `on_close` runs before the client has answered
    // the close handshake, so it hears no frame from the client.
    assert_eq!(*shared.closed.lock().unwrap(), [None]);
}

#[tokio::test]
async fn on_error_receives_the_error_of_a_message_over_the_limit() {
    let (addr, shared, handle) = start_with_handle(Server::new(ROUTES).max_message_size(100)).await;
    let mut ws = connect(addr, "/limited/3").await;
    assert_eq!(ask(&mut ws, "abc").await, "ok");
    ws.send("x".repeat(101)).await.unwrap();
    assert_eq!(close_frame(&mut ws).await, (1009, "message too big".into()));
    wait_for(|| handle.connections() == 0).await;
    assert_eq!(
        *shared.errors.lock().unwrap(),
        ["MessageTooBig on /limited/3"]
    );
}

#[tokio::test]
async fn a_spawned_task_pushes_until_the_client_leaves_then_fails_cleanly() {
    let (addr, shared) = start().await;
    let mut ws = connect(addr, "/ticker").await;
    for expected in 0..5 {
        assert_eq!(text(&mut ws).await, format!("tick {expected}"));
    }
    let sender = shared
        .sender
        .lock()
        .unwrap()
        .clone()
        .expect("the route stored its sender");
    drop(ws);
    wait_for(|| sender.is_closed()).await;
    assert!(matches!(sender.send("anyone?").await, Err(Error::Closed)));
    assert!(matches!(sender.try_send("anyone?"), Err(Error::Closed)));
}

#[tokio::test]
async fn a_handle_method_takes_the_whole_connection() {
    let (addr, _) = start().await;
    let mut ws = connect(addr, "/seed/on").await;
    assert_eq!(ask(&mut ws, "00-12-4b-01").await, "light on");
    assert_eq!(ask(&mut ws, "00-12-4b-01").await, "light on");
}

#[tokio::test]
async fn a_synchronous_hook_gets_typed_parameters() {
    let (addr, _) = start().await;
    let mut ws = connect(addr, "/limited/3").await;
    assert_eq!(ask(&mut ws, "abc").await, "ok");
    assert_eq!(ask(&mut ws, "abcd").await, "too long");
    let mut ws = connect(addr, "/limited/many").await;
    assert_eq!(
        close_frame(&mut ws).await,
        (4000, "invalid parameter `limit`".into())
    );
}

#[tokio::test]
async fn a_panicking_hook_answers_500_and_the_server_goes_on() {
    let (addr, _) = start().await;
    let (status, _, _) = refusal(format!("ws://{addr}/broken")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let mut ws = connect(addr, "/seed/off").await;
    assert_eq!(ask(&mut ws, "x").await, "light off");
}

#[tokio::test]
async fn a_missing_state_fails_at_bind_not_at_the_first_connection() {
    let error = Server::new(ROUTES).bind("127.0.0.1:0").await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    let message = error.to_string();
    assert!(
        message.contains("route `Counter` (\"/counter/{name}\") takes `State<"),
        "{message}"
    );
    assert!(message.contains("Shared>`"), "{message}");
}

#[tokio::test]
async fn pushes_to_a_client_that_does_not_read_are_bounded() {
    let (addr, shared) = start().await;
    let mut ws = connect(addr, "/ticker").await;
    assert_eq!(text(&mut ws).await, "tick 0");
    let sender = shared.sender.lock().unwrap().clone().unwrap();
    // The client stops reading. Once the kernel's socket buffers are full the queue fills up
    // (32 messages), and then pushing fails at once instead of growing memory.
    let block = Bytes::from(vec![7u8; 64 << 10]);
    let mut queued = 0;
    loop {
        match sender.try_send(block.clone()) {
            Ok(()) => queued += 1,
            Err(Error::QueueFull) => break,
            Err(other) => panic!("unexpected {other}"),
        }
        assert!(
            queued < 4096,
            "4096 blocks (256 MiB) queued without the queue filling up"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Reading again drains it.
    let mut blocks = 0;
    while blocks < queued {
        match next(&mut ws).await {
            Some(Ok(Message::Binary(data))) => {
                assert_eq!(data, block);
                blocks += 1;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected the queued blocks, got {other:?}"),
        }
    }
}
