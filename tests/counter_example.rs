//! Drives the counter example, `cargo run --example counter`, over real sockets.

mod support;

use ws_routes::Error;
use ws_routes::http::StatusCode;

use support::{Example, text};

#[tokio::test]
async fn the_counter_refuses_without_a_token_and_pushes_with_one() {
    let server = Example::start(
        "counter",
        &["--addr", "127.0.0.1:0", "--token", "t0k", "--push-ms", "20"],
    );
    for query in ["", "?token=wrong"] {
        match ws_routes::connect(&format!("{}/counter/ada{query}", server.url)).await {
            Err(Error::Refused {
                status,
                headers,
                body,
            }) => {
                assert_eq!(status, StatusCode::UNAUTHORIZED);
                assert_eq!(headers["www-authenticate"], "Token");
                let body = String::from_utf8(body.unwrap_or_default()).unwrap();
                assert!(
                    body.contains("?token="),
                    "the refusal says how to pass a token: {body}"
                );
            }
            other => panic!("expected 401, got {other:?}"),
        }
    }

    let mut ada = ws_routes::connect(&format!("{}/counter/ada?token=t0k", server.url))
        .await
        .unwrap();
    assert_eq!(text(&mut ada).await, "hello ada, you are visitor 1");
    let mut bob = ws_routes::connect(&format!("{}/counter/bob?token=t0k", server.url))
        .await
        .unwrap();
    assert_eq!(text(&mut bob).await, "hello bob, you are visitor 2");

    // Per-connection state, with pushed ticks arriving in between.
    let mut replies = Vec::new();
    ada.send("one").await.unwrap();
    ada.send("two").await.unwrap();
    let mut ticks = 0;
    while replies.len() < 2 || ticks < 3 {
        let message = text(&mut ada).await;
        if message.starts_with("ada, tick ") {
            ticks += 1;
        } else {
            replies.push(message);
        }
    }
    assert_eq!(
        replies,
        [
            r#"ada said "one" (1 so far)"#,
            r#"ada said "two" (2 so far)"#
        ]
    );
    bob.send("hi").await.unwrap();
    let reply = loop {
        let message = text(&mut bob).await;
        if !message.starts_with("bob, tick ") {
            break message;
        }
    };
    assert_eq!(reply, r#"bob said "hi" (1 so far)"#);
}
