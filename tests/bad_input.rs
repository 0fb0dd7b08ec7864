//! Bad input over real sockets: invalid UTF-8, garbage frames and a client vanishing
//! mid-message close that connection and hurt no one else.

mod support;

use tokio::io::AsyncWriteExt;

use support::hardening::{server, start};
use support::raw::{self, masked_frame, read_close};
use support::{ask, connect, wait_for};

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let (addr, _, _) = start(server()).await;
    let mut tcp = raw::upgrade(addr, "/echo").await;
    tcp.write_all(&masked_frame(0x1, true, &[0xff, 0xfe, 0x41]))
        .await
        .unwrap();
    assert_eq!(read_close(&mut tcp).await, (1007, "invalid UTF-8".into()));
}

#[tokio::test]
async fn garbage_frames_close_with_1002_and_others_are_still_served() {
    let (addr, _, _) = start(server()).await;
    let mut watcher = connect(addr, "/echo").await;
    let mut tcp = raw::upgrade(addr, "/echo").await;
    // Reserved bits set and an unknown opcode.
    tcp.write_all(&[0xf3, 0x80, 1, 2, 3, 4]).await.unwrap();
    assert_eq!(read_close(&mut tcp).await, (1002, "protocol error".into()));
    assert_eq!(ask(&mut watcher, "fine").await, "fine");
}

#[tokio::test]
async fn a_client_vanishing_mid_message_hurts_nobody() {
    let (addr, handle, _) = start(server()).await;
    let mut watcher = connect(addr, "/echo").await;
    for _ in 0..20 {
        let mut tcp = raw::upgrade(addr, "/echo").await;
        let frame = masked_frame(0x2, true, &[7; 4000]);
        tcp.write_all(&frame[..1000]).await.unwrap();
        drop(tcp);
    }
    wait_for(|| handle.connections() == 1).await;
    assert_eq!(ask(&mut watcher, "still fine").await, "still fine");
}
