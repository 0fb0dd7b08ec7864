//! Presence with who, and one user on any server, over real sockets: a room lists every key
//! with one entry per connection; changes come as coalesced diffs; across servers sharing a
//! real `redis-server`, presence lists and diffs cross, a crashed server's entries go within
//! the bound, and `to_user` / `close_user` reach a user's connections on every server and
//! nobody else.
//!
//! The tests that need `redis-server` are `#[ignore]`d; `scripts/test` runs them.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use ws_routes::rooms::{Presence, PresenceEvent, PresenceEvents, RoomsBuilder};
use ws_routes::{Rooms, Sender, Server, State, WebSocket, route, routes};

use support::redis::{Crashable, Redis, connected, wait_until};
use support::{close_frame, connect, spawn_server, text, within};

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Meta {
    device: String,
}

/// Binds the connection to `user`, tracks it in `room` with its device, says `ready`, then
/// answers `!leave` by leaving the room.
#[route("/present/{room}/{user}/{device}")]
async fn present(
    mut ws: WebSocket,
    room: String,
    user: String,
    device: String,
    State(rooms): State<Rooms>,
) {
    let me = ws.sender();
    rooms.bind_user(&me, &user);
    if !rooms.track(&room, &me, &user, &Meta { device }).unwrap() {
        return;
    }
    if ws.send("ready").await.is_err() {
        return;
    }
    while let Some(Ok(message)) = ws.recv().await {
        if message.as_text() == Some("!leave") {
            rooms.leave(&room, &me);
            let _ = me.send("left").await;
        }
    }
}

/// Hands the test each connection's sender, then keeps the connection open.
#[route("/held")]
async fn held(mut ws: WebSocket, State(senders): State<mpsc::UnboundedSender<Sender>>) {
    let _ = senders.send(ws.sender());
    while let Some(Ok(_)) = ws.recv().await {}
}

async fn serve(rooms: Rooms) -> SocketAddr {
    spawn_server(Server::new(routes![present]).with_state(rooms)).await
}

/// Connects as `user` on `device` to `room` on the server at `addr`.
async fn arrive(addr: SocketAddr, room: &str, user: &str, device: &str) -> WebSocket {
    let mut ws = connect(addr, &format!("/present/{room}/{user}/{device}")).await;
    assert_eq!(text(&mut ws).await, "ready");
    ws
}

/// The devices present per key, in order.
fn devices(presence: &Presence) -> Vec<(String, Vec<String>)> {
    presence
        .iter()
        .map(|(key, entries)| {
            let mut devices: Vec<String> = entries
                .iter()
                .map(|entry| entry.meta::<Meta>().unwrap().device)
                .collect();
            devices.sort();
            (key.to_owned(), devices)
        })
        .collect()
}

fn list(items: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    items
        .iter()
        .map(|(key, devices)| {
            let devices = devices.iter().map(|device| device.to_string()).collect();
            (key.to_string(), devices)
        })
        .collect()
}

/// The next presence event, within ten seconds.
async fn event(events: &mut PresenceEvents) -> PresenceEvent {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("a presence event within 10 s")
        .expect("the rooms are alive")
}

/// Waits for the next diff, and brings `present` up to date with it.
async fn follow(events: &mut PresenceEvents, present: &mut Presence) {
    match event(events).await {
        PresenceEvent::Diff(diff) => present.apply(&diff),
        other => panic!("expected a diff, got {other:?}"),
    }
}

#[tokio::test]
async fn a_user_on_two_devices_is_one_key_with_two_entries() {
    let rooms = Rooms::new();
    let addr = serve(rooms.clone()).await;
    let _phone = arrive(addr, "lobby", "ann", "phone").await;
    let mut laptop = arrive(addr, "lobby", "ann", "laptop").await;
    let _bob = arrive(addr, "lobby", "bob", "phone").await;
    let _elsewhere = arrive(addr, "kitchen", "cy", "phone").await;

    let present = rooms.present("lobby").await.unwrap();
    assert_eq!(
        devices(&present),
        list(&[("ann", &["laptop", "phone"]), ("bob", &["phone"])])
    );
    assert_eq!((present.len(), present.entries()), (2, 3));
    assert_eq!(present.keys().collect::<Vec<_>>(), ["ann", "bob"]);
    let bob = &present.get("bob").unwrap()[0];
    assert_eq!(
        format!("{bob:?}"),
        format!(
            r#"PresenceEntry {{ id: "{}", meta: "{{\"device\":\"phone\"}}" }}"#,
            bob.id()
        ),
        "the id and the metadata, as logs show them"
    );
    assert_eq!(
        rooms.count("lobby").await.unwrap(),
        3,
        "counts stay as they were"
    );
    let ids: Vec<&str> = present.get("ann").unwrap().iter().map(|e| e.id()).collect();
    assert_ne!(ids[0], ids[1], "each connection has an entry of its own");

    // Leaving the room takes the entry away; the user stays with the other device.
    laptop.send("!leave").await.unwrap();
    assert_eq!(text(&mut laptop).await, "left");
    assert_eq!(
        devices(&rooms.local_present("lobby")),
        list(&[("ann", &["phone"]), ("bob", &["phone"])])
    );
    // So does the end of the connection.
    drop(_bob);
    wait_until("bob's entry goes", Duration::from_secs(10), || async {
        !rooms.present("lobby").await.unwrap().contains_key("bob")
    })
    .await;
}

#[tokio::test]
async fn subscribers_get_the_state_then_diffs() {
    let rooms = Rooms::builder()
        .presence_window(Duration::from_millis(20))
        .build()
        .unwrap();
    let addr = serve(rooms.clone()).await;
    let _ann = arrive(addr, "lobby", "ann", "phone").await;
    let mut events = rooms.presence_events("lobby");
    let mut present = match event(&mut events).await {
        PresenceEvent::State(state) => state,
        other => panic!("expected the state first, got {other:?}"),
    };
    assert_eq!(devices(&present), list(&[("ann", &["phone"])]));

    let bob = arrive(addr, "lobby", "bob", "laptop").await;
    follow(&mut events, &mut present).await;
    assert_eq!(
        devices(&present),
        list(&[("ann", &["phone"]), ("bob", &["laptop"])])
    );
    drop(bob);
    follow(&mut events, &mut present).await;
    assert_eq!(devices(&present), list(&[("ann", &["phone"])]));
    assert_eq!(present, rooms.present("lobby").await.unwrap());

    // A second subscriber starts from the state as it is.
    let mut late = rooms.presence_events("lobby");
    assert_eq!(event(&mut late).await, PresenceEvent::State(present));
}

#[tokio::test]
async fn metadata_past_the_limit_is_refused() {
    let rooms = Rooms::builder().max_presence_meta(64).build().unwrap();
    let (senders, mut held_senders) = mpsc::unbounded_channel();
    let addr = spawn_server(Server::new(routes![held]).with_state(senders)).await;
    let _ws = connect(addr, "/held").await;
    let me = held_senders.recv().await.unwrap();
    let long = "x".repeat(100);
    let error = rooms.track("lobby", &me, "ann", &long).unwrap_err();
    assert_eq!(
        error.to_string(),
        "presence metadata of 105 bytes is over the limit of 64 bytes"
    );
    assert!(!rooms.contains("lobby", &me), "refused: not joined either");
    assert!(rooms.track("lobby", &me, "ann", &"short").unwrap());
    // The limit counts the key and the JSON: 3 + 61 bytes is at it, 3 + 62 past it.
    assert!(rooms.track("lobby", &me, "ann", &"x".repeat(59)).unwrap());
    let error = rooms
        .track("lobby", &me, "ann", &"x".repeat(60))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "presence metadata of 65 bytes is over the limit of 64 bytes"
    );
}

/// 5,000 connections join a room with presence in one burst, then leave it: a subscriber
/// gets one diff with all the joins and one with all the leaves, not 10,000 events. (5,000:
/// both ends of every connection are in this process, within a 20,000-descriptor limit.)
#[tokio::test]
async fn a_burst_of_joins_is_one_diff() {
    const MEMBERS: usize = 5_000;
    let rooms = Rooms::new();
    let (senders, mut held_senders) = mpsc::unbounded_channel();
    let addr = spawn_server(Server::new(routes![held]).with_state(senders)).await;
    let mut clients = Vec::with_capacity(MEMBERS);
    let mut members = Vec::with_capacity(MEMBERS);
    for _ in 0..MEMBERS {
        clients.push(connect(addr, "/held").await);
        members.push(held_senders.recv().await.unwrap());
    }
    let mut events = rooms.presence_events("big");
    assert_eq!(
        event(&mut events).await,
        PresenceEvent::State(Presence::new())
    );

    // On this (current-thread) runtime, the watcher cannot run before the loop is done.
    for (i, member) in members.iter().enumerate() {
        rooms
            .track("big", member, &format!("user-{i}"), &())
            .unwrap();
    }
    let PresenceEvent::Diff(diff) = event(&mut events).await else {
        panic!("expected a diff");
    };
    assert_eq!(
        (diff.joins().entries(), diff.leaves().entries()),
        (MEMBERS, 0)
    );
    for member in &members {
        rooms.leave("big", member);
    }
    let PresenceEvent::Diff(diff) = event(&mut events).await else {
        panic!("expected a diff");
    };
    assert_eq!(
        (diff.joins().entries(), diff.leaves().entries()),
        (0, MEMBERS)
    );
    // Nothing more: exactly two diffs for 10,000 changes.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), events.next())
            .await
            .is_err()
    );
}

fn builder(url: &str) -> RoomsBuilder {
    Rooms::builder()
        .redis(url)
        .redis_prefix("presence")
        .presence_ttl(Duration::from_secs(3))
        .presence_window(Duration::from_millis(50))
}

async fn server(url: &str) -> (SocketAddr, Rooms) {
    let rooms = builder(url).build().expect("a valid Redis URL");
    connected(&rooms).await;
    (serve(rooms.clone()).await, rooms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn presence_lists_and_diffs_cross_servers() {
    let redis = Redis::start();
    let (addr_a, rooms_a) = server(&redis.url()).await;
    let (addr_b, rooms_b) = server(&redis.url()).await;
    let mut events_b = rooms_b.presence_events("lobby");
    let mut seen_by_b = match event(&mut events_b).await {
        PresenceEvent::State(state) => state,
        other => panic!("{other:?}"),
    };
    assert!(seen_by_b.is_empty());

    let _phone = arrive(addr_a, "lobby", "ann", "phone").await;
    let _laptop = arrive(addr_b, "lobby", "ann", "laptop").await;
    let bob = arrive(addr_a, "lobby", "bob", "phone").await;
    let everyone = list(&[("ann", &["laptop", "phone"]), ("bob", &["phone"])]);
    for rooms in [&rooms_a, &rooms_b] {
        wait_until(
            "both servers list everyone",
            Duration::from_secs(10),
            || async { devices(&rooms.present("lobby").await.unwrap()) == everyone },
        )
        .await;
    }
    // B's subscriber heard of A's entries without asking.
    while devices(&seen_by_b) != everyone {
        follow(&mut events_b, &mut seen_by_b).await;
    }

    drop(bob);
    while seen_by_b.contains_key("bob") {
        follow(&mut events_b, &mut seen_by_b).await;
    }
    assert_eq!(
        devices(&rooms_a.present("lobby").await.unwrap()),
        list(&[("ann", &["laptop", "phone"])])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_crashed_server_leaves_presence_within_the_bound() {
    let redis = Redis::start();
    let (_, rooms_a) = server(&redis.url()).await;
    let url = redis.url();
    let mut crashable = Crashable::start(move || async move {
        let rooms = builder(&url).build().unwrap();
        connected(&rooms).await;
        serve(rooms).await
    })
    .await;
    let _gone = arrive(crashable.addr, "lobby", "ann", "phone").await;
    let mut events = rooms_a.presence_events("lobby");
    let mut present = Presence::new();
    while !present.contains_key("ann") {
        match event(&mut events).await {
            PresenceEvent::State(state) => present = state,
            PresenceEvent::Diff(diff) => present.apply(&diff),
            other => panic!("{other:?}"),
        }
    }

    // Torn down without a word: nothing announces the leave. The bound: the presence TTL
    // (3 s) after its last heartbeat, plus a third of it for the watcher's recheck.
    crashable.crash();
    let crashed = Instant::now();
    follow(&mut events, &mut present).await;
    let took = crashed.elapsed();
    assert!(present.is_empty(), "{present:?}");
    assert!(took <= Duration::from_secs(5), "took {took:?}");
    assert!(rooms_a.present("lobby").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn to_user_reaches_a_user_on_every_server_and_nobody_else() {
    let redis = Redis::start();
    let (addr_a, rooms_a) = server(&redis.url()).await;
    let (addr_b, rooms_b) = server(&redis.url()).await;
    let mut phone = arrive(addr_a, "lobby", "ann", "phone").await;
    let mut laptop = arrive(addr_b, "kitchen", "ann", "laptop").await;
    let mut bob = arrive(addr_a, "lobby", "bob", "phone").await;
    assert_eq!(rooms_a.local_connections_of("ann"), 1);

    assert_eq!(rooms_a.to_user("ann", "for ann"), 1, "one connection here");
    assert_eq!(within(text(&mut phone)).await, "for ann");
    assert_eq!(within(text(&mut laptop)).await, "for ann");
    rooms_b
        .to_user_json("bob", &Meta { device: "x".into() })
        .unwrap();
    assert_eq!(within(text(&mut bob)).await, r#"{"device":"x"}"#);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), phone.recv())
            .await
            .is_err(),
        "ann gets nothing meant for bob"
    );

    // Kicked from B: her connections on both servers close, bob's stays.
    rooms_b.close_user("ann", 4003u16, "banned");
    assert_eq!(
        within(close_frame(&mut phone)).await,
        (4003, "banned".into())
    );
    assert_eq!(
        within(close_frame(&mut laptop)).await,
        (4003, "banned".into())
    );
    rooms_a.to_user("bob", "still here");
    assert_eq!(within(text(&mut bob)).await, "still here");
}

/// A subscriber that does not read falls behind: past 64 diffs, it gets the whole state again,
/// as it is now, instead of the diffs it missed.
#[tokio::test]
async fn a_subscriber_64_diffs_behind_gets_the_state_again() {
    let rooms = Rooms::builder()
        .presence_window(Duration::from_millis(1))
        .build()
        .unwrap();
    let (senders, mut held_senders) = mpsc::unbounded_channel();
    let addr = spawn_server(Server::new(routes![held]).with_state(senders)).await;
    let _ws = connect(addr, "/held").await;
    let me = held_senders.recv().await.unwrap();
    let mut events = rooms.presence_events("lobby");
    assert_eq!(
        event(&mut events).await,
        PresenceEvent::State(Presence::new())
    );

    // 80 changes, each in a window of its own: 80 diffs that nobody reads.
    for i in 0..80 {
        rooms.track("lobby", &me, "ann", &i).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let now = rooms.present("lobby").await.unwrap();
    assert_eq!(now.get("ann").unwrap()[0].meta_json(), "79");
    assert_eq!(event(&mut events).await, PresenceEvent::State(now));
}
