//! Rooms over real sockets: join, leave, broadcast, broadcast except the sender, leaving on
//! disconnect, slow consumers, and a thousand members.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ws_routes::{
    Bytes, Message, Rooms, Routes, Server, Session, SlowConsumer, State, WebSocket, route, routes,
};

use support::{close_frame, connect, spawn_server, text, wait_for};

/// A function route: joins its room, says so, then relays what its client says to the others
/// (`!all TEXT` to every member of every room, `!leave` leaves).
#[route("/room/{room}")]
async fn member(mut ws: WebSocket, room: String, State(rooms): State<Rooms>) {
    let me = ws.sender();
    rooms.join(&room, &me);
    if ws.send(format!("joined {room}")).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = ws.recv().await {
        let Some(text) = message.as_text() else {
            continue;
        };
        if let Some(text) = text.strip_prefix("!all ") {
            rooms.broadcast_all(text);
        } else if text == "!leave" {
            rooms.leave(&room, &me);
            let _ = me.send("left").await;
        } else {
            rooms.broadcast_except(&room, text, &me);
        }
    }
}

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

const ROUTES: Routes = routes![member, Chat];

async fn start(rooms: &Rooms) -> SocketAddr {
    spawn_server(Server::new(ROUTES).with_state(rooms.clone())).await
}

/// Rooms with `policy`, served with outgoing queues of four messages, so that a client that
/// does not read fills its queue quickly.
async fn start_with_small_queues(policy: SlowConsumer) -> (Rooms, SocketAddr) {
    let rooms = Rooms::builder().slow_consumer(policy).build().unwrap();
    let server = Server::new(ROUTES)
        .with_state(rooms.clone())
        .outgoing_queue(4);
    let addr = spawn_server(server).await;
    (rooms, addr)
}

async fn join(addr: SocketAddr, path: &str) -> WebSocket {
    let mut ws = connect(addr, path).await;
    assert!(text(&mut ws).await.starts_with("joined "));
    ws
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
async fn a_slow_client_is_closed_while_fast_clients_keep_receiving() {
    let rooms = Rooms::new();
    let addr = start(&rooms).await;
    let received = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut fast = join(addr, "/room/feed").await;
        let received = Arc::clone(&received);
        readers.push(tokio::spawn(async move {
            let mut count = 0;
            while let Some(Ok(message)) = fast.recv().await {
                if let Message::Binary(_) = message {
                    count += 1;
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
            count
        }));
    }
    // This one never reads until it has been closed.
    let mut slow = join(addr, "/room/feed").await;

    let block = Bytes::from(vec![1u8; 64 << 10]);
    let mut sent = 0;
    while rooms.local_count("feed") == 4 {
        assert!(
            sent < 3000,
            "3000 blocks of 64 KiB and the slow client is still a member"
        );
        rooms.broadcast("feed", block.clone());
        sent += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The fast ones keep receiving after the slow one is gone.
    for _ in 0..20 {
        assert_eq!(rooms.broadcast("feed", block.clone()), 3);
        sent += 1;
    }
    wait_for(|| received.load(Ordering::Relaxed) == 3 * sent).await;

    // The slow client gets what was already on its way, then the close frame.
    assert_eq!(
        close_frame(&mut slow).await,
        (1013, "too slow: outgoing queue full".to_owned())
    );
    for reader in readers {
        reader.abort();
    }
}

#[tokio::test]
async fn the_skip_policy_keeps_a_slow_client_and_drops_what_it_cannot_take() {
    let (rooms, addr) = start_with_small_queues(SlowConsumer::Skip).await;
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
    let (rooms, addr) = start_with_small_queues(SlowConsumer::SkipThenClose(grace)).await;
    let mut slow = join(addr, "/room/ticks").await;
    let block = Bytes::from(vec![3u8; 64 << 10]);
    let mut first_skip = None;
    let closed_after = loop {
        let queued = rooms.broadcast("ticks", block.clone());
        if queued == 0 && rooms.local_count("ticks") == 1 {
            first_skip.get_or_insert_with(std::time::Instant::now);
        }
        if rooms.local_count("ticks") == 0 {
            break first_skip.expect("skipped before being closed").elapsed();
        }
        assert!(
            first_skip.is_none_or(|since| since.elapsed() < Duration::from_secs(10)),
            "still a member 10 s after its queue filled up"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        closed_after >= grace,
        "closed after {closed_after:?}, before its grace"
    );
    assert_eq!(
        close_frame(&mut slow).await,
        (1013, "too slow: outgoing queue full".to_owned())
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
