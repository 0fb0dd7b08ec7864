//! The in-process TestServer: the same handshake, routing, hooks, state and rooms as a bound
//! server, with no port, and no sleeps needed.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ws_routes::http::StatusCode;
use ws_routes::test::TestServer;
use ws_routes::{
    Client, Error, Reject, Request, Rooms, Server, Session, State, WebSocket, route, routes,
};

use support::text;

#[route("/light/{status}")]
async fn light(mut ws: WebSocket, status: String) {
    while let Some(Ok(_)) = ws.recv().await {
        let _ = ws.send(format!("the light has turned {status}")).await;
    }
}

#[route("/chat/{room}")]
async fn chat(mut ws: WebSocket, room: String, State(rooms): State<Rooms>) {
    rooms.join(&room, &ws.sender());
    while let Some(Ok(message)) = ws.recv().await {
        rooms.broadcast(&room, message);
    }
}

#[derive(Clone, Default)]
struct Visits(Arc<AtomicUsize>);

#[route("/visit")]
async fn visit(mut ws: WebSocket, State(visits): State<Visits>) {
    let count = visits.0.fetch_add(1, Ordering::SeqCst) + 1;
    let _ = ws.send(format!("visit {count}")).await;
}

#[route("/boom")]
async fn boom(_ws: WebSocket) {
    panic!("the handler fails");
}

struct Guarded;

#[route("/guarded")]
impl Guarded {
    async fn accept(request: &Request) -> Result<Self, Reject> {
        match request.query().get("token").as_deref() {
            Some("secret") => Ok(Guarded),
            _ => Err(Reject::new(StatusCode::UNAUTHORIZED).body("token required\n")),
        }
    }

    async fn on_open(&mut self, session: &mut Session) {
        let _ = session.send("welcome").await;
    }
}

fn server() -> (TestServer, Rooms, Visits) {
    let rooms = Rooms::new();
    let visits = Visits::default();
    let server = TestServer::new(
        Server::new(routes![light, chat, visit, boom, Guarded])
            .with_state(rooms.clone())
            .with_state(visits.clone())
            .max_message_size(1024),
    );
    (server, rooms, visits)
}

async fn close_code(ws: &mut WebSocket) -> u16 {
    support::close_frame(ws).await.0
}

#[tokio::test]
async fn routes_with_parameters() {
    let (server, ..) = server();
    let mut ws = server.connect("/light/on").await.unwrap();
    ws.send("00-12-4b-01").await.unwrap();
    assert_eq!(text(&mut ws).await, "the light has turned on");
}

#[tokio::test]
async fn an_unmatched_path_is_closed_with_4040() {
    let (server, ..) = server();
    let mut ws = server.connect("/nowhere").await.unwrap();
    assert!(ws.recv().await.is_none());
    let frame = ws.close_frame().unwrap();
    assert_eq!(frame.code.as_u16(), 4040);
    assert_eq!(frame.reason.as_str(), "no route for /nowhere");
}

#[tokio::test]
async fn a_refusal_is_an_error_with_its_status() {
    let (server, ..) = server();
    match server.connect("/guarded").await {
        Err(Error::Refused { status, body, .. }) => {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(body.as_deref(), Some(&b"token required\n"[..]));
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    let mut ws = server.connect("/guarded?token=secret").await.unwrap();
    assert_eq!(text(&mut ws).await, "welcome");
}

#[tokio::test]
async fn connect_returns_once_the_handler_has_joined_its_room() {
    let (server, rooms, _) = server();
    let mut alice = server.connect("/chat/lobby").await.unwrap();
    assert_eq!(rooms.local_count("lobby"), 1);
    let mut bob = server.connect("/chat/lobby").await.unwrap();
    assert_eq!(rooms.local_count("lobby"), 2);
    alice.send("hi all").await.unwrap();
    assert_eq!(text(&mut alice).await, "hi all");
    assert_eq!(text(&mut bob).await, "hi all");
}

#[tokio::test]
async fn state_is_shared_by_every_connection() {
    let (server, _, visits) = server();
    for expected in 1..=3 {
        let mut ws = server.connect("/visit").await.unwrap();
        assert_eq!(text(&mut ws).await, format!("visit {expected}"));
        assert_eq!(close_code(&mut ws).await, 1000);
    }
    assert_eq!(visits.0.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn limits_and_failures_close_as_on_a_port() {
    let (server, ..) = server();
    let mut ws = server.connect("/light/on").await.unwrap();
    ws.send("x".repeat(2048)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, 1009);
    let mut ws = server.connect("/boom").await.unwrap();
    assert_eq!(close_code(&mut ws).await, 1011);
}

#[tokio::test]
async fn origins_and_subprotocols_are_checked() {
    #[route("/proto", protocols = ["v2", "v1"])]
    async fn proto(_ws: WebSocket) {}

    let server =
        TestServer::new(Server::new(routes![proto]).allowed_origins(["https://app.example.com"]));
    match server.connect("/proto").await {
        Err(Error::Refused { status, .. }) => assert_eq!(status, StatusCode::FORBIDDEN),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let client = Client::new()
        .header("origin", "https://app.example.com")
        .protocols(["v1", "v2"]);
    let ws = server.connect_with(&client, "/proto").await.unwrap();
    assert_eq!(ws.protocol(), Some("v2"));
}

#[tokio::test]
async fn shutdown_closes_with_1001_and_refuses_new_connections() {
    let (server, ..) = server();
    let mut ws = server.connect("/light/on").await.unwrap();
    assert_eq!(server.handle().connections(), 1);
    server.handle().shutdown();
    assert_eq!(close_code(&mut ws).await, 1001);
    server.handle().stopped().await;
    assert_eq!(server.handle().connections(), 0);
    match server.connect("/light/on").await {
        Err(Error::Refused { status, .. }) => assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE),
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_handler_that_ignores_the_shutdown_is_cancelled_at_the_shutdown_timeout() {
    #[route("/stubborn")]
    async fn stubborn(_ws: WebSocket) {
        // Never reads, so never sees the 1001: only the shutdown timeout ends it.
        std::future::pending::<()>().await;
    }

    let timeout = std::time::Duration::from_millis(200);
    let server = TestServer::new(Server::new(routes![stubborn]).shutdown_timeout(timeout));
    let mut ws = server.connect("/stubborn").await.unwrap();
    assert_eq!(server.handle().connections(), 1);
    let started = std::time::Instant::now();
    server.handle().shutdown();
    tokio::time::timeout(timeout * 10, server.handle().stopped())
        .await
        .expect("stopped() completes once the handler is cancelled");
    assert!(
        started.elapsed() >= timeout,
        "cancelled only after the timeout"
    );
    assert_eq!(server.handle().connections(), 0);
    // The connection is gone: the client reads its end.
    assert!(ws.recv().await.is_none_or(|next| next.is_err()));
}

#[tokio::test]
async fn a_refusal_at_the_limits_is_an_http_response() {
    let server = TestServer::new(Server::new(routes![light]).max_connections(1));
    let _ws = server.connect("/light/on").await.unwrap();
    match server.connect("/light/on").await {
        Err(Error::Refused {
            status,
            headers,
            body,
        }) => {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
            assert_eq!(headers["connection"], "close");
            assert_eq!(body.as_deref(), Some(&b"too many connections\n"[..]));
        }
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
}

#[test]
#[should_panic(expected = "takes `State<Visits>`")]
fn a_missing_state_fails_at_once() {
    let _ = TestServer::new(Server::new(routes![visit]));
}
