//! Interoperability with Python's `websockets`, both ways: our client against its server, and
//! its client against our server (binary and fragmented messages, ping and pong, a close
//! handshake with a code and reason the handler sees), with permessage-deflate (the default on
//! both sides) and without.
//!
//! Needs Python with `websockets` (`.venv`, or `WS_ROUTES_PYTHON`), which `scripts/test`
//! installs; so these tests are `#[ignore]`d and plain `cargo test` lists them as ignored.
//! `scripts/test` runs them with `--include-ignored`.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use ws_routes::{Message, Server, State, WebSocket, route, routes};

use support::{ask, next, python, python_checks, python_script, until_closed, wait_for, within};

/// A close frame as code and reason; `None` when the connection ended without one.
type Heard = Option<(u16, String)>;

/// The close frames the `/echo` handler saw.
#[derive(Clone, Default)]
struct Closes(Arc<Mutex<Vec<Heard>>>);

/// Echoes every message, then records the client's close frame.
#[route("/echo")]
async fn echo(mut ws: WebSocket, State(closes): State<Closes>) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
    let frame = ws
        .close_frame()
        .map(|frame| (frame.code.as_u16(), frame.reason.to_string()));
    closes.0.lock().unwrap().push(frame);
}

#[tokio::test]
#[ignore = "needs Python's websockets: `scripts/test` installs it and runs this"]
async fn pythons_client_talks_to_our_server() {
    let closes = Closes::default();
    let addr = support::spawn_server(Server::new(routes![echo]).with_state(closes.clone())).await;
    python_checks("client_checks.py", &format!("ws://{addr}/echo")).await;
    wait_for(|| !closes.0.lock().unwrap().is_empty()).await;
    assert_eq!(
        *closes.0.lock().unwrap(),
        [Some((4001, "python says bye".into()))],
        "the handler sees the client's close frame"
    );
}

#[tokio::test]
#[ignore = "needs Python's websockets: `scripts/test` installs it and runs this"]
async fn pythons_client_compresses_with_our_server_by_default_and_not_when_asked() {
    let addr =
        support::spawn_server(Server::new(routes![echo]).with_state(Closes::default())).await;
    python_checks("compression_checks.py", &format!("ws://{addr}/echo")).await;
}

#[tokio::test]
#[ignore = "needs Python's websockets: `scripts/test` installs it and runs this"]
async fn our_client_talks_to_pythons_server() {
    let mut server = tokio::process::Command::new(python())
        .arg(python_script("echo_server.py"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let listening = within(lines.next_line()).await.unwrap().expect("a line");
    let url = &listening[listening.find("ws://").expect("an address")..];
    let mut ws = within(ws_routes::connect(&format!("{url}/")))
        .await
        .expect("connect");
    assert!(
        ws.is_compressed(),
        "Python's server accepts permessage-deflate"
    );

    assert_eq!(ask(&mut ws, "hello, python").await, "hello, python");
    // Compressed both ways: JSON-like text well past the 1 KiB threshold.
    let records: Vec<String> = (0..2000)
        .map(|n| format!("{{\"id\":{n},\"value\":{}.5}}", n * 3))
        .collect();
    let json = format!("[{}]", records.join(","));
    assert_eq!(ask(&mut ws, &json).await, json);
    // 300 KiB, binary: far past our read buffer's 4 KiB.
    let large: Vec<u8> = (0..300 << 10)
        .map(|index: u32| (index % 253) as u8)
        .collect();
    ws.send(large.clone()).await.unwrap();
    match next(&mut ws).await {
        Some(Ok(Message::Binary(echoed))) => assert!(echoed == large, "the echo differs"),
        other => panic!("expected the binary echo, got {other:?}"),
    }
    // A ping: its pong is consumed inside `recv`, and the connection goes on.
    ws.ping("are you there?").await.unwrap();
    assert_eq!(ask(&mut ws, "after the ping").await, "after the ping");

    ws.close(4002u16, "rust says bye").await.unwrap();
    assert_eq!(
        until_closed(&mut ws).await,
        Some((4002, "rust says bye".into())),
        "python answers the close handshake with our code"
    );
    // Python's handler ends once the TCP connection is closed: our socket closes when dropped.
    drop(ws);
    let heard = within(lines.next_line()).await.unwrap().expect("a line");
    assert_eq!(heard, "closed 4002 rust says bye");
}
