//! Servers sharing rooms through one real `redis-server` (started here on a free port):
//! broadcasts and presence cross between them; numbered broadcasts survive Redis being killed
//! and restarted mid-stream, whichever server gets it back first; the outbox keeps to its
//! budget; a server with the wrong secret is not heard; a crashed server's presence expires.
//!
//! The tests that need `redis-server` are `#[ignore]`d, so that plain `cargo test` lists them as
//! ignored; `scripts/test` installs it and runs them with `--include-ignored`. Run without it,
//! they fail saying what is missing.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ws_routes::error::BackplaneError;
use ws_routes::rooms::RoomsBuilder;
use ws_routes::{Error, Rooms, Server, State, WebSocket, route, routes};

use support::redis::{Crashable, Proxy, Redis, connected, stats, wait_until};
use support::rooms::member;
use support::{connect, spawn_server, text};

/// Tries to join every comma-separated room, and answers with what each join returned.
#[route("/rooms/{list}")]
async fn many(mut ws: WebSocket, list: String, State(rooms): State<Rooms>) {
    let me = ws.sender();
    let joined: Vec<String> = list
        .split(',')
        .map(|room| rooms.join(room, &me).to_string())
        .collect();
    if ws.send(joined.join(",")).await.is_err() {
        return;
    }
    while let Some(Ok(_)) = ws.recv().await {}
}

/// Shows the backplane's logs (its outages and recoveries) with `--nocapture`, filtered by
/// `RUST_LOG` (default: info).
fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// The settings every test server shares.
fn builder(url: &str) -> RoomsBuilder {
    Rooms::builder()
        .redis(url)
        .redis_prefix("test")
        .presence_ttl(Duration::from_secs(3))
}

/// A server with its own rooms on the shared Redis; its members' queues hold a whole
/// catch-up, so that none is closed as slow while a test reads.
async fn serve(rooms: Rooms) -> SocketAddr {
    spawn_server(
        Server::new(routes![member, many])
            .outgoing_queue(1024)
            .with_state(rooms),
    )
    .await
}

async fn server(url: &str) -> (SocketAddr, Rooms) {
    let rooms = builder(url).build().expect("a valid Redis URL");
    (serve(rooms.clone()).await, rooms)
}

/// Joins `room` on the server at `addr` through the member route.
async fn join(addr: SocketAddr, room: &str) -> WebSocket {
    support::rooms::join(addr, &format!("/room/{room}")).await
}

/// The next text, within twenty seconds (a reconnect waits up to two seconds of backoff; the
/// rest is slack for a loaded machine).
async fn next_text(ws: &mut WebSocket) -> String {
    tokio::time::timeout(Duration::from_secs(20), text(ws))
        .await
        .expect("a message within twenty seconds")
}

/// Polls `count` until it gives `expected`, for up to twenty seconds; an error (a backplane
/// that is still connecting) counts as not yet.
async fn wait_for_count<F: Future<Output = Result<usize, ws_routes::Error>>>(
    mut count: impl FnMut() -> F,
    expected: usize,
) {
    let mut last = String::from("nothing yet");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        // A backplane still connecting answers with an error: not yet, as a wrong count is.
        match count().await {
            Ok(count) if count == expected => return,
            Ok(count) => last = count.to_string(),
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("count stayed at {last}, expected {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn two_servers_share_broadcasts_and_presence() {
    logs();
    let redis = Redis::start();
    let (addr_a, rooms_a) = server(&redis.url()).await;
    let (addr_b, rooms_b) = server(&redis.url()).await;
    let mut on_a = join(addr_a, "lobby").await;
    let mut on_b = join(addr_b, "lobby").await;
    let mut elsewhere_b = join(addr_b, "elsewhere").await;
    connected(&rooms_a).await;
    connected(&rooms_b).await;

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
    wait_for_count(|| async { rooms_a.count("lobby").await }, 2).await;
    wait_for_count(|| async { rooms_b.count("lobby").await }, 2).await;
    let presence = rooms_a.presence().await.unwrap();
    assert_eq!(presence.get("lobby"), Some(&2));
    assert_eq!(presence.get("elsewhere"), Some(&1));

    // A member leaving B is seen by both; its room's last member leaving, too.
    drop(on_b);
    wait_for_count(|| async { rooms_a.count("lobby").await }, 1).await;
    wait_for_count(|| async { rooms_b.count("lobby").await }, 1).await;
    drop(elsewhere_b);
    wait_for_count(|| async { rooms_a.count("elsewhere").await }, 0).await;
    assert_eq!(
        rooms_a
            .presence()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [("lobby".to_owned(), 1)]
    );
    for rooms in [&rooms_a, &rooms_b] {
        let stats = stats(rooms);
        assert_eq!(
            (stats.lost, stats.dropped, stats.rejected, stats.gaps),
            (0, 0, 0, 0)
        );
    }
}

/// The numbered broadcasts each member received, per series (`a` from server A, `b` from B).
#[derive(Default)]
struct Received(HashMap<char, Vec<u32>>);

impl Received {
    /// Reads `ws` until it has seen `until` in both series, keeping the numbers.
    async fn read(&mut self, ws: &mut WebSocket, until: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut ends = 0;
        while ends < 2 {
            let Ok(text) = tokio::time::timeout_at(deadline, text(ws)).await else {
                panic!("both series' {until:?} within 30 s; got {:?}", self.0);
            };
            let (series, label) = text.split_once(' ').expect("a numbered broadcast");
            let series = series.chars().next().unwrap();
            if label != "end" {
                let number: u32 = label.parse().expect("a number");
                self.0.entry(series).or_default().push(number);
            }
            if label == until {
                ends += 1;
            }
        }
    }

    fn series(&self, series: char) -> &[u32] {
        self.0.get(&series).map_or(&[], Vec::as_slice)
    }
}

/// Which server gets Redis back first.
#[derive(Debug, Clone, Copy, PartialEq)]
enum First {
    A,
    B,
}

/// Servers A and B each broadcast 50 numbered messages to a room with a member on each
/// server: 10 just before Redis is killed, 30 while it is down for `outage`, and 10 once the
/// `first` server has reconnected, before the other one can (a proxy keeps it away). Every
/// member must receive both series in order, without duplicates; with a persistent Redis,
/// every message; without one, every message but those Redis lost, which the receiving server
/// must have counted.
async fn numbered_broadcasts_survive_an_outage(outage: Duration, first: First, persistent: bool) {
    logs();
    let mut redis = if persistent {
        Redis::start_persistent()
    } else {
        Redis::start()
    };
    let proxy_a = Proxy::start(redis.port()).await;
    let proxy_b = Proxy::start(redis.port()).await;
    let (addr_a, rooms_a) = server(&proxy_a.url()).await;
    let (addr_b, rooms_b) = server(&proxy_b.url()).await;
    let mut on_a = join(addr_a, "lobby").await;
    let mut on_b = join(addr_b, "lobby").await;
    connected(&rooms_a).await;
    connected(&rooms_b).await;
    // Each server reads an entry of the other's before Redis goes.
    rooms_a.broadcast("lobby", "a end");
    rooms_b.broadcast("lobby", "b end");
    Received::default().read(&mut on_a, "end").await;
    Received::default().read(&mut on_b, "end").await;

    let send = |from: usize, numbers: std::ops::RangeInclusive<u32>| {
        for number in numbers {
            let (rooms, series) = [(&rooms_a, 'a'), (&rooms_b, 'b')][from];
            rooms.broadcast("lobby", format!("{series} {number}"));
        }
    };
    let both = |numbers: std::ops::RangeInclusive<u32>| {
        send(0, numbers.clone());
        send(1, numbers);
    };
    let (early, late_proxy) = match first {
        First::A => (&rooms_a, &proxy_b),
        First::B => (&rooms_b, &proxy_a),
    };

    both(1..=10);
    late_proxy.set_open(false);
    redis.stop();
    let outage_started = Instant::now();
    for number in 11..=40 {
        both(number..=number);
        tokio::time::sleep(outage / 30).await;
    }
    let left = outage.saturating_sub(outage_started.elapsed());
    tokio::time::sleep(left).await;
    redis.start_again();

    // The first server back has flushed its outbox before the other one can read.
    wait_until(
        "the first server back flushed its outbox",
        Duration::from_secs(20),
        || async {
            let stats = stats(early);
            stats.connected && stats.waiting == 0
        },
    )
    .await;
    both(41..=50);
    late_proxy.set_open(true);

    let mut received_a = Received::default();
    let mut received_b = Received::default();
    received_a.read(&mut on_a, "50").await;
    received_b.read(&mut on_b, "50").await;
    // Nothing comes twice after the last one either.
    rooms_a.broadcast("lobby", "a end");
    rooms_b.broadcast("lobby", "b end");
    received_a.read(&mut on_a, "end").await;
    received_b.read(&mut on_b, "end").await;

    let all: Vec<u32> = (1..=50).collect();
    // A server's own members get its broadcasts locally: all of them.
    assert_eq!(received_a.series('a'), all);
    assert_eq!(received_b.series('b'), all);
    // The other server's, through Redis.
    for (received, series, receiver) in [(&received_a, 'b', &rooms_a), (&received_b, 'a', &rooms_b)]
    {
        let got = received.series(series);
        assert!(
            got.windows(2).all(|pair| pair[0] < pair[1]),
            "series {series} out of order or duplicated: {got:?}"
        );
        let stats = stats(receiver);
        if persistent {
            assert_eq!(got, all, "series {series}");
            assert_eq!((stats.lost, stats.gaps), (0, 0), "series {series}");
        } else {
            assert_eq!(
                (all.len() - got.len()) as u64,
                stats.lost,
                "series {series}: what is missing is what was counted lost ({got:?})"
            );
            assert!(stats.gaps >= 1, "the emptied stream is noticed");
        }
        assert_eq!((stats.dropped, stats.rejected), (0, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn nothing_is_lost_over_a_short_outage_when_the_publisher_is_back_first() {
    numbered_broadcasts_survive_an_outage(Duration::from_millis(500), First::A, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn nothing_is_lost_over_a_long_outage_when_the_reader_is_back_first() {
    numbered_broadcasts_survive_an_outage(Duration::from_secs(3), First::B, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn an_emptied_redis_loses_only_what_it_held_and_says_so_short() {
    numbered_broadcasts_survive_an_outage(Duration::from_millis(500), First::B, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn an_emptied_redis_loses_only_what_it_held_and_says_so_long() {
    numbered_broadcasts_survive_an_outage(Duration::from_secs(3), First::A, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_server_away_past_the_retention_window_counts_what_it_missed() {
    logs();
    let redis = Redis::start();
    let proxy_b = Proxy::start(redis.port()).await;
    // No retention: each round of XADDs trims what is older than the last round.
    let rooms_a = builder(&redis.url())
        .redis_retention(Duration::ZERO)
        .build()
        .unwrap();
    serve(rooms_a.clone()).await;
    let (addr_b, rooms_b) = server(&proxy_b.url()).await;
    let mut on_b = join(addr_b, "lobby").await;
    connected(&rooms_a).await;
    connected(&rooms_b).await;
    rooms_a.broadcast("lobby", "a end");
    assert_eq!(next_text(&mut on_b).await, "a end");

    proxy_b.set_open(false);
    let published = |count: u64| {
        let rooms_a = &rooms_a;
        async move {
            wait_until("A published", Duration::from_secs(20), || async {
                let stats = stats(rooms_a);
                stats.published == count && stats.waiting == 0
            })
            .await;
        }
    };
    // Three rounds, each published before the next starts, so the last one trims everything
    // of the first (Redis trims whole nodes of the stream, the ones entirely too old).
    for number in 1..=200 {
        rooms_a.broadcast("lobby", format!("a {number}"));
    }
    published(201).await;
    for number in 201..=400 {
        rooms_a.broadcast("lobby", format!("a {number}"));
    }
    published(401).await;
    rooms_a.broadcast("lobby", "a 401");
    published(402).await;
    proxy_b.set_open(true);

    let mut received = Received::default();
    rooms_b.broadcast("lobby", "b 401");
    received.read(&mut on_b, "401").await;
    let got = received.series('a');
    let stats_b = stats(&rooms_b);
    assert!(
        got.windows(2).all(|pair| pair[0] < pair[1]),
        "out of order or duplicated: {got:?}"
    );
    assert_eq!(got.last(), Some(&401));
    assert!(stats_b.lost >= 1, "the first round was trimmed");
    assert_eq!(got.len() as u64 + stats_b.lost, 401, "{got:?}");
    assert_eq!(stats_b.gaps, 1);
}

/// A payload of exactly `len` bytes that starts with `label`.
fn padded(label: &str, len: usize) -> String {
    format!("{label:<len$}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn the_outbox_keeps_to_its_budget_while_redis_is_down() {
    logs();
    logs();
    let mut redis = Redis::start();
    // Eight 1,000-byte broadcasts to "lobby" fill the budget exactly: each costs its
    // envelope (21 bytes of header, the room, the payload) and 64 bytes of bookkeeping.
    let cost = 21 + "lobby".len() + 1000 + 64;
    let rooms_a = builder(&redis.url())
        .redis_outbox_bytes(8 * cost)
        .redis_max_message(4096)
        .build()
        .unwrap();
    let addr_a = serve(rooms_a.clone()).await;
    let (addr_b, rooms_b) = server(&redis.url()).await;
    let mut on_a = join(addr_a, "lobby").await;
    let mut on_b = join(addr_b, "lobby").await;
    connected(&rooms_a).await;
    connected(&rooms_b).await;
    wait_for_count(|| async { rooms_a.count("lobby").await }, 2).await;

    redis.stop();
    // Local rooms go on while Redis is down; broadcasts for the others wait, up to the budget.
    for number in 1..=20 {
        assert_eq!(
            rooms_a.broadcast("lobby", padded(&format!("o {number}"), 1000)),
            1
        );
    }
    assert_eq!(rooms_a.broadcast("lobby", padded("big", 5000)), 1);
    for number in 1..=20 {
        assert_eq!(
            next_text(&mut on_a).await,
            padded(&format!("o {number}"), 1000)
        );
    }
    assert_eq!(next_text(&mut on_a).await, padded("big", 5000));
    let stats_a = stats(&rooms_a);
    assert_eq!(
        (stats_a.waiting, stats_a.dropped, stats_a.oversized),
        (8, 12, 1)
    );

    // Presence asks fail with the backplane's error rather than lie, and once the backplane
    // has seen Redis go, they say so.
    wait_until(
        "presence reports Redis as unreachable",
        Duration::from_secs(20),
        || async {
            match rooms_a.count("lobby").await {
                Err(Error::Backplane(reason)) => matches!(reason, BackplaneError::Unreachable),
                Err(other) => panic!("expected a backplane error, got {other:?}"),
                Ok(count) => panic!("counted {count} with Redis down"),
            }
        },
    )
    .await;

    redis.start_again();
    // The eight that fit reach B, in order; the twelve dropped and the oversized one do not.
    for number in 1..=8 {
        assert_eq!(
            next_text(&mut on_b).await,
            padded(&format!("o {number}"), 1000)
        );
    }
    // B can read them before A has heard back from Redis: wait until the outbox is empty.
    wait_until("A's outbox empties", Duration::from_secs(20), || async {
        let stats = stats(&rooms_a);
        stats.connected && stats.waiting == 0
    })
    .await;
    rooms_a.broadcast("lobby", "after");
    assert_eq!(next_text(&mut on_b).await, "after");
    assert_eq!(next_text(&mut on_a).await, "after");
    assert_eq!(stats(&rooms_a).dropped, 12);
    assert_eq!(stats(&rooms_b).lost, 0, "dropped broadcasts took no number");
    // The fresh Redis learns each server's presence again.
    wait_for_count(|| async { rooms_b.count("lobby").await }, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_server_without_the_secret_is_not_heard() {
    logs();
    let redis = Redis::start();
    let with = |secret: &str| builder(&redis.url()).redis_secret(secret).build().unwrap();
    let (rooms_a, rooms_b, rooms_c) = (with("s3cret"), with("wrong"), with("s3cret"));
    let mut members = Vec::new();
    for rooms in [&rooms_a, &rooms_b, &rooms_c] {
        members.push(join(serve(rooms.clone()).await, "lobby").await);
        connected(rooms).await;
    }
    let rejected = |rooms: &Rooms| stats(rooms).rejected;

    // A and C share the secret; B's is wrong: it drops what A says, and they drop what it says.
    rooms_a.broadcast("lobby", "signed by a");
    assert_eq!(next_text(&mut members[0]).await, "signed by a");
    assert_eq!(next_text(&mut members[2]).await, "signed by a");
    wait_until("B rejects A", Duration::from_secs(20), || async {
        rejected(&rooms_b) == 1
    })
    .await;
    rooms_b.broadcast("lobby", "signed by b");
    assert_eq!(next_text(&mut members[1]).await, "signed by b");
    wait_until("A and C reject B", Duration::from_secs(20), || async {
        rejected(&rooms_a) == 1 && rejected(&rooms_c) == 1
    })
    .await;

    // An entry written straight into Redis without a tag is dropped by all.
    let mut forged = vec![2, b'T', b'R'];
    forged.extend_from_slice(&7u64.to_be_bytes());
    forged.extend_from_slice(&1u64.to_be_bytes());
    forged.extend_from_slice(&5u16.to_be_bytes());
    forged.extend_from_slice(b"lobbyforged");
    let id = redis.command(&[b"XADD", b"test:stream", b"*", b"m", &forged]);
    assert!(id.starts_with('$'), "XADD answered {id}");
    wait_until(
        "all reject the forgery",
        Duration::from_secs(20),
        || async { rejected(&rooms_a) == 2 && rejected(&rooms_b) == 2 && rejected(&rooms_c) == 2 },
    )
    .await;

    // Nothing rejected reached a member: each one's next message is a local one.
    for (rooms, member) in [&rooms_a, &rooms_b, &rooms_c].into_iter().zip(&mut members) {
        rooms.broadcast("lobby", "local");
        assert_eq!(next_text(member).await, "local");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rediss_url_is_accepted() {
    logs();
    let rooms = Rooms::builder()
        .redis("rediss://:password@127.0.0.1:1/")
        .build()
        .expect("a rediss:// URL with the tls feature");
    assert!(!stats(&rooms).connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn room_names_and_rooms_per_member_are_capped() {
    logs();
    let redis = Redis::start();
    let rooms_a = builder(&redis.url())
        .max_room_name(8)
        .max_rooms_per_member(2)
        .build()
        .unwrap();
    let addr_a = serve(rooms_a.clone()).await;
    let (_, rooms_b) = server(&redis.url()).await;
    let mut ws = connect(addr_a, "/rooms/abcdefghi,a,a,b,c").await;
    assert_eq!(next_text(&mut ws).await, "false,true,false,true,false");
    wait_until("B sees A's rooms", Duration::from_secs(20), || async {
        rooms_b.presence().await.ok().is_some_and(|presence| {
            presence.into_iter().collect::<Vec<_>>() == [("a".to_owned(), 1), ("b".to_owned(), 1)]
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_broadcast_to_a_room_name_past_the_cap_reaches_no_server() {
    logs();
    let redis = Redis::start();
    let rooms_a = builder(&redis.url()).max_room_name(8).build().unwrap();
    serve(rooms_a.clone()).await;
    // B takes longer names: its member is in a room that A cannot name.
    let (addr_b, rooms_b) = server(&redis.url()).await;
    let mut on_b = join(addr_b, "abcdefghi").await;
    connected(&rooms_a).await;
    connected(&rooms_b).await;
    assert_eq!(rooms_a.broadcast("abcdefghi", "past the cap"), 0);
    rooms_a.broadcast_all("to every member");
    assert_eq!(next_text(&mut on_b).await, "to every member");
    // B can read the message before A has counted Redis's answer.
    wait_until(
        "A counted its one publish",
        Duration::from_secs(20),
        || async { stats(&rooms_a).published == 1 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn broadcasts_that_redis_refuses_wait_and_go_out_in_order() {
    logs();
    let redis = Redis::start();
    let (_, rooms_a) = server(&redis.url()).await;
    let (addr_b, rooms_b) = server(&redis.url()).await;
    let mut on_b = join(addr_b, "lobby").await;
    connected(&rooms_a).await;
    connected(&rooms_b).await;
    rooms_a.broadcast("lobby", "a 0");
    assert_eq!(next_text(&mut on_b).await, "a 0");

    // Out of memory: Redis refuses every write (an `XADD` in a `MULTI` aborts the batch).
    assert_eq!(
        redis.command(&[b"CONFIG", b"SET", b"maxmemory", b"1"]),
        "+OK"
    );
    for number in 1..=150 {
        rooms_a.broadcast("lobby", format!("a {number}"));
    }
    wait_until(
        "A's publisher gave up on Redis",
        Duration::from_secs(20),
        || async { !stats(&rooms_a).connected },
    )
    .await;
    assert_eq!(stats(&rooms_a).published, 1);
    assert_eq!(stats(&rooms_a).waiting, 150);
    assert_eq!(
        redis.command(&[b"CONFIG", b"SET", b"maxmemory", b"0"]),
        "+OK"
    );

    for number in 1..=150 {
        assert_eq!(next_text(&mut on_b).await, format!("a {number}"));
    }
    // B can read the last messages before A has counted Redis's answer to them.
    wait_until(
        "A counted every publish",
        Duration::from_secs(20),
        || async { stats(&rooms_a).published == 151 },
    )
    .await;
    let (a, b) = (stats(&rooms_a), stats(&rooms_b));
    assert_eq!((a.published, a.waiting, a.dropped), (151, 0, 0));
    assert_eq!((b.received, b.lost, b.duplicates, b.gaps), (151, 0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_presence_hash_lost_behind_a_server_s_back_is_written_again() {
    logs();
    let redis = Redis::start();
    // A heartbeat every second.
    let rooms_a = builder(&redis.url()).build().unwrap();
    let addr_a = serve(rooms_a.clone()).await;
    let (_, rooms_b) = server(&redis.url()).await;
    let _alice = join(addr_a, "lobby").await;
    let _bob = join(addr_a, "news").await;
    wait_for_count(|| async { rooms_b.count("lobby").await }, 1).await;
    wait_for_count(|| async { rooms_b.count("news").await }, 1).await;

    // As an eviction would: A's presence hash goes (B has none, with no member).
    let delete = b"local keys = redis.call('KEYS', ARGV[1]) \
        for _, key in ipairs(keys) do redis.call('DEL', key) end return #keys";
    assert_eq!(
        redis.command(&[b"EVAL", delete, b"0", b"test:presence:*"]),
        ":1"
    );
    // The heartbeat finds it gone and writes all of it again.
    wait_until("A's presence is back", Duration::from_secs(20), || async {
        rooms_b.presence().await.ok().is_some_and(|presence| {
            presence.into_iter().collect::<Vec<_>>()
                == [("lobby".to_owned(), 1), ("news".to_owned(), 1)]
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_crashed_server_s_presence_expires() {
    logs();
    let redis = Redis::start();
    let (_, rooms_a) = server(&redis.url()).await;
    let url = redis.url();
    let mut crashable = Crashable::start(move || async move {
        // A heartbeat every 2 s: its presence outlives it by 4 s at least.
        let rooms = builder(&url)
            .presence_ttl(Duration::from_secs(6))
            .build()
            .unwrap();
        let addr = serve(rooms.clone()).await;
        connected(&rooms).await;
        addr
    })
    .await;
    let member = join(crashable.addr, "lobby").await;
    wait_for_count(|| async { rooms_a.count("lobby").await }, 1).await;

    // Killed without a word: its presence stays in Redis (nobody removed it)...
    crashable.crash();
    assert_eq!(rooms_a.count("lobby").await.unwrap(), 1);
    drop(member);
    // ...until it expires, one presence TTL (6 s) after its last heartbeat at the latest.
    wait_until(
        "the crashed server's presence expires",
        Duration::from_secs(20),
        || async { rooms_a.presence().await.unwrap().is_empty() },
    )
    .await;
}
