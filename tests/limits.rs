//! Limits over real sockets: connections in all and per address, message and frame sizes,
//! and an extractor that refuses.

mod support;

use tokio::io::AsyncWriteExt;
use ws_routes::http::StatusCode;
use ws_routes::{Client, Error, Message};

use support::hardening::{refused_status, server, start};
use support::raw::{self, masked_frame, read_close, read_message};
use support::{ask, close_frame, connect, next, until_closed, wait_for, within};

#[tokio::test]
async fn past_max_connections_the_handshake_gets_503_until_one_leaves() {
    let (addr, handle, _) = start(server().max_connections(2)).await;
    let mut first = connect(addr, "/echo").await;
    let _second = connect(addr, "/echo").await;
    let url = format!("ws://{addr}/echo");
    assert_eq!(
        refused_status(ws_routes::connect(&url).await).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    first.close(1000u16, "").await.unwrap();
    assert_eq!(until_closed(&mut first).await, Some((1000, String::new())));
    wait_for(|| handle.connections() == 1).await;
    let mut third = connect(addr, "/echo").await;
    assert_eq!(ask(&mut third, "in").await, "in");
}

#[tokio::test]
async fn past_the_per_ip_limit_the_handshake_gets_429() {
    let (addr, _, _) = start(server().max_connections_per_ip(1)).await;
    let _first = connect(addr, "/echo").await;
    let url = format!("ws://{addr}/echo");
    assert_eq!(
        refused_status(ws_routes::connect(&url).await).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_fragmented_message_over_the_limit_closes_with_1009() {
    let (addr, _, _) = start(server().max_message_size(1000).max_frame_size(600)).await;
    let mut tcp = raw::upgrade(addr, "/echo").await;
    tcp.write_all(&masked_frame(0x1, false, &[b'a'; 500]))
        .await
        .unwrap();
    tcp.write_all(&masked_frame(0x0, false, &[b'a'; 500]))
        .await
        .unwrap();
    tcp.write_all(&masked_frame(0x0, true, &[b'a'; 500]))
        .await
        .unwrap();
    assert_eq!(read_close(&mut tcp).await, (1009, "message too big".into()));
}

#[tokio::test]
async fn a_frame_over_max_frame_size_closes_with_1009_though_the_message_fits() {
    let (addr, _, _) = start(server().max_message_size(10_000).max_frame_size(600)).await;
    // Under both limits, whole or in fragments, the message comes back.
    let mut tcp = raw::upgrade(addr, "/echo").await;
    tcp.write_all(&masked_frame(0x2, true, &[1; 600]))
        .await
        .unwrap();
    assert_eq!(read_message(&mut tcp).await, (0x2, vec![1; 600]));
    for (opcode, fin) in [(0x2, false), (0x0, false), (0x0, true)] {
        tcp.write_all(&masked_frame(opcode, fin, &[2; 500]))
            .await
            .unwrap();
    }
    assert_eq!(read_message(&mut tcp).await, (0x2, vec![2; 1500]));
    // One frame of 601 bytes is over the frame limit, far under the message limit.
    tcp.write_all(&masked_frame(0x2, true, &[3; 601]))
        .await
        .unwrap();
    assert_eq!(read_close(&mut tcp).await, (1009, "message too big".into()));
}

#[tokio::test]
async fn messages_far_larger_than_the_read_buffer_arrive_intact() {
    // The read buffer is 4 KiB by default; this message is 75 times that.
    let (addr, _, _) = start(server()).await;
    let mut ws = connect(addr, "/echo").await;
    let large: Vec<u8> = (0..300 << 10)
        .map(|index: u32| (index % 251) as u8)
        .collect();
    ws.send(large.clone()).await.unwrap();
    match next(&mut ws).await {
        Some(Ok(Message::Binary(echoed))) => assert!(echoed == large, "the echo differs"),
        other => panic!("expected the binary echo, got {other:?}"),
    }
    let text: String = (0..300 << 10)
        .map(|index: u32| char::from(b'a' + (index % 26) as u8))
        .collect();
    assert!(ask(&mut ws, &text).await == text, "the text echo differs");
}

#[tokio::test]
async fn an_extractor_that_refuses_closes_with_1008_and_the_status_reason() {
    let (addr, _, _) = start(server()).await;
    let mut ws = connect(addr, "/forbidden").await;
    assert_eq!(close_frame(&mut ws).await, (1008, "Forbidden".into()));
}

#[tokio::test]
async fn the_client_refuses_a_message_over_its_own_limit() {
    let (addr, _, _) = start(server()).await;
    let mut ws = within(
        Client::new()
            .max_message_size(1000)
            .connect(&format!("ws://{addr}/echo")),
    )
    .await
    .unwrap();
    assert_eq!(ask(&mut ws, &"a".repeat(1000)).await, "a".repeat(1000));
    // The server echoes 1001 bytes, one over the client's limit.
    ws.send("b".repeat(1001)).await.unwrap();
    assert!(
        matches!(next(&mut ws).await, Some(Err(Error::MessageTooBig))),
        "the client reports the message as too big"
    );
    assert!(
        next(&mut ws).await.is_none(),
        "and then the connection is over"
    );
}
