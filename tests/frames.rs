//! Frames that break the rules at the edges, over real sockets: a masked frame reaching the
//! client (only clients mask), and a compressed message that takes more bytes on the wire
//! than its size limit allows deflate to add.

mod support;

use std::io::Write;
use std::net::SocketAddr;

use flate2::Compression as Level;
use flate2::write::DeflateEncoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ws_routes::{Error, Server, WebSocket, route, routes};

use support::{connect, next, raw, spawn_server, text};

/// Echoes every message.
#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// Sends "hello" and waits for the client to leave.
#[route("/hello")]
async fn hello(mut ws: WebSocket) {
    let _ = ws.send("hello").await;
    while let Some(Ok(_)) = ws.recv().await {}
}

/// A proxy in front of `server` that passes the handshake through, then writes one masked
/// text frame to the client before what the server sends: the address clients connect to.
async fn masking_proxy(server: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let upstream = TcpStream::connect(server).await.unwrap();
        let (mut from_client, mut to_client) = client.into_split();
        let (mut from_server, mut to_server) = upstream.into_split();
        tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_server).await });
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0];
            from_server.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        to_client.write_all(&head).await.unwrap();
        to_client
            .write_all(&raw::masked_frame(0x1, true, b"masked"))
            .await
            .unwrap();
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
    });
    addr
}

#[tokio::test]
async fn a_masked_frame_from_the_server_is_a_protocol_error_for_the_client() {
    let server = spawn_server(Server::new(routes![hello])).await;
    // Without the proxy, the same client reads the server's message.
    let mut ws = connect(server, "/hello").await;
    assert_eq!(text(&mut ws).await, "hello");

    let proxy = masking_proxy(server).await;
    let mut ws = connect(proxy, "/hello").await;
    match next(&mut ws).await {
        Some(Err(Error::Protocol(why))) => assert!(why.to_string().contains("masked"), "{why}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

/// `blocks` empty stored deflate blocks (5 bytes each on the wire, nothing once inflated),
/// then `text` compressed: a message as permessage-deflate sends it, sync-flushed, without
/// the `00 00 ff ff` tail.
fn padded_deflate(blocks: usize, text: &[u8]) -> Vec<u8> {
    let mut compressed = [0, 0, 0, 0xff, 0xff].repeat(blocks);
    let mut encoder = DeflateEncoder::new(Vec::new(), Level::default());
    encoder.write_all(text).unwrap();
    encoder.flush().unwrap();
    let tail = encoder.get_ref();
    assert!(tail.ends_with(&[0, 0, 0xff, 0xff]));
    compressed.extend_from_slice(&tail[..tail.len() - 4]);
    compressed
}

#[tokio::test]
async fn a_compressed_message_may_exceed_its_limit_on_the_wire_by_deflates_overhead_only() {
    // A limit of 10,000 bytes lets deflate add 64 bytes and 1 per 4 KiB: 10,066 on the wire.
    let addr = spawn_server(Server::new(routes![echo]).max_message_size(10_000)).await;
    let offer = raw::upgrade_request("/echo").replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    );
    let within_bounds = padded_deflate(2_000, b"hi");
    assert!(within_bounds.len() <= 10_066, "{}", within_bounds.len());
    let (mut tcp, _) = raw::upgrade_with(addr, &offer).await;
    tcp.write_all(&raw::masked_frame_with(0xC1, &within_bounds))
        .await
        .unwrap();
    assert_eq!(raw::read_message(&mut tcp).await, (0x1, b"hi".to_vec()));

    // Some 500 bytes more: refused before it is read, though it inflates to two bytes.
    let past = padded_deflate(2_100, b"hi");
    let (mut tcp, _) = raw::upgrade_with(addr, &offer).await;
    tcp.write_all(&raw::masked_frame_with(0xC1, &past))
        .await
        .unwrap();
    assert_eq!(raw::read_close(&mut tcp).await.0, 1009);
}
