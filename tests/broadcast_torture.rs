//! Broadcasts write straight to idle members' sockets; this hammers that path while members
//! come and go in every way a socket can: readers that reconnect (so that the server reuses
//! their descriptors), members that stall, members that shut their side mid-stream, members
//! that vanish. Every frame any client receives must parse, and must belong to its own room,
//! in order: a write that reached another connection's socket, or cut a frame in two, fails it.

mod support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use ws_routes::rooms::SlowConsumer;
use ws_routes::{Compression, Message, Rooms, Server, State, WebSocket, route, routes};

use support::raw::{try_read_raw_frame, upgrade_request};
use support::{connect, spawn_server, text, within};

/// Joins its room, says so, and reads until the end.
#[route("/room/{room}")]
async fn member(mut ws: WebSocket, room: String, State(rooms): State<Rooms>) {
    rooms.join(&room, &ws.sender());
    if ws.send(format!("joined {room}")).await.is_err() {
        return;
    }
    while let Some(Ok(_)) = ws.recv().await {}
}

/// How long members churn while the rooms broadcast.
const CHURN: Duration = Duration::from_secs(3);

/// The room a broadcast went to, and its number, from its text `room:number` (maybe followed
/// by `:` and padding).
fn parse(text: &str) -> (&str, u64) {
    let mut parts = text.split(':');
    let room = parts.next().expect("room:number");
    let number = parts.next().and_then(|number| number.parse().ok());
    (
        room,
        number.unwrap_or_else(|| panic!("not room:number: {text:.40}")),
    )
}

/// Checks that `texts` are broadcasts to `room` only, in order, none twice.
fn check_own_room_in_order(room: &str, texts: &[String]) {
    let mut last = None;
    for text in texts {
        let (from, number) = parse(text);
        assert_eq!(
            from, room,
            "a broadcast to {from} reached a member of {room}"
        );
        assert!(last < Some(number), "{room}: {number} after {last:?}");
        last = Some(number);
    }
}

/// A member on ws-routes' client (which fails on any frame that does not parse) that reads
/// for a while, then leaves, and again, until the churn is over; returns how many it read.
async fn reconnecting_reader(url: String, room: &'static str, until: Instant) -> usize {
    let mut read = 0;
    while Instant::now() < until {
        let mut ws = support::connect_url(&url).await;
        assert_eq!(text(&mut ws).await, format!("joined {room}"));
        let mut texts = Vec::new();
        let stay = tokio::time::sleep(Duration::from_millis(150));
        tokio::pin!(stay);
        loop {
            tokio::select! {
                () = &mut stay => break,
                message = ws.recv() => match message {
                    Some(Ok(Message::Text(text))) => texts.push(text.to_string()),
                    other => panic!("{room}: {other:?}"),
                },
            }
        }
        check_own_room_in_order(room, &texts);
        read += texts.len();
        // Alternately a clean close and a vanishing socket.
        if read % 2 == 0 {
            let _ = ws.close(1000u16, "").await;
        }
    }
    read
}

/// Server frames read by hand from a raw member, checked as they arrive: unmasked, final,
/// text or control; returns the texts, up to the close frame, the end, or a
/// second without a frame.
async fn read_raw_frames(tcp: &mut TcpStream, room: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let quiet = Duration::from_secs(1);
    while let Ok(Some((first, payload))) =
        tokio::time::timeout(quiet, try_read_raw_frame(tcp)).await
    {
        match first & 0x0f {
            0x1 => texts.push(String::from_utf8(payload).expect("UTF-8 text")),
            0x8 => break,
            0x9 | 0xA => {}
            opcode => panic!("{room}: opcode {opcode} in a broadcast stream"),
        }
    }
    texts
}

/// A raw member with a small receive buffer, upgraded by hand to `room`.
async fn raw_member(addr: std::net::SocketAddr, room: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = within(socket.connect(addr)).await.unwrap();
    let request = upgrade_request(&format!("/room/{room}"));
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(within(tcp.read_u8()).await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    tcp
}

/// Stops reading for a while (long enough to be closed as too slow, often), then reads what
/// is there: every frame must still parse.
async fn staller(addr: std::net::SocketAddr, room: &'static str, until: Instant) {
    while Instant::now() < until {
        let mut tcp = raw_member(addr, room).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let texts = within(read_raw_frames(&mut tcp, room)).await;
        assert_eq!(
            texts.first().map(String::as_str),
            Some(&*format!("joined {room}"))
        );
        check_own_room_in_order(room, &texts[1..]);
    }
}

/// Shuts its sending side mid-stream without a close frame, and reads to the end.
async fn half_closer(addr: std::net::SocketAddr, room: &'static str, until: Instant) {
    while Instant::now() < until {
        let mut tcp = raw_member(addr, room).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        tcp.shutdown().await.unwrap();
        let texts = within(read_raw_frames(&mut tcp, room)).await;
        assert_eq!(
            texts.first().map(String::as_str),
            Some(&*format!("joined {room}"))
        );
        check_own_room_in_order(room, &texts[1..]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_broadcast_writes_reach_only_their_own_connections_whole() {
    let rooms = Rooms::builder()
        .slow_consumer(SlowConsumer::SkipThenClose(Duration::from_millis(300)))
        .pending_limit(64 << 10)
        .build()
        .unwrap();
    let server = Server::new(routes![member])
        .with_state(rooms.clone())
        .compression(Compression::disabled());
    let addr = spawn_server(server).await;
    let until = Instant::now() + CHURN;

    let mut members = JoinSet::new();
    for (index, room) in ["a", "b"].into_iter().cycle().take(16).enumerate() {
        let url = format!("ws://{addr}/room/{room}");
        members.spawn(async move {
            // Start at different moments, so that joins and leaves interleave.
            tokio::time::sleep(Duration::from_millis(index as u64 * 20)).await;
            reconnecting_reader(url, room, until).await
        });
    }
    for room in ["a", "b"] {
        members.spawn(async move {
            staller(addr, room, until).await;
            0
        });
        members.spawn(async move {
            half_closer(addr, room, until).await;
            0
        });
    }
    // A steady reader of each room, on ws-routes' client, that stays all along.
    let mut steady = JoinSet::new();
    for room in ["a", "b"] {
        let mut ws = connect(addr, &format!("/room/{room}")).await;
        assert_eq!(text(&mut ws).await, format!("joined {room}"));
        steady.spawn(async move {
            let end = format!("{room}:end");
            let mut texts = Vec::new();
            loop {
                let text = text(&mut ws).await;
                if text == end {
                    break (room, texts);
                }
                texts.push(text);
            }
        });
    }

    let mut sent = 0u64;
    while Instant::now() < until {
        for room in ["a", "b"] {
            // Now and then long enough for a socket to take only part of it.
            let padding = if sent.is_multiple_of(50) { 48 << 10 } else { 0 };
            rooms.broadcast(room, format!("{room}:{sent}:{}", "-".repeat(padding)));
            sent += 1;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let mut read = 0;
    while let Some(joined) = members.join_next().await {
        read += joined.expect("a member failed");
    }
    assert!(
        read > 1000,
        "the reconnecting readers read {read} broadcasts"
    );

    for room in ["a", "b"] {
        rooms.broadcast(room, format!("{room}:end"));
    }
    while let Some(done) = steady.join_next().await {
        let (room, texts) = done.expect("a steady reader failed");
        check_own_room_in_order(room, &texts);
        // A reader that keeps up is skipped rarely if ever (the machine may be loaded).
        assert!(
            texts.len() as u64 >= sent / 4,
            "{room}: {} of {}",
            texts.len(),
            sent / 2
        );
    }
}
