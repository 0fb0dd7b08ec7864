//! permessage-deflate (RFC 7692) over real sockets: what the server answers to offers, what
//! it writes (RSV1 from the threshold up), compressed messages and broadcasts between our
//! client and server in every takeover combination, and the close codes of bad compressed
//! input: a decompression bomb (1009), invalid data (1007), RSV1 without the extension (1002).

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;

use flate2::write::DeflateEncoder;
use flate2::{Compression as Level, read::DeflateDecoder};
use tokio::io::AsyncWriteExt;
use ws_routes::{Client, Compression, Message, Rooms, Server, State, WebSocket, route, routes};

use support::{next, raw, spawn_server, text, within};

/// Echoes every message.
#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// Echoes too, but never compressed.
#[route("/plain", compression = false)]
async fn plain(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// Joins the room `feed`, says whether it compresses, then stays until the client leaves.
#[route("/feed")]
async fn feed(mut ws: WebSocket, State(rooms): State<Rooms>) {
    rooms.join("feed", &ws.sender());
    let compressed = if ws.is_compressed() { "yes" } else { "no" };
    if ws.send(format!("compressed: {compressed}")).await.is_err() {
        return;
    }
    while let Some(Ok(_)) = ws.recv().await {}
}

/// JSON-like text that compresses well: what compression is for.
fn json_like(records: usize) -> String {
    (0..records)
        .map(|n| {
            format!(
                "{{\"id\":{n},\"name\":\"sensor-{}\",\"value\":{}.5}}",
                n % 7,
                n * 3
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A message as permessage-deflate sends it: raw deflate, sync-flushed, without the
/// `00 00 ff ff` tail.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Level::default());
    encoder.write_all(data).unwrap();
    encoder.flush().unwrap();
    let mut compressed = encoder.get_ref().clone();
    assert!(compressed.ends_with(&[0, 0, 0xff, 0xff]));
    compressed.truncate(compressed.len() - 4);
    compressed
}

/// The inverse of [`deflate`].
fn inflate(compressed: &[u8]) -> Vec<u8> {
    let mut input = compressed.to_vec();
    input.extend([0, 0, 0xff, 0xff]);
    let mut out = Vec::new();
    // The sync-flushed stream has no final block: reading stops at the end of the input.
    let _ = DeflateDecoder::new(&input[..]).read_to_end(&mut out);
    out
}

/// An upgrade request for `path` offering `extensions`.
fn offering(path: &str, extensions: &str) -> String {
    let request = raw::upgrade_request(path);
    let head = request.trim_end_matches("\r\n");
    format!("{head}\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n")
}

/// The value of the response's `sec-websocket-extensions`, if any.
fn extensions(head: &str) -> Option<&str> {
    head.lines()
        .find_map(|line| line.strip_prefix("sec-websocket-extensions: "))
}

async fn start(server: Server) -> SocketAddr {
    spawn_server(server).await
}

#[tokio::test]
async fn chromiums_offer_is_accepted_and_long_messages_travel_compressed_both_ways() {
    let addr = start(Server::new(routes![echo])).await;
    let request = offering("/echo", "permessage-deflate; client_max_window_bits");
    let (mut tcp, head) = raw::upgrade_with(addr, &request).await;
    assert_eq!(
        extensions(&head),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=12; client_max_window_bits=12"
        )
    );

    let long = json_like(200);
    let compressed = deflate(long.as_bytes());
    assert!(
        compressed.len() * 4 < long.len(),
        "JSON-like text compresses"
    );
    tcp.write_all(&raw::masked_frame_with(0xC1, &compressed))
        .await
        .unwrap();
    let (first, payload) = raw::read_raw_frame(&mut tcp).await;
    assert_eq!(first, 0xC1, "FIN, RSV1 and text: the echo is compressed");
    assert!(payload.len() * 4 < long.len());
    assert_eq!(inflate(&payload), long.as_bytes());

    // Under the 1 KiB threshold, the echo goes out as it is, though the message came in
    // compressed.
    tcp.write_all(&raw::masked_frame_with(0xC1, &deflate(b"short")))
        .await
        .unwrap();
    assert_eq!(
        raw::read_raw_frame(&mut tcp).await,
        (0x81, b"short".to_vec())
    );

    // An uncompressed message on a compressed connection is fine too (RSV1 is per message).
    tcp.write_all(&raw::masked_frame(0x2, true, &[1, 2, 3]))
        .await
        .unwrap();
    assert_eq!(raw::read_raw_frame(&mut tcp).await, (0x82, vec![1, 2, 3]));
}

#[tokio::test]
async fn a_fragmented_compressed_message_is_inflated_whole() {
    let addr = start(Server::new(routes![echo])).await;
    let (mut tcp, _) = raw::upgrade_with(addr, &offering("/echo", "permessage-deflate")).await;
    let long = json_like(100);
    let compressed = deflate(long.as_bytes());
    let (first, second) = compressed.split_at(compressed.len() / 2);
    // RSV1 on the first frame only.
    let mut frames = raw::masked_frame_with(0x41, first);
    frames.extend(raw::masked_frame_with(0x80, second));
    tcp.write_all(&frames).await.unwrap();
    let (first, payload) = raw::read_raw_frame(&mut tcp).await;
    assert_eq!(first, 0xC1);
    assert_eq!(inflate(&payload), long.as_bytes());
}

#[tokio::test]
async fn invalid_offers_are_declined_and_the_handshake_still_succeeds() {
    let addr = start(Server::new(routes![echo])).await;
    for offer in [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=08",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; unknown_parameter",
        "x-webkit-deflate-frame",
    ] {
        let (_, head) = raw::upgrade_with(addr, &offering("/echo", offer)).await;
        assert_eq!(extensions(&head), None, "{offer}");
    }
    // The first valid offer of several wins.
    let offers = "permessage-deflate; server_max_window_bits=20, \
                  permessage-deflate; server_max_window_bits=10";
    let (_, head) = raw::upgrade_with(addr, &offering("/echo", offers)).await;
    assert_eq!(
        extensions(&head),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10"
        )
    );
}

#[tokio::test]
async fn a_route_or_a_server_can_turn_compression_off() {
    let addr = start(Server::new(routes![echo, plain])).await;
    let (_, head) = raw::upgrade_with(addr, &offering("/plain", "permessage-deflate")).await;
    assert_eq!(extensions(&head), None, "compression = false on the route");
    let mut ws = within(Client::new().connect(&format!("ws://{addr}/plain")))
        .await
        .unwrap();
    assert!(!ws.is_compressed());
    ws.send(json_like(100)).await.unwrap();
    assert_eq!(text(&mut ws).await, json_like(100));

    let off = Server::new(routes![echo]).compression(Compression::disabled());
    let addr = start(off).await;
    let (_, head) = raw::upgrade_with(addr, &offering("/echo", "permessage-deflate")).await;
    assert_eq!(
        extensions(&head),
        None,
        "compression disabled on the server"
    );
}

#[tokio::test]
async fn a_decompression_bomb_is_closed_with_1009() {
    let addr = start(Server::new(routes![echo]).max_message_size(16 << 10)).await;
    let (mut tcp, _) = raw::upgrade_with(addr, &offering("/echo", "permessage-deflate")).await;
    // 16 MiB of zeros: 16 KiB on the wire, a thousand times the limit once inflated.
    let bomb = deflate(&vec![0; 16 << 20]);
    assert!(bomb.len() < 16 << 10);
    tcp.write_all(&raw::masked_frame_with(0xC2, &bomb))
        .await
        .unwrap();
    assert_eq!(raw::read_close(&mut tcp).await.0, 1009);
}

#[tokio::test]
async fn invalid_compressed_data_is_closed_with_1007() {
    let addr = start(Server::new(routes![echo])).await;
    let (mut tcp, _) = raw::upgrade_with(addr, &offering("/echo", "permessage-deflate")).await;
    // Block type 3 does not exist.
    tcp.write_all(&raw::masked_frame_with(0xC1, &[0xff, 0xff, 0xff, 0xff]))
        .await
        .unwrap();
    assert_eq!(
        raw::read_close(&mut tcp).await,
        (1007, "invalid compressed data".into())
    );

    // Valid deflate data whose text is not UTF-8.
    let (mut tcp, _) = raw::upgrade_with(addr, &offering("/echo", "permessage-deflate")).await;
    tcp.write_all(&raw::masked_frame_with(0xC1, &deflate(b"\xff\xfe text")))
        .await
        .unwrap();
    assert_eq!(raw::read_close(&mut tcp).await.0, 1007);
}

#[tokio::test]
async fn rsv1_is_a_protocol_error_without_the_extension_or_on_a_continuation() {
    let addr = start(Server::new(routes![echo])).await;
    let mut tcp = raw::upgrade(addr, "/echo").await;
    tcp.write_all(&raw::masked_frame_with(0xC1, &deflate(b"hello")))
        .await
        .unwrap();
    assert_eq!(raw::read_close(&mut tcp).await.0, 1002, "not negotiated");

    let (mut tcp, _) = raw::upgrade_with(addr, &offering("/echo", "permessage-deflate")).await;
    let mut frames = raw::masked_frame_with(0x01, b"plain start, ");
    frames.extend(raw::masked_frame_with(0xC0, &deflate(b"compressed end")));
    tcp.write_all(&frames).await.unwrap();
    assert_eq!(
        raw::read_close(&mut tcp).await.0,
        1002,
        "RSV1 on a continuation"
    );

    let (mut tcp, _) = raw::upgrade_with(addr, &offering("/echo", "permessage-deflate")).await;
    tcp.write_all(&raw::masked_frame_with(0xC9, b"ping"))
        .await
        .unwrap();
    assert_eq!(raw::read_close(&mut tcp).await.0, 1002, "RSV1 on a ping");
}

/// Our client and server, with `server_side` and `client_side` settings: messages of every
/// size both ways.
async fn round_trips(server_side: Compression, client_side: Compression, compressed: bool) {
    let addr = start(Server::new(routes![echo]).compression(server_side)).await;
    let client = Client::new().compression(client_side);
    let mut ws = within(client.connect(&format!("ws://{addr}/echo")))
        .await
        .unwrap();
    assert_eq!(ws.is_compressed(), compressed);
    for records in [0, 1, 30, 100, 3000, 100, 30] {
        let message = json_like(records);
        ws.send(message.clone()).await.unwrap();
        assert_eq!(text(&mut ws).await, message);
    }
    let binary: Vec<u8> = (0..200_000u32).map(|n| (n % 251) as u8).collect();
    ws.send(binary.clone()).await.unwrap();
    match next(&mut ws).await {
        Some(Ok(Message::Binary(echoed))) => assert!(echoed == binary),
        other => panic!("expected the binary echo, got {other:?}"),
    }
    ws.close(1000u16, "").await.unwrap();
}

#[tokio::test]
async fn our_client_and_server_agree_in_every_takeover_and_window_combination() {
    let default = Compression::default();
    round_trips(default, default, true).await;
    let takeover = default
        .server_context_takeover(true)
        .client_context_takeover(true);
    round_trips(takeover, takeover, true).await;
    round_trips(takeover, default, true).await;
    round_trips(default, takeover, true).await;
    let small = default
        .server_max_window_bits(8)
        .client_max_window_bits(9)
        .threshold(0);
    round_trips(default.server_max_window_bits(15), small, true).await;
    round_trips(small.level(9), default.level(1), true).await;
    round_trips(default, Compression::disabled(), false).await;
    round_trips(Compression::disabled(), default, false).await;
}

#[tokio::test]
async fn a_broadcast_reaches_compressed_and_plain_members_alike() {
    let rooms = Rooms::new();
    let addr = start(Server::new(routes![feed]).with_state(rooms.clone())).await;
    let url = format!("ws://{addr}/feed");
    let mut members = Vec::new();
    for (client, expected) in [
        (Client::new(), "compressed: yes"),
        (
            Client::new().compression(Compression::disabled()),
            "compressed: no",
        ),
        (
            Client::new().compression(Compression::default().server_max_window_bits(9)),
            "compressed: yes",
        ),
        (Client::new(), "compressed: yes"),
    ] {
        let mut ws = within(client.connect(&url)).await.unwrap();
        assert_eq!(text(&mut ws).await, expected);
        members.push(ws);
    }
    for records in [5, 500, 2] {
        let message = json_like(records);
        assert_eq!(rooms.broadcast("feed", message.as_str()), members.len());
        for ws in &mut members {
            assert_eq!(text(ws).await, message);
        }
    }
}
