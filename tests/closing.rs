//! How connections end, over raw sockets: a connection the server fails closes cleanly even
//! with the client's input unread (RFC 6455 section 7.1.1), with everything sent before the
//! close frame delivered; pings that arrive together are answered together; a client that
//! shuts its side without a close frame is an abnormal closure (1006), owed no close frame;
//! once the close handshake completes, the server ends the TCP connection, whether or not a
//! `Sender` of the connection lives on.

mod support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use ws_routes::{CloseFrame, Routes, Server, Session, State, WebSocket, route, routes};

use support::raw::{data_segments_in, masked_frame, masked_frame_with, read_close, read_frame};
use support::{spawn, spawn_server, within};

#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    echo_until_closed(&mut ws).await;
}

/// Where the routes below report the close they saw.
type Seen = mpsc::UnboundedSender<Option<CloseFrame>>;

/// Reads until the end, then reports `close_frame()`.
#[route("/watch")]
async fn watch(mut ws: WebSocket, State(seen): State<Seen>) {
    while ws.recv().await.is_some() {}
    let _ = seen.send(ws.close_frame().cloned());
}

/// A class-style route that reports what `on_close` was given.
struct Watcher {
    seen: Seen,
}

#[route("/class")]
impl Watcher {
    fn accept(State(seen): State<Seen>) -> Self {
        Watcher { seen }
    }

    async fn on_text(&mut self, _session: &mut Session, _text: String) {}

    async fn on_close(&mut self, frame: Option<CloseFrame>) {
        let _ = self.seen.send(frame);
    }
}

/// Where `/pushed` leaves a `Sender` of its connection, which outlives the connection.
type Kept = mpsc::UnboundedSender<ws_routes::Sender>;

/// Gives away a `Sender` of the connection (its socket shared with direct writes), then echoes.
#[route("/pushed")]
async fn pushed(mut ws: WebSocket, State(kept): State<Kept>) {
    let _ = kept.send(ws.sender());
    echo_until_closed(&mut ws).await;
}

async fn echo_until_closed(ws: &mut WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// Echoes until the peer closes, then works on for a while with the connection done, as a
/// handler that saves what it got would.
/// Takes its time over each message (a slow database, say) before it reads the next.
#[route("/mulls")]
async fn mulls(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        tokio::time::sleep(MULLING).await;
        if ws.send(message).await.is_err() {
            return;
        }
    }
}

/// How long `/mulls` takes over a message.
const MULLING: Duration = Duration::from_secs(3);

#[route("/lingers")]
async fn lingers(mut ws: WebSocket) {
    echo_until_closed(&mut ws).await;
    drop(ws);
    tokio::time::sleep(Duration::from_secs(30)).await;
}

/// Gives away a `Sender`, echoes until the peer closes, then works on for a while with the
/// socket in hand: its send queue, open to direct writes, still holds the TCP socket.
#[route("/pushed_and_lingers")]
async fn pushed_and_lingers(mut ws: WebSocket, State(kept): State<Kept>) {
    let _ = kept.send(ws.sender());
    echo_until_closed(&mut ws).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    drop(ws);
}

const ROUTES: Routes = routes![echo, watch, Watcher];

/// Reads to the end of the stream, failing on a reset.
async fn read_to_end(tcp: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    within(tcp.read_to_end(&mut rest))
        .await
        .expect("the server closed cleanly, not with a reset");
    rest
}

/// A frame with RSV2 set: a protocol error without an extension that defines it.
fn rsv2_frame() -> Vec<u8> {
    masked_frame_with(0x80 | 0x20 | 0x2, b"rsv2")
}

#[tokio::test]
async fn a_failed_connection_delivers_what_it_sent_then_1002_though_input_is_unread() {
    let addr = spawn(routes![echo]).await;
    let mut tcp = support::raw::upgrade(addr, "/echo").await;
    // In one write: a large message, a frame that breaks the protocol, and more behind it
    // that the server never reads as frames.
    let large = vec![7; 256 << 10];
    let mut burst = masked_frame(0x2, true, &large);
    burst.extend(rsv2_frame());
    burst.extend(vec![0; 64 << 10]);
    tcp.write_all(&burst).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (opcode, echoed) = read_frame(&mut tcp).await;
    assert_eq!(opcode, 0x2);
    assert!(echoed == large, "the echo arrives whole");
    assert_eq!(read_close(&mut tcp).await, (1002, "protocol error".into()));
    assert!(read_to_end(&mut tcp).await.is_empty());
}

#[tokio::test]
async fn a_burst_of_pings_then_a_bad_frame_gets_every_pong_then_the_close() {
    let addr = spawn(routes![echo]).await;
    let mut tcp = support::raw::upgrade(addr, "/echo").await;
    let mut burst: Vec<u8> = (0..400)
        .flat_map(|index: u32| masked_frame(0x9, true, index.to_string().as_bytes()))
        .collect();
    burst.extend(rsv2_frame());
    burst.extend(vec![0; 16 << 10]);
    tcp.write_all(&burst).await.unwrap();

    for index in 0..400 {
        let (opcode, payload) = read_frame(&mut tcp).await;
        assert_eq!(
            (opcode, String::from_utf8(payload).unwrap()),
            (0xA, index.to_string())
        );
    }
    assert_eq!(read_close(&mut tcp).await, (1002, "protocol error".into()));
    assert!(read_to_end(&mut tcp).await.is_empty());
}

#[tokio::test]
#[ignore = "needs ss (iproute2); scripts/test runs it"]
async fn pings_that_arrive_together_are_answered_in_one_write() {
    let addr = spawn(routes![echo]).await;
    let mut tcp = support::raw::upgrade(addr, "/echo").await;
    let local = tcp.local_addr().unwrap();
    let before = data_segments_in(local);

    let pings: Vec<u8> = (0..400)
        .flat_map(|index: u32| masked_frame(0x9, true, format!("{index:03}").as_bytes()))
        .collect();
    assert!(pings.len() < 4096, "one read of the server's buffer");
    tcp.write_all(&pings).await.unwrap();
    // Each pong is 2 bytes of header and 3 of payload.
    let mut received = vec![0; 400 * 5];
    within(tcp.read_exact(&mut received)).await.unwrap();
    let expected: Vec<u8> = (0..400)
        .flat_map(|index: u32| {
            let mut pong = vec![0x8A, 3];
            pong.extend(format!("{index:03}").as_bytes());
            pong
        })
        .collect();
    assert!(received == expected, "every pong, in order");
    // One write of all 400 (a few, should the pings arrive in pieces), not one each.
    let segments = data_segments_in(local) - before;
    assert!(segments <= 4, "400 pongs came in {segments} segments");
}

#[tokio::test]
async fn a_ping_is_answered_before_the_rest_of_a_frame_that_follows_it_arrives() {
    let addr = spawn(routes![echo]).await;
    let mut tcp = support::raw::upgrade(addr, "/echo").await;
    // A ping and the first half of a text frame in one write; the rest only once the pong
    // is back.
    let text = masked_frame(0x1, true, b"after the pong");
    let mut first = masked_frame(0x9, true, b"ping");
    first.extend(&text[..text.len() / 2]);
    tcp.write_all(&first).await.unwrap();
    assert_eq!(within(read_frame(&mut tcp)).await, (0xA, b"ping".to_vec()));
    tcp.write_all(&text[text.len() / 2..]).await.unwrap();
    assert_eq!(
        within(read_frame(&mut tcp)).await,
        (0x1, b"after the pong".to_vec())
    );
}

#[tokio::test]
async fn a_ping_read_with_a_message_is_answered_before_the_handler_gets_the_message() {
    let addr = spawn(routes![mulls]).await;
    let mut tcp = support::raw::upgrade(addr, "/mulls").await;
    let mut both = masked_frame(0x9, true, b"ping");
    both.extend(masked_frame(0x1, true, b"think it over"));
    tcp.write_all(&both).await.unwrap();
    // The pong goes out before the handler starts on the message, not once it reads again.
    let pong = tokio::time::timeout(MULLING * 2 / 3, read_frame(&mut tcp)).await;
    assert_eq!(
        pong.expect("no pong while the handler mulled the message over"),
        (0xA, b"ping".to_vec())
    );
    assert_eq!(
        within(read_frame(&mut tcp)).await,
        (0x1, b"think it over".to_vec())
    );
}

#[tokio::test]
async fn a_client_that_pings_without_reading_is_not_read_while_its_pongs_wait() {
    let addr = spawn(routes![echo]).await;
    let tcp = support::raw::upgrade(addr, "/echo").await;
    let (_reading, mut writing) = tcp.into_split();
    // 64 MiB of pings with 125-byte payloads, and not a byte read: their pongs fill the
    // buffers between the server and this client (a few MiB on loopback), and from then on
    // the server reads no more, rather than keep every pong it owes in memory.
    let ping = masked_frame(0x9, true, &[b'p'; 125]);
    let flood = ping.repeat((64 << 20) / ping.len());
    let flooding = tokio::time::timeout(Duration::from_secs(5), writing.write_all(&flood)).await;
    assert!(
        flooding.is_err(),
        "the server read 64 MiB of pings whose pongs it could not write"
    );
    // It serves everyone else meanwhile.
    let mut other = support::connect(addr, "/echo").await;
    other.send("still serving").await.unwrap();
    assert_eq!(support::text(&mut other).await, "still serving");
}

/// Opens `path`, shuts the client's sending side without a close frame, and returns what the
/// server sent after that (up to its end of the stream) and what the route saw.
async fn half_close(path: &str) -> (Vec<u8>, Option<CloseFrame>) {
    let (seen, mut reports) = mpsc::unbounded_channel();
    let addr = spawn_server(Server::new(ROUTES).with_state::<Seen>(seen)).await;
    let mut tcp = support::raw::upgrade(addr, path).await;
    tcp.shutdown().await.unwrap();
    let after = read_to_end(&mut tcp).await;
    let report = within(reports.recv()).await.expect("the route reports");
    (after, report)
}

#[tokio::test]
async fn a_client_that_half_closes_without_a_close_frame_is_an_abnormal_closure() {
    for path in ["/watch", "/class"] {
        let (after, seen) = half_close(path).await;
        assert!(
            after.is_empty(),
            "{path}: no close frame is owed: {after:?}"
        );
        let seen = seen.unwrap_or_else(|| panic!("{path}: a close is reported"));
        assert_eq!(seen.code, ws_routes::CloseCode::ABNORMAL, "{path}");
        assert_eq!(seen.code, 1006);
    }
}

#[tokio::test]
async fn the_server_ends_the_tcp_connection_once_the_close_handshake_completes() {
    let (kept, mut senders) = mpsc::unbounded_channel();
    let routes = routes![echo, pushed, lingers, pushed_and_lingers];
    let addr = spawn_server(Server::new(routes).with_state::<Kept>(kept)).await;
    for path in ["/echo", "/pushed", "/lingers", "/pushed_and_lingers"] {
        let mut tcp = support::raw::upgrade(addr, path).await;
        tcp.write_all(&masked_frame(0x1, true, b"hi"))
            .await
            .unwrap();
        assert_eq!(read_frame(&mut tcp).await, (0x1, b"hi".to_vec()), "{path}");
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        tcp.write_all(&masked_frame(0x8, true, &close))
            .await
            .unwrap();
        assert_eq!(read_close(&mut tcp).await.0, 1000, "{path}");
        assert!(
            read_to_end(&mut tcp).await.is_empty(),
            "{path}: nothing after the close frame, then the end of the stream"
        );
    }
    // The `Sender` of `/pushed` outlived its connection.
    let sender = senders.try_recv().expect("/pushed gave its sender away");
    assert!(within(sender.send("too late")).await.is_err());
}
