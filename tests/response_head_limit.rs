//! The client's limit on a server's response head at its edge, over a real socket: a head of
//! exactly 16 KiB is read whole, one of a byte more is refused as too large.

mod support;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use ws_routes::http::StatusCode;
use ws_routes::{Client, Error};

/// A server that answers one handshake with a 403 whose head is `len` bytes long, in one write
/// (so that the client reads it whole, or in the pieces the network makes of it).
async fn answering_with_a_head_of(len: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        while !request.ends_with(b"\r\n\r\n") {
            let mut byte = [0];
            if tcp.read(&mut byte).await.unwrap() == 0 {
                return;
            }
            request.push(byte[0]);
        }
        let start = "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nx-padding: ";
        let end = "\r\n\r\n";
        let head = format!("{start}{}{end}", "p".repeat(len - start.len() - end.len()));
        assert_eq!(head.len(), len);
        let _ = tcp.write_all(head.as_bytes()).await;
        let _ = tcp.shutdown().await;
    });
    format!("ws://{addr}/")
}

#[tokio::test]
async fn a_response_head_of_exactly_16_kib_is_read_and_one_byte_more_is_not() {
    let client = Client::new();
    let url = answering_with_a_head_of(16 << 10).await;
    match support::within(client.connect(&url)).await {
        Err(Error::Refused {
            status, headers, ..
        }) => {
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert!(headers["x-padding"].len() > 16_000);
        }
        other => panic!("expected the refusal, got {other:?}"),
    }

    let url = answering_with_a_head_of((16 << 10) + 1).await;
    match support::within(client.connect(&url)).await {
        Err(Error::Protocol(why)) => {
            assert!(why.to_string().contains("response head too large"), "{why}")
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}
