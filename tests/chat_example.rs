//! Drives the chat example, `cargo run --example chat`, over real sockets: its page, its
//! rooms, and two of it sharing rooms through Redis.

mod support;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_routes::WebSocket;

use support::redis::Redis;
use support::{Example, text};

fn start(extra: &[&str]) -> Example {
    let mut args = vec!["--addr", "127.0.0.1:0"];
    args.extend(extra);
    Example::start("chat", &args)
}

async fn member(server: &Example, room: &str, name: &str) -> WebSocket {
    let url = format!("{}/chat/{room}?name={name}", server.url);
    ws_routes::connect(&url).await.expect("join the chat")
}

/// The next JSON message of a given type.
async fn next(ws: &mut WebSocket, kind: &str) -> Value {
    loop {
        let message: Value = serde_json::from_str(&text(ws).await).expect("JSON");
        if message["type"] == kind {
            return message;
        }
    }
}

#[tokio::test]
async fn the_page_and_the_rooms_share_one_port() {
    let server = start(&[]);
    let addr = server.url.trim_start_matches("ws://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    tcp.read_to_string(&mut page).await.unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("<title>ws-routes chat</title>"));

    let mut ada = member(&server, "lobby", "ada").await;
    assert_eq!(next(&mut ada, "presence").await["count"], 1);
    let mut bob = member(&server, "lobby", "bob").await;
    assert_eq!(next(&mut ada, "joined").await["name"], "bob");
    assert_eq!(next(&mut bob, "presence").await["count"], 2);
    let mut elsewhere = member(&server, "kitchen", "eve").await;

    ada.send("hello, lobby").await.unwrap();
    let expected = json!({ "type": "message", "name": "ada", "text": "hello, lobby" });
    assert_eq!(next(&mut bob, "message").await, expected);
    assert_eq!(next(&mut ada, "message").await, expected, "the sender too");
    elsewhere.send("only the kitchen").await.unwrap();
    assert_eq!(
        next(&mut elsewhere, "message").await["text"],
        "only the kitchen"
    );
    bob.send("bye").await.unwrap();
    assert_eq!(
        next(&mut ada, "message").await["text"],
        "bye",
        "the kitchen's message never reached the lobby"
    );

    drop(bob);
    assert_eq!(next(&mut ada, "left").await["name"], "bob");
    assert_eq!(next(&mut ada, "presence").await["count"], 1);
}

#[tokio::test]
async fn two_chat_servers_share_rooms_through_redis() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url();
    let one = start(&["--redis", &url]);
    let two = start(&["--redis", &url]);
    let mut ada = member(&one, "lobby", "ada").await;
    let mut bob = member(&two, "lobby", "bob").await;
    // Both servers subscribe in the background: say hello until it gets across.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    'across: loop {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing crossed in 20 s"
        );
        ada.send("hello from one").await.unwrap();
        let wait = std::time::Duration::from_millis(300);
        while let Ok(text) = tokio::time::timeout(wait, text(&mut bob)).await {
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["text"] == "hello from one" {
                break 'across;
            }
        }
    }
    bob.send("hello from two").await.unwrap();
    loop {
        let message = next(&mut ada, "message").await;
        if message["text"] == "hello from two" {
            assert_eq!(message["name"], "bob");
            break;
        }
    }
    // A third member counts both servers' members.
    let mut cy = member(&two, "lobby", "cy").await;
    assert_eq!(next(&mut cy, "presence").await["count"], 3);
}
