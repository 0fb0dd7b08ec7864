//! Pushing from outside the handler over real sockets: a `Sender` that waits on a full queue,
//! `try_send` that refuses, `Sender::close` as the handler sees it (`Error::Kicked`), what was
//! queued when the handler returns, and the membership operations of in-process `Rooms`.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use ws_routes::extract::Query;
use ws_routes::{Close, Error, Rooms, Routes, Sender, Server, State, WebSocket, route, routes};

use support::{ask, close_frame, connect, text, wait_for, within};

/// What the tests share with the handlers.
#[derive(Clone, Default)]
struct Shared {
    /// Each connection's sender, by the name in its path.
    senders: Arc<Mutex<HashMap<String, Sender>>>,
    /// What each handler's `recv` returned, in order, by name.
    received: Arc<Mutex<HashMap<String, Vec<String>>>>,
    /// Lets `/held` handlers start reading.
    go: Arc<Notify>,
}

impl Shared {
    fn sender(&self, name: &str) -> Sender {
        self.senders.lock().unwrap()[name].clone()
    }

    fn received(&self, name: &str) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}

/// Records everything `recv` returns until it returns `None`, echoing texts.
async fn record(ws: &mut WebSocket, name: &str, shared: &Shared) {
    loop {
        let seen = match ws.recv().await {
            Some(Ok(message)) => {
                let seen = format!("{message:?}");
                if ws.send(message).await.is_err() {
                    break;
                }
                seen
            }
            Some(Err(Error::Kicked(frame))) => format!("Kicked({}, {})", frame.code, frame.reason),
            Some(Err(error)) => format!("{error:?}"),
            None => "None".to_owned(),
        };
        let done = seen == "None";
        shared
            .received
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default()
            .push(seen);
        if done {
            break;
        }
    }
}

/// Publishes its sender, says "ready", and records what it receives.
#[route("/kickable/{name}")]
async fn kickable(mut ws: WebSocket, name: String, State(shared): State<Shared>) {
    shared
        .senders
        .lock()
        .unwrap()
        .insert(name.clone(), ws.sender());
    if ws.send("ready").await.is_ok() {
        record(&mut ws, &name, &shared).await;
    }
}

/// Publishes its sender and says "ready", then stays out of `recv` (where queued messages are
/// written) until the test lets it go.
#[route("/held/{name}")]
async fn held(mut ws: WebSocket, name: String, State(shared): State<Shared>) {
    shared
        .senders
        .lock()
        .unwrap()
        .insert(name.clone(), ws.sender());
    if ws.send("ready").await.is_ok() {
        shared.go.notified().await;
        record(&mut ws, &name, &shared).await;
    }
}

/// Joins the rooms listed in `?rooms=a,b`, publishes its sender, says "ready", then echoes.
#[route("/member/{name}")]
async fn member(
    mut ws: WebSocket,
    name: String,
    query: Query,
    State(rooms): State<Rooms>,
    State(shared): State<Shared>,
) {
    let me = ws.sender();
    for room in query.get("rooms").unwrap_or_default().split(',') {
        if !room.is_empty() {
            rooms.join(room, &me);
        }
    }
    shared.senders.lock().unwrap().insert(name.clone(), me);
    if ws.send("ready").await.is_ok() {
        record(&mut ws, &name, &shared).await;
    }
}

/// Queues three messages through its own sender and a broadcast to its room, then, before
/// ever calling `recv` (where queued messages are written), either returns with its own close
/// (`/farewell/returns/..`) or calls `close` (`/farewell/closes/..`), after which its sender
/// must fail and it reads the client's answer.
#[route("/farewell/{how}/{room}")]
async fn farewell(
    mut ws: WebSocket,
    how: String,
    room: String,
    State(rooms): State<Rooms>,
) -> Result<(), Close> {
    let me = ws.sender();
    rooms.join(&room, &me);
    for number in 0..3 {
        me.try_send(format!("{number}")).expect("room in the queue");
    }
    rooms.broadcast(&room, "to the room");
    if how == "returns" {
        return Err(Close::new(4000u16, "goodbye"));
    }
    ws.close(4001u16, "closing").await.expect("close");
    assert!(matches!(me.try_send("late"), Err(Error::Closed)));
    while ws.recv().await.is_some() {}
    Ok(())
}

const ROUTES: Routes = routes![kickable, held, member, farewell];

async fn start(server: Server) -> (std::net::SocketAddr, Shared, Rooms) {
    let (shared, rooms) = (Shared::default(), Rooms::new());
    let addr =
        support::spawn_server(server.with_state(shared.clone()).with_state(rooms.clone())).await;
    (addr, shared, rooms)
}

#[tokio::test]
async fn sender_close_ends_recv_with_kicked_then_none_and_the_client_sees_the_code() {
    let (addr, shared, _) = start(Server::new(ROUTES)).await;
    let mut ws = connect(addr, "/kickable/a").await;
    assert_eq!(text(&mut ws).await, "ready");
    assert_eq!(ask(&mut ws, "before").await, "before");
    shared.sender("a").close(4008u16, "time is up");
    assert_eq!(close_frame(&mut ws).await, (4008, "time is up".into()));
    wait_for(|| shared.received("a").last().map(String::as_str) == Some("None")).await;
    assert_eq!(
        shared.received("a"),
        ["Text(\"before\")", "Kicked(4008, time is up)", "None"]
    );
}

#[tokio::test]
async fn send_on_a_full_queue_waits_until_the_connection_drains_it() {
    let (addr, shared, _) = start(Server::new(ROUTES).outgoing_queue(4)).await;
    let mut ws = connect(addr, "/held/a").await;
    assert_eq!(text(&mut ws).await, "ready");
    let sender = shared.sender("a");
    for number in 0..4 {
        sender.try_send(format!("{number}")).unwrap();
    }
    assert!(
        matches!(sender.try_send("refused"), Err(Error::QueueFull)),
        "try_send fails at once on a full queue"
    );
    let mut waiting = tokio::spawn({
        let sender = sender.clone();
        async move { sender.send("4").await }
    });
    // The handler is not in `recv`, so nothing drains the queue: the send must still be
    // waiting after a while (this can only fail if it completes, never by the machine's pace).
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut waiting)
            .await
            .is_err(),
        "send completed on a full queue"
    );
    shared.go.notify_one();
    within(waiting).await.unwrap().unwrap();
    for number in 0..5 {
        assert_eq!(text(&mut ws).await, format!("{number}"));
    }
}

#[tokio::test]
async fn room_membership_over_real_connections() {
    let (addr, shared, rooms) = start(Server::new(ROUTES)).await;
    let mut a = connect(addr, "/member/a?rooms=x,y,z").await;
    let mut b = connect(addr, "/member/b?rooms=y").await;
    let mut c = connect(addr, "/member/c").await;
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(text(ws).await, "ready");
    }
    let (sa, sb, sc) = (shared.sender("a"), shared.sender("b"), shared.sender("c"));
    assert_eq!(rooms.rooms_of(&sa), ["x", "y", "z"]);
    assert_eq!(rooms.rooms_of(&sb), ["y"]);
    assert!(rooms.rooms_of(&sc).is_empty());
    assert!(rooms.contains("z", &sa) && rooms.contains("y", &sb));
    assert!(!rooms.contains("x", &sb) && !rooms.contains("y", &sc));

    // a is in three rooms and gets the message once; c is in none and gets nothing.
    assert_eq!(rooms.broadcast_all("to everyone"), 2);
    assert_eq!(rooms.broadcast("x", "to x"), 1);
    assert_eq!(text(&mut a).await, "to everyone");
    assert_eq!(text(&mut a).await, "to x", "a got the first message once");
    assert_eq!(text(&mut b).await, "to everyone");
    assert_eq!(ask(&mut c, "only my echo").await, "only my echo");

    rooms.leave_all(&sa);
    assert!(rooms.rooms_of(&sa).is_empty());
    assert!(!rooms.contains("y", &sa));
    assert_eq!((rooms.local_count("x"), rooms.local_count("y")), (0, 1));
    assert_eq!(rooms.broadcast_all("after"), 1);
    assert_eq!(text(&mut b).await, "after");
    // a is still connected, and the broadcast did not reach it.
    assert_eq!(ask(&mut a, "still here").await, "still here");
}

#[tokio::test]
async fn what_was_queued_when_the_handler_returns_or_closes_goes_out_before_its_close_frame() {
    let (addr, _, rooms) = start(Server::new(ROUTES)).await;
    for (how, code, reason) in [("returns", 4000, "goodbye"), ("closes", 4001, "closing")] {
        let mut ws = connect(addr, &format!("/farewell/{how}/lobby")).await;
        for expected in ["0", "1", "2", "to the room"] {
            assert_eq!(text(&mut ws).await, expected, "{how}");
        }
        assert_eq!(close_frame(&mut ws).await, (code, reason.into()), "{how}");
        wait_for(|| rooms.local_count("lobby") == 0).await;
    }
}

/// Queues 200 messages before it first waits in `recv`, where they are written.
#[route("/burst")]
async fn burst(mut ws: WebSocket) {
    let sender = ws.sender();
    for index in 0..200 {
        sender.try_send(format!("{index:03}")).unwrap();
    }
    while let Some(Ok(_)) = ws.recv().await {}
}

#[tokio::test]
#[ignore = "needs ss (iproute2); scripts/test runs it"]
async fn queued_messages_go_out_together_in_order() {
    let server = Server::new(routes![burst]).outgoing_queue(256);
    let addr = support::spawn_server(server).await;
    let mut tcp = support::raw::upgrade(addr, "/burst").await;
    let local = tcp.local_addr().unwrap();
    // Each message is 2 bytes of header and 3 of text.
    let mut received = vec![0; 200 * 5];
    within(tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut received))
        .await
        .unwrap();
    let expected: Vec<u8> = (0..200)
        .flat_map(|index: u32| {
            let mut frame = vec![0x81, 3];
            frame.extend(format!("{index:03}").as_bytes());
            frame
        })
        .collect();
    assert!(received == expected, "every message, in order");
    // Written a batch at a time, not a segment each (the count includes the handshake's 101).
    let segments = support::raw::data_segments_in(local);
    assert!(segments <= 8, "200 messages came in {segments} segments");
}
