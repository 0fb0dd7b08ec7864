//! What the library records, read back through a debugging recorder: rooms' broadcasts and
//! slow members, and a test server's connections by route pattern.

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

use crate::rooms::SlowConsumer;
use crate::socket::send_queue::SendQueue;
use crate::test::TestServer;
use crate::{Rooms, Server, State, WebSocket, route, routes};

/// Awaits `future` for up to ten seconds.
async fn within<F: Future>(future: F) -> Result<F::Output, tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(10), future).await
}

/// What was recorded, by `name{label=value,...}`: counters and gauges by value,
/// histograms by how many values they hold.
fn recorded(snapshotter: &Snapshotter) -> HashMap<String, f64> {
    let snapshot = snapshotter.snapshot().into_vec();
    snapshot
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(count) => count as f64,
                DebugValue::Gauge(value) => value.into_inner(),
                DebugValue::Histogram(values) => values.len() as f64,
            };
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

#[test]
fn rooms_count_broadcasts_recipients_and_slow_members() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        for policy in [SlowConsumer::Skip, SlowConsumer::Close] {
            let rooms = Rooms::builder()
                .pending_limit(1024)
                .slow_consumer(policy)
                .build()
                .unwrap();
            // A member whose connection never drains its send queue.
            let send_queue = SendQueue::new(32);
            rooms.join("feed", &send_queue.sender());
            for _ in 0..3 {
                rooms.broadcast("feed", "x".repeat(800));
            }
        }
    });
    let recorded = recorded(&snapshotter);
    // Skip: the first is queued, the next two skipped. Close: the first is queued, the
    // second closes the member, the third finds no one.
    assert_eq!(recorded["ws_routes_broadcasts_total{}"], 6.0);
    assert_eq!(recorded["ws_routes_broadcast_recipients_total{}"], 2.0);
    assert_eq!(recorded["ws_routes_slow_consumer_skipped_total{}"], 2.0);
    assert_eq!(recorded["ws_routes_slow_consumer_closed_total{}"], 1.0);
}

#[route("/echo/{room}")]
async fn echo(mut ws: WebSocket, _room: String) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

#[route("/feed")]
async fn feed(mut ws: WebSocket, State(rooms): State<Rooms>) {
    rooms.join("feed", &ws.sender());
    while let Some(Ok(_)) = ws.recv().await {}
}

#[tokio::test]
async fn connections_count_by_route_pattern() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let rooms = Rooms::new();
    let server = TestServer::new(Server::new(routes![echo, feed]).with_state(rooms.clone()));

    let mut lobby = within(server.connect("/echo/lobby"))
        .await
        .unwrap()
        .unwrap();
    lobby.send("hello").await.unwrap();
    assert_eq!(
        lobby.recv().await.unwrap().unwrap().as_text(),
        Some("hello")
    );
    lobby.close(1000u16, "bye").await.unwrap();
    assert!(lobby.recv().await.is_none());

    let mut subscriber = within(server.connect("/feed")).await.unwrap().unwrap();
    assert_eq!(rooms.broadcast("feed", "news"), 1);
    let news = within(subscriber.recv()).await.unwrap().unwrap().unwrap();
    assert_eq!(news.as_text(), Some("news"));

    let mut lost = within(server.connect("/nowhere")).await.unwrap().unwrap();
    assert!(within(lost.recv()).await.unwrap().is_none());

    let strict = TestServer::new(Server::new(routes![echo]).allowed_origins(["https://a.example"]));
    assert!(
        within(strict.connect("/echo/lobby"))
            .await
            .unwrap()
            .is_err()
    );

    let recorded = {
        // Every connection closed: the server's tasks are done with their records.
        let handle = server.handle();
        handle.shutdown();
        // The subscriber answers the server's 1001.
        let answering = async { while subscriber.recv().await.is_some() {} };
        within(async { tokio::join!(handle.stopped(), answering) })
            .await
            .unwrap();
        recorded(&snapshotter)
    };
    let echo = "route=/echo/{room}";
    for (series, value) in [
        (format!("ws_routes_messages_received_total{{{echo}}}"), 1.0),
        (format!("ws_routes_received_bytes_total{{{echo}}}"), 5.0),
        (format!("ws_routes_messages_sent_total{{{echo}}}"), 1.0),
        (format!("ws_routes_sent_bytes_total{{{echo}}}"), 5.0),
        // The broadcast, framed once for every member, counts its payload.
        ("ws_routes_sent_bytes_total{route=/feed}".to_owned(), 4.0),
        (format!("ws_routes_connections_active{{{echo}}}"), 0.0),
        (
            format!("ws_routes_handshake_duration_seconds{{{echo}}}"),
            1.0,
        ),
        (
            format!("ws_routes_connection_duration_seconds{{{echo},code=1000}}"),
            1.0,
        ),
        (
            "ws_routes_close_codes_sent_total{route=unmatched,code=4040}".to_owned(),
            1.0,
        ),
        (
            "ws_routes_close_codes_sent_total{route=/feed,code=1001}".to_owned(),
            1.0,
        ),
        (
            "ws_routes_handshakes_total{outcome=accepted}".to_owned(),
            3.0,
        ),
        (
            "ws_routes_handshakes_total{outcome=refused,status=403}".to_owned(),
            1.0,
        ),
    ] {
        assert_eq!(
            recorded.get(&series),
            Some(&value),
            "{series} in {recorded:#?}"
        );
    }
}
