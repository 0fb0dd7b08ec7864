//! The slow-consumer rule at its mark, over real sockets: a member that stops reading is
//! closed once its pending output has stayed above a quarter of the pending limit for the
//! stall timeout, and not while it stays below, however long it has stalled.

mod support;

use std::time::Duration;

use ws_routes::{Bytes, Rooms, Server, State, WebSocket, route, routes};

use support::{close_frame, connect, spawn_server, text};

/// Joins room `feed`, says so, then stays until the client leaves.
#[route("/feed")]
async fn feed(mut ws: WebSocket, State(rooms): State<Rooms>) {
    rooms.join("feed", &ws.sender());
    if ws.send("joined").await.is_err() {
        return;
    }
    while let Some(Ok(_)) = ws.recv().await {}
}

/// Broadcasts `mebibytes` MiB to room `feed` in blocks of 64 KiB, without yielding.
fn broadcast(rooms: &Rooms, mebibytes: usize) {
    let block = Bytes::from(vec![7u8; 64 << 10]);
    for _ in 0..mebibytes * 16 {
        rooms.broadcast("feed", block.clone());
    }
}

#[tokio::test]
async fn a_stalled_member_is_closed_above_the_high_water_mark_and_only_there() {
    // A pending limit of 64 MiB: the high-water mark is 16 MiB.
    let rooms = Rooms::builder()
        .pending_limit(64 << 20)
        .stall_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let addr = spawn_server(Server::new(routes![feed]).with_state(rooms.clone())).await;
    let mut stalled = connect(addr, "/feed").await;
    assert_eq!(text(&mut stalled).await, "joined");
    // From here on it reads nothing. 10 MiB is more than the socket buffers take (a few
    // MiB on loopback), so some waits; it stays below the mark past the stall timeout.
    broadcast(&rooms, 10);
    tokio::time::sleep(Duration::from_millis(700)).await;
    broadcast(&rooms, 1);
    assert_eq!(rooms.local_count("feed"), 1, "closed below the mark");

    // 20 MiB more takes it above the mark, well below the limit: closed by the first
    // broadcast after the stall timeout.
    broadcast(&rooms, 20);
    assert_eq!(
        rooms.local_count("feed"),
        1,
        "closed before the stall timeout"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    broadcast(&rooms, 1);
    assert_eq!(
        rooms.local_count("feed"),
        0,
        "still a member above the mark"
    );
    assert_eq!(
        close_frame(&mut stalled).await,
        (1013, "too slow: not reading its messages".to_owned())
    );
}
