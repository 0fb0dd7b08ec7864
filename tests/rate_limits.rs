//! `Server::rate_limit` over real sockets: a client that floods past the message rate, or past
//! the byte rate, is closed with 1008 after its burst, the handler learns why, and
//! `ws_routes_rate_limited_total` counts it; a client under the limit is untouched.

mod support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ws_routes::{Error, RateLimit, Server, State, WebSocket, route, routes};

use support::{close_frame, connect, spawn_server, text, within};

/// What the handlers' `recv` ended with, in order.
#[derive(Clone, Default)]
struct Ends(Arc<Mutex<Vec<String>>>);

/// Echoes until `recv` ends, and notes how it ended.
async fn echo(mut ws: WebSocket, ends: Ends) {
    let end = loop {
        match ws.recv().await {
            Some(Ok(message)) => {
                if ws.send(message).await.is_err() {
                    break "send failed".to_owned();
                }
            }
            Some(Err(Error::RateLimited)) => break "rate limited".to_owned(),
            Some(Err(error)) => break error.to_string(),
            None => break "closed".to_owned(),
        }
    };
    ends.0.lock().unwrap().push(end);
}

#[route("/messages")]
async fn messages(ws: WebSocket, State(ends): State<Ends>) {
    echo(ws, ends).await;
}

#[route("/bytes")]
async fn bytes(ws: WebSocket, State(ends): State<Ends>) {
    echo(ws, ends).await;
}

#[route("/calm")]
async fn calm(ws: WebSocket, State(ends): State<Ends>) {
    echo(ws, ends).await;
}

/// The process's metrics, recorded from the first call on (one recorder for every test here;
/// each test reads its own route's series).
fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

/// How many connections on `route` the rate limit closed.
fn rate_limited(route: &str) -> u64 {
    let rendered = metrics().render();
    let series = format!("ws_routes_rate_limited_total{{route=\"{route}\"}} ");
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |count| count.parse().unwrap())
}

/// A server limited to 20 messages a second with bursts of 5, and 1,000 bytes a second with
/// bursts of 2,000.
async fn limited(ends: &Ends) -> std::net::SocketAddr {
    metrics();
    let limit = RateLimit::new().messages(20, 5).bytes(1_000, 2_000);
    let server = Server::new(routes![messages, bytes, calm])
        .with_state(ends.clone())
        .rate_limit(limit);
    spawn_server(server).await
}

#[tokio::test]
async fn a_flood_of_messages_is_closed_with_1008_after_its_burst_and_counted() {
    let ends = Ends::default();
    let addr = limited(&ends).await;
    let mut ws = connect(addr, "/messages").await;
    for number in 0..50 {
        if ws.send(format!("{number}")).await.is_err() {
            break;
        }
    }
    // The burst is echoed; the sixth message, back to back, is over.
    for number in 0..5 {
        assert_eq!(text(&mut ws).await, format!("{number}"));
    }
    assert_eq!(
        close_frame(&mut ws).await,
        (1008, "rate limit exceeded".into())
    );
    support::wait_for(|| !ends.0.lock().unwrap().is_empty()).await;
    assert_eq!(*ends.0.lock().unwrap(), ["rate limited"]);
    assert_eq!(rate_limited("/messages"), 1);
}

#[tokio::test]
async fn bytes_past_their_burst_are_closed_with_1008_and_counted() {
    let ends = Ends::default();
    let addr = limited(&ends).await;
    let mut ws = connect(addr, "/bytes").await;
    ws.send("a".repeat(1_500)).await.unwrap();
    assert_eq!(text(&mut ws).await.len(), 1_500);
    // 500 bytes left (and a few more refilled meanwhile): 1,000 more are over.
    ws.send("b".repeat(1_000)).await.unwrap();
    assert_eq!(
        close_frame(&mut ws).await,
        (1008, "rate limit exceeded".into())
    );
    assert_eq!(rate_limited("/bytes"), 1);
}

#[tokio::test]
async fn a_client_under_the_limit_is_untouched() {
    let ends = Ends::default();
    let addr = limited(&ends).await;
    let mut ws = connect(addr, "/calm").await;
    // Ten a second, half the limit, for a second and a half: past the burst of five many
    // times over.
    for number in 0..15 {
        assert_eq!(
            support::ask(&mut ws, &format!("{number}")).await,
            format!("{number}")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    within(ws.close(1000u16, "done")).await.unwrap();
    let answer = support::until_closed(&mut ws).await;
    assert_eq!(answer.map(|(code, _)| code), Some(1000));
    support::wait_for(|| !ends.0.lock().unwrap().is_empty()).await;
    assert_eq!(*ends.0.lock().unwrap(), ["closed"]);
    assert_eq!(rate_limited("/calm"), 0);
}
