//! The route table mounted in an axum app (feature `axum`), over real sockets: HTTP and
//! WebSocket requests on one port, with every standalone guarantee.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request as HttpRequest;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tokio::sync::oneshot;
use ws_routes::http::StatusCode;
use ws_routes::server::ServerHandle;
use ws_routes::{
    Client, Error, Message, Reject, Request, Server, Session, WebSocket, route, routes,
};

use support::{Example, close_frame, text, within};

#[route("/echo/{room}")]
async fn echo(mut ws: WebSocket, room: String) {
    let _ = ws.send(format!("joined {room}")).await;
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

#[route("/boom")]
async fn boom(_ws: WebSocket) {
    panic!("the handler fails");
}

#[route("/chat", protocols = ["chat.v2", "chat.v1"])]
async fn chat(mut ws: WebSocket) {
    let protocol = ws.protocol().unwrap_or("none").to_owned();
    let _ = ws.send(protocol).await;
}

#[derive(Clone)]
struct User(String);

struct Private {
    greeting: String,
}

#[route("/private")]
impl Private {
    async fn accept(request: &Request) -> Result<Self, Reject> {
        match request.extensions().get::<User>() {
            Some(User(name)) => Ok(Private {
                greeting: format!("hello {name} from {}", request.peer_addr().ip()),
            }),
            None => Err(Reject::new(StatusCode::UNAUTHORIZED)
                .header("www-authenticate", "Bearer")
                .body("sign in first\n")),
        }
    }

    async fn on_open(&mut self, session: &mut Session) {
        let _ = session.send(self.greeting.as_str()).await;
    }
}

/// Puts `User(NAME)` in the extensions for `x-user: NAME`.
async fn authenticate(mut request: HttpRequest, next: Next) -> Response {
    let user = request
        .headers()
        .get("x-user")
        .and_then(|value| value.to_str().ok())
        .map(|name| User(name.to_owned()));
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}

/// A running app: its address, the WebSockets' handle, the signal that shuts it down and the
/// task that serves it.
struct App {
    addr: SocketAddr,
    handle: ServerHandle,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves an axum app with `/health`, the routes of `server` merged in, an authentication
/// middleware, and the routes' service as the fallback (so unmatched upgrades get 4040).
async fn serve(server: Server) -> App {
    let websockets = server.into_service().expect("a valid server");
    let handle = websockets.handle();
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(ws_routes::axum::router(websockets.clone()))
        .fallback_service(websockets)
        .layer(middleware::from_fn(authenticate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let closing = handle.clone();
    let served = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
            closing.shutdown();
        })
        .await
    });
    App {
        addr,
        handle,
        stop: Some(stop),
        served,
    }
}

fn routes() -> ws_routes::Routes {
    routes![echo, boom, chat, Private]
}

async fn app() -> App {
    serve(
        Server::new(routes())
            .max_message_size(1024)
            .allowed_origins(["https://app.example.com"])
            .allow_missing_origin(true),
    )
    .await
}

/// A bare HTTP/1.1 GET: the status and the body.
async fn get_http(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    let response = support::raw::http(addr, &request).await;
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn connect(addr: SocketAddr, path: &str) -> WebSocket {
    support::connect(addr, path).await
}

fn refused_status(result: Result<WebSocket, Error>) -> (StatusCode, String) {
    match result {
        Err(Error::Refused { status, body, .. }) => {
            (status, String::from_utf8(body.unwrap_or_default()).unwrap())
        }
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, the handshake succeeded"),
    }
}

#[tokio::test]
async fn http_and_websockets_share_the_port() {
    let app = app().await;
    assert_eq!(get_http(app.addr, "/health").await, (200, "ok".to_owned()));
    let mut ws = connect(app.addr, "/echo/lobby").await;
    assert_eq!(text(&mut ws).await, "joined lobby");
    ws.send("hello").await.unwrap();
    assert_eq!(text(&mut ws).await, "hello");
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    match support::next(&mut ws).await {
        Some(Ok(Message::Binary(data))) => assert_eq!(&data[..], [1, 2, 3]),
        other => panic!("expected the binary echo, got {other:?}"),
    }
}

#[tokio::test]
async fn plain_requests_get_426_on_a_route_and_404_elsewhere() {
    let app = app().await;
    assert_eq!(get_http(app.addr, "/echo/lobby").await.0, 426);
    assert_eq!(get_http(app.addr, "/nothing/here").await.0, 404);
}

#[tokio::test]
async fn an_unmatched_upgrade_is_closed_with_4040() {
    let app = app().await;
    let mut ws = connect(app.addr, "/nothing/here").await;
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, 4040);
    assert_eq!(reason, "no route for /nothing/here");
}

#[tokio::test]
async fn the_middleware_extension_reaches_the_accept_hook() {
    let app = app().await;
    let refused = ws_routes::connect(&format!("ws://{}/private", app.addr)).await;
    assert_eq!(
        refused_status(refused),
        (StatusCode::UNAUTHORIZED, "sign in first\n".to_owned())
    );
    let client = Client::new().header("x-user", "ada");
    let mut ws = client
        .connect(&format!("ws://{}/private", app.addr))
        .await
        .unwrap();
    // The peer address comes from axum's ConnectInfo.
    assert_eq!(text(&mut ws).await, "hello ada from 127.0.0.1");
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403() {
    let app = app().await;
    let url = format!("ws://{}/echo/lobby", app.addr);
    let foreign = Client::new().header("origin", "https://evil.example");
    assert_eq!(
        refused_status(foreign.connect(&url).await).0,
        StatusCode::FORBIDDEN
    );
    let ours = Client::new().header("origin", "https://app.example.com");
    let mut ws = ours.connect(&url).await.unwrap();
    assert_eq!(text(&mut ws).await, "joined lobby");
}

#[tokio::test]
async fn subprotocols_are_negotiated() {
    let app = app().await;
    let url = format!("ws://{}/chat", app.addr);
    let mut ws = Client::new()
        .protocols(["chat.v1"])
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v1"));
    assert_eq!(text(&mut ws).await, "chat.v1");
}

#[tokio::test]
async fn compression_is_negotiated_as_standalone() {
    // The default message limit: the message below is long enough to be compressed.
    let app = serve(Server::new(routes())).await;
    let url = format!("ws://{}/echo/lobby", app.addr);
    let mut ws = support::within(Client::new().connect(&url)).await.unwrap();
    assert!(ws.is_compressed(), "permessage-deflate in the mounted 101");
    assert_eq!(text(&mut ws).await, "joined lobby");
    let long = "{\"reading\": 21.5}, ".repeat(500);
    ws.send(long.as_str()).await.unwrap();
    assert_eq!(text(&mut ws).await, long);
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009() {
    let app = app().await;
    let mut ws = connect(app.addr, "/echo/big").await;
    assert_eq!(text(&mut ws).await, "joined big");
    ws.send("x".repeat(2048)).await.unwrap();
    assert_eq!(close_frame(&mut ws).await.0, 1009);
}

#[tokio::test]
async fn a_panicking_handler_closes_with_1011() {
    let app = app().await;
    let mut ws = connect(app.addr, "/boom").await;
    assert_eq!(
        close_frame(&mut ws).await,
        (1011, "internal error".to_owned())
    );
}

#[tokio::test]
async fn graceful_shutdown_closes_websockets_with_1001_within_the_deadline() {
    let mut app = serve(
        Server::new(routes())
            .shutdown_timeout(Duration::from_secs(2))
            .close_timeout(Duration::from_secs(1)),
    )
    .await;
    let mut first = connect(app.addr, "/echo/a").await;
    let mut second = connect(app.addr, "/echo/b").await;
    assert_eq!(text(&mut first).await, "joined a");
    assert_eq!(text(&mut second).await, "joined b");
    assert_eq!(app.handle.connections(), 2);

    let started = Instant::now();
    app.stop.take().unwrap().send(()).unwrap();
    assert_eq!(close_frame(&mut first).await.0, 1001);
    assert_eq!(close_frame(&mut second).await.0, 1001);
    tokio::time::timeout(Duration::from_secs(5), app.handle.stopped())
        .await
        .expect("every WebSocket stopped within the deadline");
    assert_eq!(app.handle.connections(), 0);
    assert!(started.elapsed() < Duration::from_secs(3));
    tokio::time::timeout(Duration::from_secs(5), app.served)
        .await
        .expect("axum returned")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn websockets_of_a_service_that_is_dropped_close_with_1001() {
    // Served without a graceful shutdown, which would shut the routes down itself.
    let websockets = Server::new(routes![echo]).into_service().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(async move {
        axum::serve(listener, Router::new().fallback_service(websockets)).await
    });
    let mut ws = connect(addr, "/echo/a").await;
    assert_eq!(text(&mut ws).await, "joined a");
    // The HTTP server ends, and the service with it: nothing could shut the routes down any
    // more, and their WebSockets close as in a shutdown.
    served.abort();
    assert!(served.await.unwrap_err().is_cancelled());
    assert_eq!(close_frame(&mut ws).await.0, 1001);
}

#[tokio::test]
async fn the_axum_example_serves_both_on_one_port() {
    let example = Example::start("axum_app", &["--addr", "127.0.0.1:0"]);
    let addr: SocketAddr = example.url["ws://".len()..].parse().unwrap();
    assert_eq!(get_http(addr, "/health").await, (200, "ok".to_owned()));
    let (status, page) = get_http(addr, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("/echo/lobby"));
    let mut ws = connect(addr, "/echo/lobby").await;
    ws.send("hi").await.unwrap();
    assert_eq!(text(&mut ws).await, "hi");
    let refused = ws_routes::connect(&format!("ws://{addr}/whoami")).await;
    assert_eq!(refused_status(refused).0, StatusCode::UNAUTHORIZED);
    let mut ws = Client::new()
        .header("authorization", "Bearer grace")
        .connect(&format!("ws://{addr}/whoami"))
        .await
        .unwrap();
    assert_eq!(text(&mut ws).await, "hello grace from 127.0.0.1");
}

/// The sample lines of a Prometheus scrape, by series (`name{labels}`).
fn samples(scrape: &str) -> std::collections::HashMap<String, f64> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(series, value)| (series.to_owned(), value.parse().unwrap()))
        .collect()
}

/// Scrapes `/metrics` until `series` has `value`, for up to ten seconds (connections are
/// counted closed by the server's task, a moment after the client sees the close).
async fn scrape_until(
    addr: SocketAddr,
    series: &str,
    value: f64,
) -> std::collections::HashMap<String, f64> {
    for _ in 0..1000 {
        let (status, scrape) = get_http(addr, "/metrics").await;
        assert_eq!(status, 200);
        let found = samples(&scrape);
        if found.get(series) == Some(&value) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{series} never reached {value}");
}

#[tokio::test]
async fn the_axum_example_exposes_metrics_by_route_pattern() {
    let example = Example::start("axum_app", &["--addr", "127.0.0.1:0"]);
    let addr: SocketAddr = example.url["ws://".len()..].parse().unwrap();
    let mut lobby = connect(addr, "/echo/lobby").await;
    let mut kitchen = connect(addr, "/echo/kitchen").await;
    for (ws, message) in [(&mut lobby, "hello"), (&mut kitchen, "hi")] {
        ws.send(message).await.unwrap();
        assert_eq!(text(ws).await, message);
    }
    let refused = ws_routes::connect(&format!("ws://{addr}/whoami")).await;
    assert_eq!(refused_status(refused).0, StatusCode::UNAUTHORIZED);
    within(kitchen.close(1000u16, "bye")).await.unwrap();
    assert!(support::next(&mut kitchen).await.is_none());

    let echo = r#"{route="/echo/{room}"}"#;
    let found = scrape_until(
        addr,
        r#"ws_routes_close_codes_sent_total{route="/echo/{room}",code="1000"}"#,
        1.0,
    )
    .await;
    let value = |name: &str, labels: &str| found.get(&format!("{name}{labels}")).copied();
    // One series per pattern, whatever the rooms: the room names appear nowhere.
    assert_eq!(value("ws_routes_connections_active", echo), Some(1.0));
    assert_eq!(value("ws_routes_messages_received_total", echo), Some(2.0));
    assert_eq!(value("ws_routes_received_bytes_total", echo), Some(7.0));
    assert_eq!(value("ws_routes_messages_sent_total", echo), Some(2.0));
    assert_eq!(value("ws_routes_sent_bytes_total", echo), Some(7.0));
    assert_eq!(
        value("ws_routes_handshakes_total", r#"{outcome="accepted"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(
            "ws_routes_handshakes_total",
            r#"{outcome="refused",status="401"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value("ws_routes_handshake_duration_seconds_count", echo),
        Some(2.0)
    );
    assert_eq!(
        value(
            "ws_routes_connection_duration_seconds_count",
            r#"{route="/echo/{room}",code="1000"}"#
        ),
        Some(1.0)
    );
    assert!(
        found
            .keys()
            .all(|series| !series.contains("lobby") && !series.contains("kitchen"))
    );
    drop(lobby);
}
