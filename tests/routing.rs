//! The routing behaviour of a server, over real sockets with the crate's own client.

mod support;

use std::sync::LazyLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use ws_routes::extract::{Query, RoutePath};
use ws_routes::server::Unmatched;
use ws_routes::{Close, Message, Server, WebSocket, route, routes};

use support::{ask, close_frame, connect, next, raw, spawn, text, within};

#[route("/light/{status}")]
async fn light(mut ws: WebSocket, status: String) {
    while let Some(Ok(_address)) = ws.recv().await {
        let reply = match status.as_str() {
            "on" => "the light has turned on",
            "off" => "the light has turned off",
            _ => "invalid params",
        };
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

#[route("/echo/{word}")]
async fn echo_param(mut ws: WebSocket, word: String, path: RoutePath, query: Query) {
    let reply = format!(
        "{word}|{}|{}|{}|{:?}",
        path.path(),
        path.query(),
        path.pattern(),
        query.get("x")
    );
    let _ = ws.send(reply).await;
}

#[route("/items/{id}")]
async fn item(mut ws: WebSocket, id: u32) {
    let _ = ws.send(format!("item {id}")).await;
}

#[route("/files/{*rest}")]
async fn files(mut ws: WebSocket, rest: String) {
    let _ = ws.send(format!("file {rest}")).await;
}

#[route("/files/{name}")]
async fn file(mut ws: WebSocket, name: String) {
    let _ = ws.send(format!("one file {name}")).await;
}

#[route("/users/me")]
async fn me(mut ws: WebSocket) {
    let _ = ws.send("me").await;
}

#[route("/users/{id}")]
async fn user(mut ws: WebSocket, id: u64) {
    let _ = ws.send(format!("user {id}")).await;
}

#[route("/users/{id}/posts/{post}")]
async fn post(mut ws: WebSocket, path: RoutePath) {
    let params: Vec<String> = path
        .params()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let _ = ws.send(params.join(",")).await;
}

#[route("/panic")]
async fn panics(mut ws: WebSocket) {
    let _ = ws.recv().await;
    panic!("the handler panics on purpose");
}

#[route("/fail")]
async fn fails(mut ws: WebSocket) -> Result<(), std::io::Error> {
    let _ = ws.recv().await;
    Err(std::io::Error::other("secret internal detail"))
}

#[route("/vote")]
async fn vote(mut ws: WebSocket) -> Result<(), Close> {
    while let Some(Ok(message)) = ws.recv().await {
        if message.as_text() == Some("cheat") {
            return Err(Close::new(4003, "cheating is not allowed"));
        }
    }
    Ok(())
}

#[route("/done")]
async fn done(mut ws: WebSocket) {
    let _ = ws.send("bye").await;
}

#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

const CONCURRENT_CLIENTS: usize = 200;

/// Replies only once every client is connected: served one at a time, it would never reply.
#[route("/together")]
async fn together(mut ws: WebSocket) {
    static EVERYONE: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(CONCURRENT_CLIENTS));
    EVERYONE.wait().await;
    let _ = ws.send("all here").await;
}

const ROUTES: ws_routes::Routes = routes![
    light, echo_param, item, files, file, me, user, post, panics, fails, vote, done, echo, together
];

#[tokio::test]
async fn the_seed_urls_answer_as_in_the_write_up() {
    let addr = spawn(ROUTES).await;
    for (path, reply) in [
        ("/light/on", "the light has turned on"),
        ("/light/off", "the light has turned off"),
        ("/light/1", "invalid params"),
    ] {
        let mut ws = connect(addr, path).await;
        assert_eq!(ask(&mut ws, "00-12-4b-01").await, reply, "reply on {path}");
    }
    let mut ws = connect(addr, "/switch/on").await;
    assert_eq!(
        close_frame(&mut ws).await,
        (4040, "no route for /switch/on".into())
    );
}

#[tokio::test]
async fn several_messages_on_one_connection_each_get_an_answer() {
    let addr = spawn(ROUTES).await;
    let mut ws = connect(addr, "/light/off").await;
    for _ in 0..5 {
        assert_eq!(
            ask(&mut ws, "00-12-4b-01").await,
            "the light has turned off"
        );
    }
}

#[tokio::test]
async fn the_query_string_never_leaks_into_parameters() {
    let addr = spawn(ROUTES).await;
    let mut ws = connect(addr, "/light/on?x=1").await;
    assert_eq!(ask(&mut ws, "00-12-4b-01").await, "the light has turned on");

    let mut ws = connect(addr, "/echo/hello?x=a%20b&y=2").await;
    assert_eq!(
        text(&mut ws).await,
        r#"hello|/echo/hello|x=a%20b&y=2|/echo/{word}|Some("a b")"#
    );
}

#[tokio::test]
async fn parameters_are_percent_decoded() {
    let addr = spawn(ROUTES).await;
    let mut ws = connect(addr, "/echo/caf%C3%A9%20au%2Flait").await;
    assert_eq!(
        text(&mut ws).await,
        "café au/lait|/echo/caf%C3%A9%20au%2Flait||/echo/{word}|None"
    );
}

#[tokio::test]
async fn a_typed_parameter_is_parsed() {
    let addr = spawn(ROUTES).await;
    let mut ws = connect(addr, "/items/42").await;
    assert_eq!(text(&mut ws).await, "item 42");
}

#[tokio::test]
async fn a_parameter_that_does_not_parse_closes_with_4000_naming_it() {
    let addr = spawn(ROUTES).await;
    for path in [
        "/items/abc",
        "/items/-1",
        "/items/99999999999",
        "/items/%FF",
    ] {
        let mut ws = connect(addr, path).await;
        assert_eq!(
            close_frame(&mut ws).await,
            (4000, "invalid parameter `id`".into()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn parameters_with_control_characters_close_with_4000() {
    let addr = spawn(ROUTES).await;
    for path in [
        "/echo/a%0Ab",
        "/echo/%00",
        "/echo/%1B%5B31m",
        "/echo/tab%09",
    ] {
        let mut ws = connect(addr, path).await;
        assert_eq!(
            close_frame(&mut ws).await,
            (4000, "invalid parameter `word`".into()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_catch_all_takes_the_rest_of_the_path() {
    let addr = spawn(ROUTES).await;
    let mut ws = connect(addr, "/files/a/b/c.txt").await;
    assert_eq!(text(&mut ws).await, "file a/b/c.txt");
    // One segment: `{name}` beats `{*rest}`.
    let mut ws = connect(addr, "/files/notes.txt").await;
    assert_eq!(text(&mut ws).await, "one file notes.txt");
    // A catch-all is never empty.
    let mut ws = connect(addr, "/files/").await;
    assert_eq!(close_frame(&mut ws).await.0, 4040);
}

#[tokio::test]
async fn a_static_segment_beats_a_parameter() {
    let addr = spawn(ROUTES).await;
    let mut ws = connect(addr, "/users/me").await;
    assert_eq!(text(&mut ws).await, "me");
    let mut ws = connect(addr, "/users/7").await;
    assert_eq!(text(&mut ws).await, "user 7");
    let mut ws = connect(addr, "/users/me/posts/3").await;
    assert_eq!(text(&mut ws).await, "id=me,post=3");
}

#[tokio::test]
async fn matching_is_exact_on_segments() {
    let addr = spawn(ROUTES).await;
    for path in [
        "/light/on/",
        "/light",
        "/light//on",
        "/LIGHT/on",
        "/users/7/posts",
    ] {
        let mut ws = connect(addr, path).await;
        assert_eq!(
            close_frame(&mut ws).await,
            (4040, format!("no route for {path}")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_4040_reason_is_cut_to_fit_a_close_frame() {
    let addr = spawn(ROUTES).await;
    let path = format!("/{}", "x".repeat(300));
    let mut ws = connect(addr, &path).await;
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, 4040);
    assert_eq!(reason.len(), 123);
    assert!(reason.starts_with("no route for /xxx"));
}

#[tokio::test]
async fn unmatched_paths_can_be_refused_with_404_instead() {
    let addr = support::spawn_server(Server::new(ROUTES).unmatched(Unmatched::NotFound)).await;
    match ws_routes::connect(&format!("ws://{addr}/switch/on")).await {
        Err(ws_routes::Error::Refused { status, .. }) => assert_eq!(status.as_u16(), 404),
        other => panic!("expected a 404 refusal, got {other:?}"),
    }
    let mut ws = connect(addr, "/light/on").await;
    assert_eq!(ask(&mut ws, "x").await, "the light has turned on");
}

#[tokio::test]
async fn a_handler_that_returns_closes_with_1000() {
    let addr = spawn(ROUTES).await;
    let mut ws = connect(addr, "/done").await;
    assert_eq!(text(&mut ws).await, "bye");
    assert_eq!(close_frame(&mut ws).await, (1000, String::new()));
    assert!(
        next(&mut ws).await.is_none(),
        "the close handshake completes"
    );
}

#[tokio::test]
async fn a_panicking_handler_closes_with_1011_and_the_server_keeps_serving() {
    let addr = spawn(ROUTES).await;
    let mut watcher = connect(addr, "/echo").await;
    let mut ws = connect(addr, "/panic").await;
    ws.send("boom").await.unwrap();
    assert_eq!(close_frame(&mut ws).await, (1011, "internal error".into()));
    assert_eq!(ask(&mut watcher, "still here").await, "still here");
    let mut fresh = connect(addr, "/light/on").await;
    assert_eq!(ask(&mut fresh, "x").await, "the light has turned on");
}

#[tokio::test]
async fn a_handler_error_closes_with_1011_without_leaking_it() {
    let addr = spawn(ROUTES).await;
    let mut ws = connect(addr, "/fail").await;
    ws.send("go").await.unwrap();
    assert_eq!(close_frame(&mut ws).await, (1011, "internal error".into()));
}

#[tokio::test]
async fn text_and_binary_messages_come_back_unchanged() {
    let addr = spawn(ROUTES).await;
    let mut ws = connect(addr, "/echo").await;
    ws.send("Hello world!").await.unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap().unwrap(),
        Message::text("Hello world!")
    );
    let data: Vec<u8> = (0..=255).collect();
    ws.send(data.clone()).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::binary(data));
    ws.close(1000u16, "bye").await.unwrap();
    assert!(next(&mut ws).await.is_none());
    // The server answers the close handshake with the client's code.
    assert_eq!(
        ws.close_frame().map(|frame| frame.code.as_u16()),
        Some(1000)
    );
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009() {
    let addr = support::spawn_server(Server::new(ROUTES).max_message_size(1024)).await;
    let mut ws = connect(addr, "/echo").await;
    assert_eq!(ask(&mut ws, &"a".repeat(1024)).await.len(), 1024);
    ws.send("a".repeat(1025)).await.unwrap();
    assert_eq!(close_frame(&mut ws).await, (1009, "message too big".into()));
}

#[tokio::test]
async fn clients_are_served_concurrently() {
    let addr = spawn(ROUTES).await;
    let clients: Vec<_> = (0..CONCURRENT_CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let mut ws = connect(addr, "/together").await;
                text(&mut ws).await
            })
        })
        .collect();
    let all = async {
        for client in clients {
            assert_eq!(client.await.unwrap(), "all here");
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .expect("every client is answered");
}

#[tokio::test]
async fn a_plain_http_request_gets_426_upgrade_required() {
    let addr = spawn(ROUTES).await;
    let answer = raw::http(addr, "GET /light/on HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\r\nupgrade: websocket\r\n"), "{answer}");
    assert!(
        answer.contains("\r\nsec-websocket-version: 13\r\n"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_function_route_closes_with_the_code_it_returns() {
    let addr = spawn(ROUTES).await;
    let mut ws = connect(addr, "/vote").await;
    ws.send("cheat").await.unwrap();
    assert_eq!(
        close_frame(&mut ws).await,
        (4003, "cheating is not allowed".into())
    );
}

#[tokio::test]
async fn by_default_messages_of_one_mebibyte_pass_and_one_byte_more_closes_with_1009() {
    let addr = spawn(ROUTES).await;
    let mut ws = ws_routes::Client::new()
        .max_message_size(2 << 20)
        .connect(&format!("ws://{addr}/echo"))
        .await
        .unwrap();
    ws.send(vec![7u8; 1 << 20]).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap().len(), 1 << 20);
    ws.send(vec![7u8; (1 << 20) + 1]).await.unwrap();
    assert_eq!(close_frame(&mut ws).await, (1009, "message too big".into()));
}

#[tokio::test]
async fn by_default_a_request_head_of_8_kib_passes_and_one_byte_more_gets_431() {
    let addr = spawn(ROUTES).await;
    let upgrade = raw::upgrade_request("/echo");
    // A header that pads the head to `size` bytes in all.
    let padded = |size: usize| {
        let filler = size - upgrade.len() - "x-pad: \r\n".len();
        let (head, end) = upgrade.split_at(upgrade.len() - 2);
        format!("{head}x-pad: {}\r\n{end}", "a".repeat(filler))
    };
    let exact = padded(8 << 10);
    assert_eq!(exact.len(), 8 << 10);
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(exact.as_bytes()).await.unwrap();
    let mut status = [0; 12];
    within(tcp.read_exact(&mut status)).await.unwrap();
    assert_eq!(&status, b"HTTP/1.1 101");
    let answer = raw::http(addr, &padded((8 << 10) + 1)).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}

#[tokio::test]
async fn malformed_handshakes_get_an_http_answer() {
    let addr = spawn(ROUTES).await;
    let upgrade = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases = [
        ("\x16\x03\x01 not http at all\r\n\r\n".to_owned(), "HTTP/1.1 400 "),
        (format!("POST /echo HTTP/1.1\r\n{upgrade}Sec-WebSocket-Version: 13\r\n\r\n"), "HTTP/1.1 405 "),
        (format!("GET /echo HTTP/1.1\r\n{upgrade}Sec-WebSocket-Version: 8\r\n\r\n"), "HTTP/1.1 426 "),
        (
            "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".into(),
            "HTTP/1.1 400 ",
        ),
        (format!("GET /echo HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(10_000)), "HTTP/1.1 431 "),
    ];
    for (request, status) in cases {
        let answer = raw::http(addr, &request).await;
        assert!(
            answer.starts_with(status),
            "expected {status} for {request:.60?}, got {answer}"
        );
    }
    let mut ws = connect(addr, "/echo").await;
    assert_eq!(ask(&mut ws, "still serving").await, "still serving");
}

#[tokio::test]
async fn a_full_handshake_by_hand_is_answered_with_101() {
    let addr = spawn(ROUTES).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        within(tcp.read_exact(&mut byte)).await.unwrap();
        head.push(byte[0]);
    }
    let answer = String::from_utf8_lossy(&head);
    assert!(
        answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{answer}"
    );
    // The example key of RFC 6455, section 1.3.
    assert!(
        answer.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{answer}"
    );
}

#[tokio::test]
async fn frames_sent_right_behind_the_handshake_are_not_lost() {
    let addr = spawn(ROUTES).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut bytes = b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_vec();
    // A masked text frame "hi", in the same write as the handshake.
    let mask = [1u8, 2, 3, 4];
    bytes.extend([0x81, 0x80 | 2]);
    bytes.extend(mask);
    bytes.extend(b"hi".iter().zip(mask).map(|(byte, key)| byte ^ key));
    tcp.write_all(&bytes).await.unwrap();

    let mut answer = Vec::new();
    let echoed = [0x81, 2, b'h', b'i'];
    while !answer.ends_with(&echoed) {
        let mut chunk = [0; 256];
        let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(
            read > 0,
            "connection closed before the echo: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&chunk[..read]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 101 "));
}

#[tokio::test]
async fn a_url_in_the_query_string_never_takes_part_in_routing() {
    let addr = spawn(ROUTES).await;
    for path in [
        "/light/on?next=ws://x/switch/on",
        "/light/on?u=a://b",
        "/light/on?next=http://x/light/off",
    ] {
        let mut ws = connect(addr, path).await;
        assert_eq!(
            ask(&mut ws, "00-12-4b-01").await,
            "the light has turned on",
            "{path}"
        );
    }
}

/// Sends an upgrade request for `target` by hand and returns the response's status line.
async fn status_line(addr: std::net::SocketAddr, target: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw::upgrade_request(target).as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n") {
        let mut byte = [0];
        let read = within(tcp.read(&mut byte)).await.unwrap();
        assert_eq!(read, 1, "closed before a status line");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().trim_end().to_owned()
}

#[tokio::test]
async fn absolute_form_targets_route_on_their_path() {
    let addr = spawn(ROUTES).await;
    let switched = "HTTP/1.1 101 Switching Protocols";
    assert_eq!(status_line(addr, "ws://x/light/on").await, switched);
    assert_eq!(
        status_line(addr, "ws://x/light/on?next=ws://y/switch").await,
        switched
    );
    let refused = Server::new(ROUTES).unmatched(Unmatched::NotFound);
    let addr = support::spawn_server(refused).await;
    assert_eq!(
        status_line(addr, "http://x/switch/on").await,
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(
        status_line(addr, "/light/on?next=ws://x/switch/on").await,
        switched
    );
}

#[tokio::test]
async fn targets_that_are_neither_origin_nor_absolute_form_get_400() {
    let addr = spawn(ROUTES).await;
    for target in ["*", "x:80", "light/on", "/light/on#frag"] {
        assert_eq!(
            status_line(addr, target).await,
            "HTTP/1.1 400 Bad Request",
            "{target}"
        );
    }
}

#[tokio::test]
async fn dot_segments_get_400_in_every_spelling() {
    let addr = spawn(ROUTES).await;
    for target in [
        "/light/../switch/on",
        "/light/./on",
        "/light/%2e%2e/x",
        "/light/.%2E",
        "/files/a/../../etc",
    ] {
        assert_eq!(
            status_line(addr, target).await,
            "HTTP/1.1 400 Bad Request",
            "{target}"
        );
    }
}
