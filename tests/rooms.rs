//! Rooms over real sockets: join, leave, broadcast, broadcast except the sender, leaving on
//! disconnect, slow consumers, and a thousand members.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_routes::rooms::SlowConsumer;
use ws_routes::{Bytes, Message, Rooms, Routes, Server, Session, State, WebSocket, route, routes};

use support::rooms::{join, member};
use support::{close_frame, raw, spawn_server, text, wait_for, within};

/// A class-style route: every text goes to every member of the room, the sender included.
struct Chat {
    room: String,
    rooms: Rooms,
}

#[route("/class/{room}")]
impl Chat {
    fn accept(room: String, State(rooms): State<Rooms>) -> Self {
        Chat { room, rooms }
    }

    async fn on_open(&mut self, session: &mut Session) {
        self.rooms.join(&self.room, &session.sender());
        let _ = session.send(format!("joined {}", self.room)).await;
    }

    async fn on_text(&mut self, _session: &mut Session, text: String) {
        self.rooms
            .broadcast(&self.room, format!("{}: {text}", self.room));
    }
}

/// Joins room `mixed`, then answers every text itself, on its own socket, while broadcasts
/// come in from elsewhere.
#[route("/mixed")]
async fn mixed(mut ws: WebSocket, State(rooms): State<Rooms>) {
    rooms.join("mixed", &ws.sender());
    if ws.send("joined mixed").await.is_err() {
        return;
    }
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

const ROUTES: Routes = routes![member, Chat, mixed];

async fn start(rooms: &Rooms) -> SocketAddr {
    spawn_server(Server::new(ROUTES).with_state(rooms.clone())).await
}

/// Rooms with `policy` and a pending limit of 256 KiB per member, so that a client that
/// does not read reaches it soon after the socket buffers are full.
async fn start_with_small_limits(policy: SlowConsumer) -> (Rooms, SocketAddr) {
    let rooms = Rooms::builder()
        .slow_consumer(policy)
        .pending_limit(256 << 10)
        .stall_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let addr = spawn_server(Server::new(ROUTES).with_state(rooms.clone())).await;
    (rooms, addr)
}

#[tokio::test]
async fn broadcasts_reach_the_room_and_skip_the_sender_when_asked() {
    let rooms = Rooms::new();
    let addr = start(&rooms).await;
    let mut a = join(addr, "/room/red").await;
    let mut b = join(addr, "/room/red").await;
    let mut c = join(addr, "/room/red").await;
    let mut d = join(addr, "/room/blue").await;
    assert_eq!(rooms.local_count("red"), 3);
    assert_eq!(
        rooms.local_presence().into_iter().collect::<Vec<_>>(),
        [("blue".to_owned(), 1), ("red".to_owned(), 3)]
    );

    a.send("hello red").await.unwrap();
    assert_eq!(text(&mut b).await, "hello red");
    assert_eq!(text(&mut c).await, "hello red");
    // From outside any connection: the next thing a and d see is this, so a never got its own
    // message and d never got red's.
    assert_eq!(rooms.broadcast("red", "from the server"), 3);
    assert_eq!(rooms.broadcast("blue", "blue only"), 1);
    assert_eq!(text(&mut a).await, "from the server");
    assert_eq!(text(&mut d).await, "blue only");
    assert_eq!(text(&mut b).await, "from the server");
    assert_eq!(text(&mut c).await, "from the server");

    // Every member of every room, once each.
    d.send("!all everyone").await.unwrap();
    for ws in [&mut a, &mut b, &mut c, &mut d] {
        assert_eq!(text(ws).await, "everyone");
    }

    b.send("!leave").await.unwrap();
    assert_eq!(text(&mut b).await, "left");
    assert_eq!(rooms.local_count("red"), 2);
    assert_eq!(rooms.broadcast("red", "after b left"), 2);
    assert_eq!(rooms.broadcast("nobody", "into the void"), 0);
    assert_eq!(text(&mut a).await, "after b left");
    assert_eq!(text(&mut c).await, "after b left");
    b.send("!all to all").await.unwrap();
    for ws in [&mut a, &mut c, &mut d] {
        assert_eq!(text(ws).await, "to all");
    }
    b.send("!leave").await.unwrap();
    assert_eq!(
        text(&mut b).await,
        "left",
        "b, in no room any more, did not get the broadcast to all"
    );
    assert_eq!(rooms.count("red").await.unwrap(), 2);
}

#[tokio::test]
async fn class_style_members_hear_their_own_room_including_themselves() {
    let rooms = Rooms::new();
    let addr = start(&rooms).await;
    let mut a = join(addr, "/class/x").await;
    let mut b = join(addr, "/class/x").await;
    let mut other = join(addr, "/class/y").await;
    a.send("hi").await.unwrap();
    assert_eq!(text(&mut a).await, "x: hi");
    assert_eq!(text(&mut b).await, "x: hi");
    other.send("alone").await.unwrap();
    assert_eq!(text(&mut other).await, "y: alone");
    b.send("again").await.unwrap();
    assert_eq!(text(&mut a).await, "x: again", "a never got y's message");
}

#[tokio::test]
async fn a_member_that_disconnects_leaves_every_room() {
    let rooms = Rooms::new();
    let addr = start(&rooms).await;
    let stays = join(addr, "/class/room").await;
    let leaves = join(addr, "/room/room").await;
    let also = join(addr, "/room/other").await;
    assert_eq!(rooms.local_count("room"), 2);
    drop(leaves);
    drop(also);
    wait_for(|| rooms.local_count("room") == 1).await;
    wait_for(|| rooms.local_count("other") == 0).await;
    assert!(
        !rooms.local_presence().contains_key("other"),
        "empty rooms go away"
    );
    drop(stays);
    wait_for(|| rooms.local_presence().is_empty()).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_learns_1013_while_twenty_others_get_everything() {
    // The default bounds: 1 MiB pending per member, slow after 1 s above a quarter of it.
    let rooms = Rooms::new();
    let addr = start(&rooms).await;
    let received = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..20 {
        let mut fast = join(addr, "/room/feed").await;
        let received = Arc::clone(&received);
        readers.push(tokio::spawn(async move {
            while let Some(Ok(message)) = fast.recv().await {
                if let Message::Binary(_) = message {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // This one never reads until it has been closed.
    let mut slow = join(addr, "/room/feed").await;
    let block = Bytes::from(vec![1u8; 4 << 10]);
    let mut sent = 0;
    while rooms.local_count("feed") == 21 {
        assert!(
            sent < 30_000,
            "30,000 blocks of 4 KiB and the stalled client is still a member"
        );
        rooms.broadcast("feed", block.clone());
        sent += 1;
        // Paced so that twenty healthy readers on a loaded machine keep up.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Everyone else got every block, and keeps getting them.
    for _ in 0..20 {
        assert_eq!(rooms.broadcast("feed", block.clone()), 20);
        sent += 1;
    }
    wait_for(|| received.load(Ordering::Relaxed) == 20 * sent).await;
    assert_eq!(
        rooms.local_count("feed"),
        20,
        "no healthy reader was closed"
    );

    // The stalled client reads at last: what was already on its way, then the close frame.
    assert_eq!(
        close_frame(&mut slow).await,
        (1013, "too slow: not reading its messages".to_owned())
    );
    for reader in readers {
        reader.abort();
    }
}

#[tokio::test]
async fn a_member_a_broadcast_would_take_past_its_limit_is_closed_at_once() {
    // The stall rule would wait a minute; the byte bound does not wait.
    let rooms = Rooms::builder()
        .pending_limit(256 << 10)
        .stall_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let addr = start(&rooms).await;
    let mut stalled = join(addr, "/room/feed").await;
    let block = Bytes::from(vec![5u8; 16 << 10]);
    let started = std::time::Instant::now();
    while rooms.local_count("feed") == 1 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still a member after 30 s of broadcasts it does not read"
        );
        rooms.broadcast("feed", block.clone());
        tokio::task::yield_now().await;
    }
    assert_eq!(
        close_frame(&mut stalled).await,
        (1013, "too slow: not reading its messages".to_owned())
    );
}

#[tokio::test]
async fn a_burst_of_small_messages_closes_no_one() {
    let rooms = Rooms::new();
    let addr = start(&rooms).await;
    let mut members = Vec::new();
    for _ in 0..20 {
        members.push(join(addr, "/room/lobby").await);
    }
    // The sender writes 33 small messages in one write, the burst that once closed everyone.
    let mut sender = raw::upgrade(addr, "/room/lobby").await;
    assert_eq!(
        raw::read_message(&mut sender).await,
        (0x1, b"joined lobby".to_vec())
    );
    let mut burst = Vec::new();
    for number in 0..33 {
        let text = format!("message {number:02} here");
        burst.extend(raw::masked_frame(0x1, true, text.as_bytes()));
    }
    sender.write_all(&burst).await.unwrap();
    for member in &mut members {
        for number in 0..33 {
            assert_eq!(text(member).await, format!("message {number:02} here"));
        }
    }
    assert_eq!(rooms.local_count("lobby"), 21, "no one was closed");
}

#[tokio::test]
async fn a_fast_publisher_is_never_closed_as_slow_while_its_peers_drain() {
    // 2,000 messages of 1 KiB written in one go: while they arrive, the publisher's connection
    // always has input to read, and its own queued broadcasts (the class route sends to every
    // member, the sender included) pass the 1 MiB pending limit unless it writes them in turn.
    const MESSAGES: usize = 2000;
    let rooms = Rooms::new();
    let addr = start(&rooms).await;
    let mut listener = join(addr, "/class/news").await;
    let mut publisher = raw::upgrade(addr, "/class/news").await;
    assert_eq!(
        raw::read_message(&mut publisher).await,
        (0x1, b"joined news".to_vec())
    );
    let payload = "x".repeat(1024);
    let burst: Vec<u8> = (0..MESSAGES)
        .flat_map(|_| raw::masked_frame(0x1, true, payload.as_bytes()))
        .collect();
    let (mut reading, mut writing) = publisher.into_split();
    let write = tokio::spawn(async move { writing.write_all(&burst).await.map(|()| writing) });
    // The publisher reads its echoes as a healthy client does: "news: " and the text, in
    // frames with a two-byte extended length.
    let echoes = tokio::spawn(async move {
        let mut left = MESSAGES * (4 + 6 + 1024);
        let mut buffer = vec![0; 64 << 10];
        while left > 0 {
            let read = within(reading.read(&mut buffer)).await.unwrap();
            assert!(
                read > 0,
                "the publisher was closed with {left} bytes of echoes to go"
            );
            left = left.saturating_sub(read);
        }
        reading
    });
    for _ in 0..MESSAGES {
        assert_eq!(text(&mut listener).await.len(), 6 + 1024);
    }
    let (_reading, _writing) = (echoes.await.unwrap(), write.await.unwrap().unwrap());
    assert_eq!(rooms.local_count("news"), 2, "no one was closed");
}

#[tokio::test]
async fn the_skip_policy_keeps_a_slow_client_and_drops_what_it_cannot_take() {
    let (rooms, addr) = start_with_small_limits(SlowConsumer::Skip).await;
    let mut slow = join(addr, "/room/state").await;
    let block = Bytes::from(vec![2u8; 64 << 10]);
    let mut skipped = 0;
    for _ in 0..1000 {
        if rooms.broadcast("state", block.clone()) == 0 {
            skipped += 1;
            if skipped == 10 {
                break;
            }
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(skipped, 10, "the queue filled up and broadcasts skipped it");
    assert_eq!(rooms.local_count("state"), 1, "still a member");
    // It reads again and catches up with the latest state.
    rooms.broadcast_all("latest");
    // Drain whatever arrives until the latest, which may itself have been skipped while the
    // queue was full: then send it again until it arrives.
    let latest = async {
        loop {
            match slow.recv().await {
                Some(Ok(Message::Text(text))) if text == "latest" => return,
                Some(Ok(_)) => rooms.broadcast("state", "latest"),
                other => panic!("the connection ended: {other:?}"),
            };
        }
    };
    tokio::time::timeout(Duration::from_secs(10), latest)
        .await
        .expect("the slow client catches up");
}

#[tokio::test]
async fn skip_then_close_gives_a_slow_client_its_grace_then_closes_it() {
    let grace = Duration::from_millis(300);
    let (rooms, addr) = start_with_small_limits(SlowConsumer::SkipThenClose(grace)).await;
    let mut slow = join(addr, "/room/ticks").await;
    let block = Bytes::from(vec![3u8; 64 << 10]);
    let started = std::time::Instant::now();
    let mut skipped = false;
    let closed_after = loop {
        let queued = rooms.broadcast("ticks", block.clone());
        skipped |= queued == 0 && rooms.local_count("ticks") == 1;
        if rooms.local_count("ticks") == 0 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still a member after 20 s of broadcasts it does not read"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(skipped, "broadcasts skipped it before it was closed");
    // It cannot have been above its high-water mark before the first broadcast.
    assert!(
        closed_after >= grace,
        "closed after {closed_after:?}, before its grace"
    );
    assert_eq!(
        close_frame(&mut slow).await,
        (1013, "too slow: not reading its messages".to_owned())
    );
}

#[tokio::test]
async fn a_thousand_members_all_receive_a_broadcast() {
    const MEMBERS: usize = 1000;
    let rooms = Rooms::new();
    let addr = start(&rooms).await;
    let mut members = Vec::with_capacity(MEMBERS);
    for _ in 0..MEMBERS / 50 {
        let batch = (0..50).map(|_| tokio::spawn(join(addr, "/room/big")));
        for member in futures_util::future::join_all(batch).await {
            members.push(member.unwrap());
        }
    }
    assert_eq!(rooms.local_count("big"), MEMBERS);
    assert_eq!(rooms.broadcast("big", "to the thousand"), MEMBERS);
    let receipts = members
        .into_iter()
        .map(|mut ws| tokio::spawn(async move { text(&mut ws).await == "to the thousand" }));
    let receipts = futures_util::future::join_all(receipts).await;
    assert_eq!(
        receipts
            .into_iter()
            .filter(|got| *got.as_ref().unwrap())
            .count(),
        MEMBERS
    );
}

/// Broadcast number `seq`: its number, then bytes that are all `seq as u8`, of a length that
/// varies so that a full socket cuts frames at every kind of place.
fn numbered(seq: u32) -> Bytes {
    let len = 4 + (seq as usize * 7919) % 100_000;
    let mut payload = vec![seq as u8; len];
    payload[..4].copy_from_slice(&seq.to_be_bytes());
    Bytes::from(payload)
}

/// A client that reads nothing while 300 broadcasts (about 15 MB) and its own messages'
/// echoes pile up, then reads: every frame arrives whole and in order. Broadcasts write
/// straight to the socket while the connection writes nothing; once the socket is full they
/// leave the rest of a frame to the connection and queue behind it, and the connection's own
/// writes must never cut into one.
async fn broadcasts_and_own_writes_never_interleave() {
    const BROADCASTS: u32 = 300;
    const OWN: usize = 50;
    let rooms = Rooms::builder()
        .slow_consumer(SlowConsumer::Skip)
        .pending_limit(256 << 20)
        .build()
        .unwrap();
    let addr = start(&rooms).await;
    // Uncompressed: a connection that compresses never lets broadcasts write to its socket.
    let client = ws_routes::Client::new().compression(ws_routes::Compression::disabled());
    let mut ws = within(client.connect(&format!("ws://{addr}/mixed")))
        .await
        .expect("connect");
    assert_eq!(text(&mut ws).await, "joined mixed");
    let publisher = tokio::spawn({
        let rooms = rooms.clone();
        async move {
            for seq in 0..BROADCASTS {
                assert_eq!(
                    rooms.broadcast("mixed", numbered(seq)),
                    1,
                    "broadcast {seq}"
                );
                tokio::task::yield_now().await;
            }
        }
    });
    for number in 0..OWN {
        ws.send(format!("own {number}")).await.unwrap();
        tokio::task::yield_now().await;
    }
    within(publisher).await.unwrap();
    let (mut seq, mut own) = (0, 0);
    while seq < BROADCASTS || own < OWN {
        match within(ws.recv()).await {
            Some(Ok(Message::Binary(data))) => {
                assert_eq!(
                    data,
                    numbered(seq),
                    "broadcast {seq} arrives whole, in order"
                );
                seq += 1;
            }
            Some(Ok(Message::Text(text))) => {
                assert_eq!(text, format!("own {own}"));
                own += 1;
            }
            other => panic!("after {seq} broadcasts and {own} echoes: {other:?}"),
        }
    }
}

#[tokio::test]
async fn broadcasts_and_own_writes_never_interleave_on_one_thread() {
    broadcasts_and_own_writes_never_interleave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_and_own_writes_never_interleave_on_two_threads() {
    broadcasts_and_own_writes_never_interleave().await;
}
