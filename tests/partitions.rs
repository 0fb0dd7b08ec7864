//! Rooms spread over several Redis streams (`RoomsBuilder::redis_partitions`), between servers
//! sharing a real `redis-server`: everything still crosses (rooms, everyone, users, presence,
//! histories); a server reads the traffic of the partitions its rooms are in and no other; a
//! member gets every broadcast made after its join, although its server starts reading the
//! room's stream then; and stops once the last member leaves.
//!
//! The tests need `redis-server`: they are `#[ignore]`d, and `scripts/test` runs them.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use ws_routes::rooms::{History, RoomsBuilder};
use ws_routes::{Rooms, Server, WebSocket, routes};

use support::redis::{Redis, connected, reading, stats, wait_until};
use support::rooms::member;
use support::{spawn_server, text, within};

const PARTITIONS: u16 = 8;

fn builder(url: &str) -> RoomsBuilder {
    Rooms::builder()
        .redis(url)
        .redis_prefix("parts")
        .redis_partitions(PARTITIONS)
        .presence_ttl(Duration::from_secs(3))
        .history_for("kept-", History::new())
}

async fn server(url: &str) -> (SocketAddr, Rooms) {
    let rooms = builder(url).build().expect("a valid Redis URL");
    connected(&rooms).await;
    let addr = spawn_server(Server::new(routes![member]).with_state(rooms.clone())).await;
    (addr, rooms)
}

async fn join(addr: SocketAddr, room: &str) -> WebSocket {
    support::rooms::join(addr, &format!("/room/{room}")).await
}

fn partition(room: &str) -> u16 {
    support::redis::partition(room, PARTITIONS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn everything_crosses_between_servers_as_with_one_stream() {
    let redis = Redis::start();
    let (addr_a, rooms_a) = server(&redis.url()).await;
    let (addr_b, rooms_b) = server(&redis.url()).await;
    let mut on_a = join(addr_a, "lobby").await;
    let mut on_b = join(addr_b, "lobby").await;
    let mut kept_b = join(addr_b, "kept-news").await;
    wait_until(
        "both read the lobby's stream",
        Duration::from_secs(10),
        || async { stats(&rooms_a).connected && stats(&rooms_b).connected },
    )
    .await;

    on_a.send("from a").await.unwrap();
    assert_eq!(within(text(&mut on_b)).await, "from a");
    on_b.send("from b").await.unwrap();
    assert_eq!(within(text(&mut on_a)).await, "from b");
    rooms_a.broadcast_all("everyone");
    assert_eq!(within(text(&mut on_b)).await, "everyone");
    assert_eq!(within(text(&mut kept_b)).await, "everyone");
    // A room with history: numbered by Redis on its shared stream, delivered everywhere.
    rooms_a.broadcast("kept-news", "extra");
    assert_eq!(within(text(&mut kept_b)).await, "extra");
    assert_eq!(rooms_a.count("lobby").await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_server_reads_only_the_partitions_of_its_rooms() {
    let redis = Redis::start();
    let (addr_a, rooms_a) = server(&redis.url()).await;
    let (_, rooms_b) = server(&redis.url()).await;
    let shared = usize::from(PARTITIONS);
    assert_eq!(
        stats(&rooms_a).streams_read,
        shared,
        "the shared streams, always"
    );

    let mut mine = join(addr_a, "room-7").await;
    reading(&rooms_a, shared + 1).await;
    let before = stats(&rooms_a).read;

    // B broadcasts to 200 rooms; A reads those of room-7's partition alone.
    let rooms: Vec<String> = (0..200).map(|i| format!("room-{i}")).collect();
    for room in &rooms {
        rooms_b.broadcast(room, "tick");
    }
    let expected = rooms
        .iter()
        .filter(|room| partition(room) == partition("room-7"))
        .count() as u64;
    assert!(expected < 100, "{expected}");
    assert_eq!(within(text(&mut mine)).await, "tick");
    wait_until(
        "A read its partition's broadcasts",
        Duration::from_secs(10),
        || async { stats(&rooms_a).read - before >= expected },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        stats(&rooms_a).read - before,
        expected,
        "A read the broadcasts of room-7's partition, and nothing else"
    );

    // The last member leaves: A stops reading the partition.
    drop(mine);
    wait_until(
        "A stops reading room-7's stream",
        Duration::from_secs(10),
        || async { stats(&rooms_a).streams_read == shared },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_member_gets_every_broadcast_made_after_its_join() {
    let redis = Redis::start();
    let (addr_a, _rooms_a) = server(&redis.url()).await;
    let (_, rooms_b) = server(&redis.url()).await;
    // Each room a partition A does not read yet: its reader starts as the member joins,
    // and the broadcast follows at once.
    let mut seen = std::collections::HashSet::new();
    for i in 0.. {
        let room = format!("fresh-{i}");
        if !seen.insert(partition(&room)) {
            continue;
        }
        let mut ws = join(addr_a, &room).await;
        rooms_b.broadcast(&room, "right after the join");
        assert_eq!(
            within(text(&mut ws)).await,
            "right after the join",
            "{room}"
        );
        if seen.len() == usize::from(PARTITIONS) {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn users_and_presence_reach_the_servers_that_read_their_partitions() {
    let redis = Redis::start();
    let (_, rooms_a) = server(&redis.url()).await;
    let (_, rooms_b) = server(&redis.url()).await;
    let shared = usize::from(PARTITIONS);
    // A connection on B, bound to ann: B reads ann's interest stream, and only that one.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let probe = spawn_server(Server::new(routes![held]).with_state((rooms_b.clone(), tx))).await;
    let mut bound = support::connect(probe, "/held").await;
    let sender = rx.recv().await.unwrap();
    assert!(rooms_b.bind_user(&sender, "ann"));
    reading(&rooms_b, shared + 1).await;
    rooms_a.to_user("ann", "for ann");
    assert_eq!(within(text(&mut bound)).await, "for ann");

    // Presence of a room watched on A, changed on B: A reads the room's partition for it.
    let mut events = rooms_a.presence_events("watched");
    assert!(matches!(
        within(events.next()).await,
        Some(ws_routes::rooms::PresenceEvent::State(_))
    ));
    // A has no member: the watch alone makes it read the room's interest stream.
    reading(&rooms_a, shared + 1).await;
    rooms_b.track("watched", &sender, "ann", &()).unwrap();
    match within(events.next()).await {
        Some(ws_routes::rooms::PresenceEvent::Diff(diff)) => {
            assert!(diff.joins().contains_key("ann"), "{diff:?}");
        }
        other => panic!("expected a diff, got {other:?}"),
    }
}

/// A room's interest stream is read while a member or a watcher of its presence needs it: its
/// member gone, the watch keeps it (another server's presence change still arrives at once);
/// the last subscriber gone, it stops at once, although another room's watch goes on. With a
/// 30 s presence TTL, the watchers' recheck (every 10 s) is not what notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_room_is_read_while_a_member_or_a_watcher_needs_it() {
    let redis = Redis::start();
    let start = |url: String| async move {
        let rooms = builder(&url)
            .presence_ttl(Duration::from_secs(30))
            .build()
            .expect("a valid Redis URL");
        connected(&rooms).await;
        let addr = spawn_server(Server::new(routes![member]).with_state(rooms.clone())).await;
        (addr, rooms)
    };
    let (addr_a, rooms_a) = start(redis.url()).await;
    let (_, rooms_b) = start(redis.url()).await;
    let shared = usize::from(PARTITIONS);
    let other = (0..)
        .map(|i| format!("other-{i}"))
        .find(|room| partition(room) != partition("lobby"))
        .unwrap();

    let member = join(addr_a, "lobby").await;
    let mut first = rooms_a.presence_events("lobby");
    let second = rooms_a.presence_events("lobby");
    let other_watch = rooms_a.presence_events(&other);
    reading(&rooms_a, shared + 2).await;
    assert!(matches!(
        within(first.next()).await,
        Some(ws_routes::rooms::PresenceEvent::State(_))
    ));

    // The member leaves; the watch keeps the lobby's stream read: B's change arrives at once.
    drop(member);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stats(&rooms_a).streams_read, shared + 2);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let probe = spawn_server(Server::new(routes![held]).with_state((rooms_b.clone(), tx))).await;
    let _bound = support::connect(probe, "/held").await;
    let sender = rx.recv().await.unwrap();
    rooms_b.track("lobby", &sender, "ann", &()).unwrap();
    match tokio::time::timeout(Duration::from_secs(3), first.next()).await {
        Ok(Some(ws_routes::rooms::PresenceEvent::Diff(diff))) => {
            assert!(diff.joins().contains_key("ann"), "{diff:?}");
        }
        other => panic!("expected B's change within 3 s, got {other:?}"),
    }

    // One subscriber of two goes: still read. The last goes: no longer, at once.
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stats(&rooms_a).streams_read, shared + 2);
    drop(second);
    wait_until(
        "A stops reading the lobby's stream",
        Duration::from_secs(2),
        || async { stats(&rooms_a).streams_read == shared + 1 },
    )
    .await;
    drop(other_watch);
    wait_until(
        "A stops reading the other room's stream",
        Duration::from_secs(2),
        || async { stats(&rooms_a).streams_read == shared },
    )
    .await;
}

/// Hands the test its connection's sender.
#[ws_routes::route("/held")]
async fn held(
    mut ws: WebSocket,
    ws_routes::State(state): ws_routes::State<(
        Rooms,
        tokio::sync::mpsc::UnboundedSender<ws_routes::Sender>,
    )>,
) {
    let _ = state.1.send(ws.sender());
    while let Some(Ok(_)) = ws.recv().await {}
}
