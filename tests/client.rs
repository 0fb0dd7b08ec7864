//! The crate's client on its own: its connect timeout, its message size limit, and what it
//! says about a URL it cannot use.

mod support;

use std::time::Duration;

use tokio::net::TcpListener;
use ws_routes::{Client, Error, Server, WebSocket, route, routes};

use support::spawn_server;

/// Answers anything with a message of the size it names.
#[route("/sized")]
async fn sized(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        let size: usize = message
            .as_text()
            .and_then(|text| text.parse().ok())
            .unwrap_or(0);
        if ws.send(vec![7u8; size]).await.is_err() {
            break;
        }
    }
}

#[tokio::test]
async fn a_server_that_never_answers_the_handshake_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts the TCP connection and then says nothing.
    let silent = tokio::spawn(async move {
        let (_tcp, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
    });
    let started = tokio::time::Instant::now();
    let client = Client::new().connect_timeout(Duration::from_millis(300));
    match client.connect(&format!("ws://{addr}/")).await {
        Err(Error::Io(error)) => assert_eq!(error.kind(), std::io::ErrorKind::TimedOut),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    silent.abort();
}

#[tokio::test]
async fn by_default_the_client_takes_messages_up_to_one_mebibyte() {
    let server = Server::new(routes![sized]).max_message_size(4 << 20);
    let addr = spawn_server(server).await;
    let url = format!("ws://{addr}/sized");
    let mut ws = ws_routes::connect(&url).await.unwrap();
    ws.send((1usize << 20).to_string()).await.unwrap();
    assert_eq!(
        support::next(&mut ws).await.unwrap().unwrap().len(),
        1 << 20
    );
    ws.send(((1usize << 20) + 1).to_string()).await.unwrap();
    assert!(matches!(
        support::next(&mut ws).await,
        Some(Err(Error::MessageTooBig))
    ));
    // A client that expects more says so.
    let mut ws = Client::new()
        .max_message_size(4 << 20)
        .connect(&url)
        .await
        .unwrap();
    ws.send((3usize << 20).to_string()).await.unwrap();
    assert_eq!(
        support::next(&mut ws).await.unwrap().unwrap().len(),
        3 << 20
    );
    ws.send("0").await.unwrap();
    assert!(support::next(&mut ws).await.unwrap().unwrap().is_empty());
}

#[tokio::test]
async fn a_url_without_a_scheme_is_named_as_such() {
    let error = ws_routes::connect("127.0.0.1:8765/light/on")
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("write ws://127.0.0.1:8765/light/on"),
        "{error}"
    );
    let error = ws_routes::connect("http://127.0.0.1:8765/")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("ws:// or wss://"), "{error}");
}
