//! Two servers sharing rooms through one real `redis-server` (started here on a free port):
//! broadcasts and presence cross between them, and survive a Redis restart.
//!
//! Skipped, with a note, when `redis-server` is not installed; failed instead when
//! `WS_ROUTES_REQUIRE_REDIS` is set (as `scripts/test` does, after installing it).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ws_routes::{Message, Rooms, Server, State, WebSocket, route, routes};

use support::redis::Redis;
use support::{connect, spawn_server, text};

/// Joins the room, says so, and relays every text to the other members on every server.
#[route("/room/{room}")]
async fn member(mut ws: WebSocket, room: String, State(rooms): State<Rooms>) {
    let me = ws.sender();
    rooms.join(&room, &me);
    if ws.send(format!("joined {room}")).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = ws.recv().await {
        if let Some(text) = message.as_text() {
            rooms.broadcast_except(&room, text, &me);
        }
    }
}

/// A server with its own rooms on the shared Redis.
async fn server(redis: &Redis) -> (SocketAddr, Rooms) {
    let rooms = Rooms::builder()
        .redis(redis.url())
        .redis_prefix("test")
        .presence_ttl(Duration::from_secs(3))
        .build()
        .expect("a valid Redis URL");
    let addr = spawn_server(Server::new(routes![member]).with_state(rooms.clone())).await;
    (addr, rooms)
}

async fn join(addr: SocketAddr, room: &str) -> WebSocket {
    let mut ws = connect(addr, &format!("/room/{room}")).await;
    assert_eq!(text(&mut ws).await, format!("joined {room}"));
    ws
}

/// Broadcasts probes from `from` until `to` receives one: the backplane (re)connects in the
/// background, and a broadcast published before the other server subscribed is lost.
async fn until_connected(from: &Rooms, room: &str, to: &mut WebSocket) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for probe in 0.. {
        assert!(
            Instant::now() < deadline,
            "no broadcast crossed Redis in 20 s"
        );
        from.broadcast(room, format!("probe {probe}"));
        // Broadcasts held in the outbox while Redis was down may arrive first.
        let wait = Duration::from_millis(200);
        while let Ok(received) = tokio::time::timeout(wait, to.recv()).await {
            match received {
                Some(Ok(Message::Text(text))) if text.starts_with("probe ") => return,
                Some(Ok(_)) => continue,
                other => panic!("expected a probe, got {other:?}"),
            }
        }
    }
}

/// The next text that is not a probe.
async fn next_text(ws: &mut WebSocket) -> String {
    let next = async {
        loop {
            let text = text(ws).await;
            if !text.starts_with("probe ") {
                return text;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), next)
        .await
        .expect("a message within ten seconds")
}

/// Polls `count` until it gives `expected`, for up to ten seconds.
async fn wait_for_count<F: Future<Output = usize>>(mut count: impl FnMut() -> F, expected: usize) {
    let mut last = 0;
    for _ in 0..200 {
        last = count().await;
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("count stayed at {last}, expected {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_broadcasts_and_presence() {
    let Some(redis) = Redis::start() else { return };
    let (addr_a, rooms_a) = server(&redis).await;
    let (addr_b, rooms_b) = server(&redis).await;
    let mut on_a = join(addr_a, "lobby").await;
    let mut on_b = join(addr_b, "lobby").await;
    let mut elsewhere_b = join(addr_b, "elsewhere").await;
    until_connected(&rooms_a, "lobby", &mut on_b).await;
    until_connected(&rooms_b, "lobby", &mut on_a).await;

    // A member's text on A reaches the member on B (and not its sender), and back.
    on_a.send("from a").await.unwrap();
    assert_eq!(next_text(&mut on_b).await, "from a");
    on_b.send("from b").await.unwrap();
    assert_eq!(next_text(&mut on_a).await, "from b");
    // Broadcasts from outside any connection, and to everyone, cross too.
    rooms_b.broadcast_all("everyone");
    assert_eq!(next_text(&mut on_a).await, "everyone");
    assert_eq!(next_text(&mut on_b).await, "everyone");
    assert_eq!(next_text(&mut elsewhere_b).await, "everyone");
    rooms_a.broadcast("elsewhere", "to elsewhere");
    assert_eq!(next_text(&mut elsewhere_b).await, "to elsewhere");

    // Presence adds up both servers, seen from either.
    wait_for_count(|| async { rooms_a.count("lobby").await.unwrap() }, 2).await;
    wait_for_count(|| async { rooms_b.count("lobby").await.unwrap() }, 2).await;
    let presence = rooms_a.presence().await.unwrap();
    assert_eq!(presence.get("lobby"), Some(&2));
    assert_eq!(presence.get("elsewhere"), Some(&1));

    // A member leaving B is seen by both.
    drop(on_b);
    wait_for_count(|| async { rooms_a.count("lobby").await.unwrap() }, 1).await;
    wait_for_count(|| async { rooms_b.count("lobby").await.unwrap() }, 1).await;

    // A server that goes away takes its presence with it.
    drop(elsewhere_b);
    drop(rooms_b);
    wait_for_count(
        || async { rooms_a.presence().await.unwrap().values().sum() },
        1,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_and_presence_resume_after_a_redis_restart() {
    // The backplane logs its outage and recovery; `--nocapture` shows them.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (addr_a, rooms_a) = server(&redis).await;
    let (addr_b, rooms_b) = server(&redis).await;
    let mut on_a = join(addr_a, "lobby").await;
    let mut on_b = join(addr_b, "lobby").await;
    until_connected(&rooms_a, "lobby", &mut on_b).await;
    wait_for_count(|| async { rooms_a.count("lobby").await.unwrap() }, 2).await;

    redis.stop();
    // Local rooms go on while Redis is down, and presence asks fail rather than lie.
    let mut also_on_a = join(addr_a, "lobby").await;
    on_a.send("local while redis is down").await.unwrap();
    assert_eq!(next_text(&mut also_on_a).await, "local while redis is down");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rooms_a.count("lobby").await.is_err());
    redis.start_again();

    // Both servers reconnect and resubscribe by themselves.
    until_connected(&rooms_a, "lobby", &mut on_b).await;
    until_connected(&rooms_b, "lobby", &mut on_a).await;
    on_b.send("after the restart").await.unwrap();
    assert_eq!(next_text(&mut on_a).await, "after the restart");
    // The fresh Redis learns each server's presence again.
    wait_for_count(|| async { rooms_b.count("lobby").await.unwrap_or(0) }, 3).await;
}
