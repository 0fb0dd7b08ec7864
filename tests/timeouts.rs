//! Timeouts over real sockets: keepalive, the write and close timeouts, the idle timeout.

mod support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_routes::Server;

use support::hardening::{FLOOD_ENDED, Received, server, start};
use support::raw::{self, masked_frame, read_close};
use support::{ask, close_frame, connect, wait_for, within};

#[tokio::test]
async fn settings_near_duration_max_do_not_overflow() {
    let (addr, _, _) = start(
        server()
            .keepalive(Duration::MAX, Duration::MAX)
            .idle_timeout(Duration::MAX)
            .close_timeout(Duration::MAX)
            .handshake_timeout(Duration::MAX),
    )
    .await;
    let mut ws = connect(addr, "/echo").await;
    assert_eq!(ask(&mut ws, "fine").await, "fine");
    ws.close(1000u16, "").await.unwrap();
    assert!(support::next(&mut ws).await.is_none());
}

#[tokio::test]
async fn keepalive_closes_a_client_that_stops_answering_pings() {
    let (addr, _, _) =
        start(server().keepalive(Duration::from_millis(100), Duration::from_millis(100))).await;
    // A raw client reads the pings but never answers them: after one interval and one timeout
    // the server gives up, however slowly the machine runs. The server's clock starts at the
    // upgrade, so ours starts before asking for it.
    let started = tokio::time::Instant::now();
    let mut tcp = raw::upgrade(addr, "/echo").await;
    assert_eq!(
        read_close(&mut tcp).await,
        (1011, "keepalive ping timeout".into())
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn messages_between_pings_do_not_bring_the_next_ping_forward() {
    // The idle timeout's timer fires at the deadline it had when it was set, which the
    // messages since have moved on: that wake-up sends no ping before the keepalive's interval.
    let (addr, _, _) = start(
        server()
            .keepalive(Duration::from_secs(30), Duration::from_secs(30))
            .idle_timeout(Duration::from_secs(1)),
    )
    .await;
    let mut tcp = raw::upgrade(addr, "/echo").await;
    let frame = masked_frame(0x1, true, b"still here");
    for _ in 0..15 {
        tcp.write_all(&frame).await.unwrap();
        let (opcode, payload) = within(raw::read_frame(&mut tcp)).await;
        assert_eq!(
            (opcode, payload.as_slice()),
            (0x1, &b"still here"[..]),
            "the echo, and no ping before the keepalive interval"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_client_that_floods_frames_cannot_postpone_its_keepalive() {
    let (addr, _, _) =
        start(server().keepalive(Duration::from_millis(100), Duration::from_millis(300))).await;
    // This client writes frames without pause and never answers a ping; it reads (the echoes
    // and the pings) so that only the keepalive can end it.
    let tcp = raw::upgrade(addr, "/echo").await;
    let (mut reading, mut writing) = tcp.into_split();
    let frame = masked_frame(0x1, true, b"flood");
    let flood = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if writing.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    let close = within(async {
        loop {
            let mut header = [0u8; 2];
            reading.read_exact(&mut header).await.unwrap();
            let mut payload = vec![0; usize::from(header[1] & 0x7f)];
            reading.read_exact(&mut payload).await.unwrap();
            if header[0] & 0x0f == 0x8 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                break (code, String::from_utf8(payload[2..].to_vec()).unwrap());
            }
        }
    })
    .await;
    assert_eq!(close, (1011, "keepalive ping timeout".into()));
    flood.abort();
}

#[tokio::test]
async fn without_keepalive_the_write_timeout_is_the_close_timeout() {
    pushes_to_a_stalled_client_end_with_a_write_timeout(
        server()
            .no_keepalive()
            .close_timeout(Duration::from_millis(500)),
    )
    .await;
}

#[tokio::test]
async fn a_client_that_never_answers_the_close_handshake_is_dropped_after_close_timeout() {
    let (addr, handle, _) = start(
        server()
            .no_keepalive()
            .close_timeout(Duration::from_secs(1)),
    )
    .await;
    let started = tokio::time::Instant::now();
    // `/maybe` says which protocol it speaks and returns: the server starts the close
    // handshake, which this client never answers.
    let mut tcp = raw::upgrade(addr, "/maybe").await;
    assert_eq!(read_close(&mut tcp).await, (1000, String::new()));
    let mut rest = Vec::new();
    let _ = within(tcp.read_to_end(&mut rest)).await;
    assert!(rest.is_empty(), "nothing after the close frame");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "dropped before the close timeout"
    );
    wait_for(|| handle.connections() == 0).await;
}

#[tokio::test]
async fn a_handler_that_closes_waits_for_the_answer_only_until_the_close_timeout() {
    let close_timeout = Duration::from_millis(1500);
    let (addr, handle, _) = start(server().no_keepalive().close_timeout(close_timeout)).await;
    // The handler closes, then reads on for the answer, which this client never sends: its
    // `recv` ends at the close timeout, and the server, whose close handshake is the same one,
    // drops the connection then, not a close timeout after the handler returned.
    let mut tcp = raw::upgrade(addr, "/close-and-drain").await;
    assert_eq!(read_close(&mut tcp).await, (1000, "bye".into()));
    let closing = tokio::time::Instant::now();
    let mut rest = Vec::new();
    let _ = within(tcp.read_to_end(&mut rest)).await;
    let waited = closing.elapsed();
    assert!(rest.is_empty(), "nothing after the close frame");
    assert!(
        waited >= close_timeout - Duration::from_millis(100),
        "dropped {waited:?} after the close, before the close timeout"
    );
    assert!(
        waited < close_timeout + Duration::from_secs(1),
        "dropped {waited:?} after the close: the close timeout ran again once the handler returned"
    );
    wait_for(|| handle.connections() == 0).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    // The close timeout is long: a peer that does not read is dropped once its write timed
    // out, without the close handshake that would wait for it.
    let (addr, handle, _) = start(
        server()
            .keepalive(Duration::from_secs(60), Duration::from_millis(500))
            .close_timeout(Duration::from_secs(60)),
    )
    .await;
    // Connects, then never reads: the handler's sends fill every buffer and then stall.
    let _stalled = connect(addr, "/flood").await;
    wait_for(|| FLOOD_ENDED.lock().unwrap().is_some()).await;
    assert_eq!(FLOOD_ENDED.lock().unwrap().as_deref(), Some("WriteTimeout"));
    wait_for(|| handle.connections() == 0).await;
}

#[tokio::test]
async fn queued_pushes_to_a_client_that_stops_reading_end_the_connection_too() {
    pushes_to_a_stalled_client_end_with_a_write_timeout(
        server().keepalive(Duration::from_secs(60), Duration::from_millis(500)),
    )
    .await;
}

#[tokio::test]
async fn close_gives_up_on_what_was_queued_after_the_write_timeout() {
    let server = server().keepalive(Duration::from_secs(60), Duration::from_millis(500));
    a_stalled_client_ends(server, "/push-then-close", "Err(WriteTimeout)").await;
}

/// `/push` pushes to a client that never reads: its handler's `recv` ends with
/// `WriteTimeout`, and the connection goes.
async fn pushes_to_a_stalled_client_end_with_a_write_timeout(server: Server) {
    a_stalled_client_ends(server, "/push", "WriteTimeout").await;
}

/// Connects to `path` and never reads: the handler reports `ended`, and the connection goes.
async fn a_stalled_client_ends(server: Server, path: &str, ended: &str) {
    let received = Received::default();
    let listening = server
        .with_state(received.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle) = (listening.local_addr().unwrap(), listening.handle());
    tokio::spawn(listening.run());
    let _stalled = connect(addr, path).await;
    wait_for(|| !received.0.lock().unwrap().is_empty()).await;
    assert_eq!(received.0.lock().unwrap()[0], ended);
    wait_for(|| handle.connections() == 0).await;
}

#[tokio::test]
async fn keepalive_keeps_a_responsive_client_and_measures_its_latency() {
    // A ping every 50 ms; the pong may take 5 s, which a client that reads never needs even
    // when the machine is loaded (client and server share this test's runtime).
    let (addr, _, _) =
        start(server().keepalive(Duration::from_millis(50), Duration::from_secs(5))).await;
    let mut ws = connect(addr, "/latency").await;
    // Reading answers the pings; stay for many intervals.
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    // Pings are answered inside `recv` and never come out of it.
    if let Ok(received) = tokio::time::timeout_at(until, ws.recv()).await {
        panic!("expected nothing while pings come and go, got {received:?}");
    }
    assert_eq!(ask(&mut ws, "latency").await, "measured: true");
}

#[tokio::test]
async fn latency_is_unknown_until_a_ping_was_answered() {
    let (addr, _, _) =
        start(server().keepalive(Duration::from_secs(60), Duration::from_secs(5))).await;
    let mut ws = connect(addr, "/latency").await;
    assert_eq!(ask(&mut ws, "latency").await, "measured: false");
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    // Two seconds leave the first message ample time to arrive before the connection counts
    // as idle, however loaded the machine.
    let idle = Duration::from_secs(2);
    let (addr, _, _) = start(server().no_keepalive().idle_timeout(idle)).await;
    let mut ws = connect(addr, "/echo").await;
    // Activity moves the deadline: a message sent most of the way through the first idle
    // period keeps the connection open until a whole idle period after it.
    tokio::time::sleep(idle * 3 / 4).await;
    let last_activity = tokio::time::Instant::now();
    assert_eq!(ask(&mut ws, "still here").await, "still here");
    assert_eq!(close_frame(&mut ws).await, (1000, "idle timeout".into()));
    assert!(
        last_activity.elapsed() >= idle,
        "closed {:?} after the last message, before the idle timeout",
        last_activity.elapsed()
    );
}
