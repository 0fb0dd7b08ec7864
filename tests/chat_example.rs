//! Drives the chat example, `cargo run --example chat`, over real sockets: its page, its
//! typed events and its rooms (with their history: every room message carries its position),
//! bad input, and two of it sharing rooms through Redis.

mod support;

use serde_json::{Value, json};
use ws_routes::WebSocket;

use support::redis::Redis;
use support::{Example, close_frame, text};

fn start(extra: &[&str]) -> Example {
    let mut args = vec!["--addr", "127.0.0.1:0"];
    args.extend(extra);
    Example::start("chat", &args)
}

/// A member who has joined `room` as `name`.
async fn member(server: &Example, room: &str, name: &str) -> WebSocket {
    let url = format!("{}/chat/{room}", server.url);
    let mut ws = ws_routes::connect(&url).await.expect("connect to the chat");
    let join = json!({ "type": "join", "name": name });
    ws.send_json(&join).await.expect("join");
    ws
}

/// A member who has joined `room` on `server` as `name` and heard `names` in its first
/// presence event: joins again until it does (the servers connect to Redis in the
/// background), for up to twenty seconds.
async fn member_hearing(server: &Example, room: &str, name: &str, names: Value) -> WebSocket {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut ws = member(server, room, name).await;
        if next(&mut ws, "presence").await["names"] == names {
            return ws;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never heard {names} in {room}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn say(ws: &mut WebSocket, text: &str) {
    let say = json!({ "type": "say", "text": text });
    ws.send_json(&say).await.expect("say");
}

/// The next event: a JSON message of the room without its recovery envelope
/// (`\x1eEPOCH.OFFSET ROOM\n`; the chat's rooms keep a history), past the outcome of the join
/// (`\x1e!STATUS ...`); or a whisper, which is to this member alone (no envelope).
async fn event(ws: &mut WebSocket) -> Value {
    loop {
        let frame = text(ws).await;
        let Some(enveloped) = frame.strip_prefix('\x1e') else {
            let whisper: Value = serde_json::from_str(&frame).expect("JSON");
            assert_eq!(
                whisper["type"], "whisper",
                "a room message without its envelope"
            );
            return whisper;
        };
        if enveloped.starts_with('!') {
            continue;
        }
        let (_, json) = enveloped
            .split_once('\n')
            .expect("an envelope ends with a newline");
        return serde_json::from_str(json).expect("JSON");
    }
}

/// The next JSON message of a given type.
async fn next(ws: &mut WebSocket, kind: &str) -> Value {
    loop {
        let message = event(ws).await;
        if message["type"] == kind {
            return message;
        }
    }
}

#[tokio::test]
async fn the_page_and_the_rooms_share_one_port() {
    let server = start(&[]);
    let page = support::get(&server, "/").await;
    assert!(page.contains("<title>ws-routes chat</title>"));

    let mut ada = member(&server, "lobby", "ada").await;
    assert_eq!(next(&mut ada, "presence").await["count"], 1);
    let mut bob = member(&server, "lobby", "bob").await;
    assert_eq!(next(&mut ada, "joined").await["name"], "bob");
    let presence = next(&mut bob, "presence").await;
    assert_eq!(presence["count"], 2);
    assert_eq!(presence["names"], json!(["ada", "bob"]));
    let mut elsewhere = member(&server, "kitchen", "eve").await;

    say(&mut ada, "hello, lobby").await;
    let expected = json!({ "type": "message", "name": "ada", "text": "hello, lobby" });
    assert_eq!(next(&mut bob, "message").await, expected);
    assert_eq!(next(&mut ada, "message").await, expected, "the sender too");
    say(&mut elsewhere, "only the kitchen").await;
    assert_eq!(
        next(&mut elsewhere, "message").await["text"],
        "only the kitchen"
    );
    say(&mut bob, "bye").await;
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
async fn bad_input_is_closed_with_1007_while_the_others_keep_chatting() {
    let server = start(&[]);
    let mut ada = member(&server, "lobby", "ada").await;
    assert_eq!(next(&mut ada, "presence").await["count"], 1);
    let cases = [
        ("{\"type\":\"say\",", "invalid JSON: EOF while parsing"),
        (
            r#"{"type":"say","text":42}"#,
            "invalid JSON: invalid type: integer `42`",
        ),
        (r#"{"type":"say"}"#, "invalid JSON: missing field `text`"),
        (
            r#"{"type":"dance"}"#,
            "invalid JSON: unknown variant `dance`",
        ),
    ];
    for (input, reason) in cases {
        let mut eve = member(&server, "lobby", "eve").await;
        assert_eq!(next(&mut ada, "joined").await["name"], "eve");
        eve.send(input).await.unwrap();
        let (code, got) = close_frame(&mut eve).await;
        assert_eq!(code, 1007, "{input}: {got}");
        assert!(got.starts_with(reason), "{input}: {got}");
        assert_eq!(next(&mut ada, "left").await["name"], "eve");

        say(&mut ada, "still here").await;
        assert_eq!(next(&mut ada, "message").await["text"], "still here");
    }
}

#[tokio::test]
async fn the_asyncapi_document_describes_the_typed_events() {
    let server = start(&[]);
    let document = support::get(&server, "/asyncapi.json").await;
    let document: Value = serde_json::from_str(&document).expect("JSON");
    assert_eq!(document["asyncapi"], "3.0.0");
    let channel = &document["channels"]["Chat"];
    assert_eq!(channel["address"], "/chat/{room}");
    assert!(channel["parameters"]["room"].is_object());
    assert!(
        channel["description"]
            .as_str()
            .unwrap()
            .starts_with("A chat room")
    );
    let schemas = &document["components"]["schemas"];
    assert!(schemas["ClientEvent"]["oneOf"].is_array(), "{schemas}");
    assert!(schemas["ServerEvent"]["oneOf"].is_array(), "{schemas}");
    // The route recovers: the claims of the query, the envelope around what it sends, and the
    // join's outcome.
    let query = &channel["bindings"]["ws"]["query"];
    assert!(query["properties"]["ws-resume"].is_object(), "{channel}");
    let sent: Vec<&str> = document["operations"]["Chat_send"]["messages"]
        .as_array()
        .expect("the messages the route sends")
        .iter()
        .map(|message| message["$ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        sent,
        [
            "#/channels/Chat/messages/ServerEvent_enveloped",
            "#/channels/Chat/messages/recoveryOutcome"
        ]
    );
    let enveloped = &channel["messages"]["ServerEvent_enveloped"];
    assert!(
        enveloped["description"]
            .as_str()
            .unwrap()
            .starts_with("Sent in the recovery envelope"),
        "{enveloped}"
    );
    assert_eq!(
        channel["messages"]["recoveryOutcome"]["contentType"],
        "text/plain"
    );
}

#[tokio::test]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn two_chat_servers_share_rooms_through_redis() {
    let redis = Redis::start();
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
        say(&mut ada, "hello from one").await;
        let wait = std::time::Duration::from_millis(300);
        while let Ok(message) = tokio::time::timeout(wait, event(&mut bob)).await {
            if message["text"] == "hello from one" {
                break 'across;
            }
        }
    }
    say(&mut bob, "hello from two").await;
    loop {
        let message = next(&mut ada, "message").await;
        if message["text"] == "hello from two" {
            assert_eq!(message["name"], "bob");
            break;
        }
    }
    // A third member counts both servers' members, and hears their names.
    let mut cy = member(&two, "lobby", "cy").await;
    let presence = next(&mut cy, "presence").await;
    assert_eq!(presence["count"], 3);
    assert_eq!(presence["names"], json!(["ada", "bob", "cy"]));

    // A whisper reaches its name on the other server, and nobody else.
    let whisper = json!({ "type": "whisper", "to": "ada", "text": "psst" });
    cy.send_json(&whisper).await.expect("whisper");
    assert_eq!(
        next(&mut ada, "whisper").await,
        json!({ "type": "whisper", "name": "cy", "text": "psst" })
    );
    say(&mut cy, "out loud").await;
    loop {
        let message = event(&mut bob).await;
        assert_ne!(message["type"], "whisper", "bob heard a whisper to ada");
        if message["text"] == "out loud" {
            break;
        }
    }
}

#[tokio::test]
async fn a_member_who_floods_is_closed_and_the_room_goes_on() {
    let server = start(&[]);
    let mut ada = member(&server, "lobby", "ada").await;
    let mut flood = member(&server, "lobby", "flood").await;
    for number in 0..40 {
        let say = json!({ "type": "say", "text": format!("spam {number}") });
        if flood.send_json(&say).await.is_err() {
            break;
        }
    }
    assert_eq!(
        close_frame(&mut flood).await,
        (1008, "rate limit exceeded".into())
    );
    say(&mut ada, "still here").await;
    while next(&mut ada, "message").await["text"] != "still here" {}
}

#[tokio::test]
async fn twenty_messages_at_once_pass_and_the_twenty_first_closes_with_1008() {
    let server = start(&[]);
    // The join is the first of the twenty.
    let mut ada = member(&server, "lobby", "ada").await;
    // Back to back, so that the allowance (5 a second) cannot refill in between.
    for number in 0..20 {
        say(&mut ada, &format!("{number}")).await;
    }
    for number in 0..19 {
        assert_eq!(next(&mut ada, "message").await["text"], format!("{number}"));
    }
    assert_eq!(
        close_frame(&mut ada).await,
        (1008, "rate limit exceeded".into())
    );
}

#[tokio::test]
async fn a_message_of_4_kib_passes_and_one_byte_more_closes_with_1009() {
    let server = start(&[]);
    let mut ada = member(&server, "lobby", "ada").await;
    // `{"type":"say","text":"..."}` is 24 bytes around the text.
    let say_sized = |size: usize| json!({ "type": "say", "text": "a".repeat(size - 24) });
    let fits = say_sized(4096);
    assert_eq!(fits.to_string().len(), 4096);
    ada.send_json(&fits).await.unwrap();
    assert_eq!(
        next(&mut ada, "message").await["text"]
            .as_str()
            .unwrap()
            .len(),
        4096 - 24
    );
    ada.send_json(&say_sized(4097)).await.unwrap();
    assert_eq!(
        close_frame(&mut ada).await,
        (1009, "message too big".into())
    );
}

#[tokio::test]
async fn only_the_pages_own_origin_may_connect_from_a_browser() {
    let server = start(&[]);
    let url = format!("{}/chat/lobby", server.url);
    let own = url.replace("ws://", "http://").replace("/chat/lobby", "");
    let refused = ws_routes::Client::new()
        .header("origin", "https://evil.example")
        .connect(&url)
        .await;
    assert!(
        matches!(&refused, Err(ws_routes::Error::Refused { status, .. }) if status.as_u16() == 403),
        "{refused:?}"
    );
    ws_routes::Client::new()
        .header("origin", own.as_str())
        .connect(&url)
        .await
        .expect("the page's own origin");
}

#[tokio::test]
async fn sigterm_closes_with_1012_and_the_client_moves_on_at_once() {
    let mut one = start(&[]);
    let two = start(&[]);
    let urls = [&one, &two].map(|server| format!("{}/chat/lobby", server.url));
    // A backoff far longer than the test: only moving on at once can pass.
    let mut chat = ws_routes::Client::new()
        .reconnecting_to(urls)
        .initial_delay(std::time::Duration::from_secs(60));
    // The first connection is to the first URL.
    chat.next().await.expect("a connection").expect("connected");

    let sent = std::process::Command::new("kill")
        .args(["-TERM", &one.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let (code, reason) = close_frame(chat.current().expect("still the first")).await;
    assert_eq!((code, reason.as_str()), (1012, "server shutting down"));
    assert!(
        one.wait_timeout(support::NETWORK_TIMEOUT)
            .is_some_and(|status| status.success())
    );

    let moved = std::time::Instant::now();
    // The first server has exited: a connection is to the second.
    tokio::time::timeout(support::NETWORK_TIMEOUT, chat.next())
        .await
        .expect("moved on without the backoff")
        .expect("a connection")
        .expect("connected");
    println!("moved to the other server in {:?}", moved.elapsed());
}

#[tokio::test]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_chat_server_killed_with_sigkill_drops_out_of_presence_within_the_bound() {
    let redis = Redis::start();
    let url = redis.url();
    let one = start(&["--redis", &url]);
    let two = start(&["--redis", &url]);
    let _ada = member(&one, "lobby", "ada").await;
    let mut bob = member_hearing(&two, "lobby", "bob", json!(["ada", "bob"])).await;

    // SIGKILL: no goodbye, nobody announces ada's leave. Her entry goes once the server's
    // heartbeat expires: the presence TTL (15 s by default) after its last heartbeat.
    drop(one);
    let killed = std::time::Instant::now();
    let mut probes = 0;
    loop {
        assert!(
            killed.elapsed() < std::time::Duration::from_secs(20),
            "ada still listed 20 s after her server was killed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        probes += 1;
        let mut probe = member(&two, "lobby", &format!("probe{probes}")).await;
        let names = next(&mut probe, "presence").await["names"].clone();
        if !names.as_array().unwrap().contains(&json!("ada")) {
            assert_eq!(names, json!(["bob", format!("probe{probes}")]));
            break;
        }
    }
    // Bob, on the live server, is still there and listed.
    say(&mut bob, "still here").await;
    assert_eq!(next(&mut bob, "message").await["text"], "still here");
}

#[tokio::test]
#[ignore = "needs redis-server and redis-cli: `scripts/test` installs them and runs this"]
async fn two_chat_servers_share_rooms_through_a_redis_cluster() {
    let cluster = support::cluster::Cluster::start(3, 0);
    let nodes = cluster.urls().join(",");
    let one = start(&["--redis-cluster", &nodes]);
    let two = start(&["--redis-cluster", &nodes]);
    let mut ada = member(&one, "lobby", "ada").await;
    let mut bob = member_hearing(&two, "lobby", "bob", json!(["ada", "bob"])).await;
    say(&mut bob, "over the cluster").await;
    loop {
        let message = next(&mut ada, "message").await;
        if message["text"] == "over the cluster" {
            assert_eq!(message["name"], "bob");
            break;
        }
    }
}

#[tokio::test]
async fn a_json_event_in_a_binary_frame_is_closed_with_1003() {
    let server = start(&[]);
    let mut ada = member(&server, "lobby", "ada").await;
    let say = json!({ "type": "say", "text": "in binary" }).to_string();
    ada.send(say.into_bytes()).await.unwrap();
    assert_eq!(
        close_frame(&mut ada).await,
        (1003, "expected JSON text, got a binary message".into())
    );
}
