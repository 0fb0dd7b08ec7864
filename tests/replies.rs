//! Requests and replies over real sockets, both ways: the server asks the Rust client, the
//! client asks the server, timeouts, the close of a connection with requests in flight, the
//! cap on requests in flight, a route that did not opt in, and a page's module (ws-routes.js,
//! under node) asking the server.

mod support;

use std::future::IntoFuture;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use support::{connect, spawn, spawn_server, text, until_closed, within};
use tokio::sync::mpsc;
use ws_routes::error::RequestError;
use ws_routes::reply::{Incoming, Replies};
use ws_routes::{Error, Server, Session, State, WebSocket, route, routes};

/// Echoes messages and answers requests: a list of numbers with its sum, bad input with an
/// error, "chatter" with three messages and then "done" ("flood" with a hundred), "late" a
/// second late; "never" is kept
/// unanswered and "drop" dropped. Takes `cap`
/// of the client's requests at once.
#[route("/serve/{cap}")]
async fn serve(mut ws: WebSocket, cap: usize) {
    ws.enable_replies(Replies::new().max_in_flight(cap));
    let mut unanswered = Vec::new();
    while let Some(Ok(incoming)) = ws.recv_incoming().await {
        let request = match incoming {
            Incoming::Request(request) => request,
            Incoming::Message(message) => {
                let _ = ws.send(message).await;
                continue;
            }
        };
        match request.payload().as_text() {
            Some("chatter") => {
                for word in ["one", "two", "three"] {
                    let _ = ws.send(word).await;
                }
                let _ = request.reply("done");
            }
            Some("late") => {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = request.reply("late answer");
                });
            }
            Some("flood") => {
                for n in 0..100 {
                    let _ = ws.send(format!("m{n}")).await;
                }
                let _ = request.reply("done");
            }
            Some("never") => unanswered.push(request),
            Some("drop") => drop(request),
            _ => {
                let _ = match request.json::<Vec<i64>>() {
                    Ok(numbers) => request.reply_json(&numbers.iter().sum::<i64>()),
                    Err(bad) => request.refuse(&bad.to_string()),
                };
            }
        }
    }
}

/// Keeps the client's requests unanswered until it has `n` of them, then closes the
/// connection with 4000.
#[route("/hold/{n}")]
async fn hold(mut ws: WebSocket, n: usize) {
    ws.enable_replies(Replies::new());
    let mut held = Vec::new();
    while let Some(Ok(incoming)) = ws.recv_incoming().await {
        if let Incoming::Request(request) = incoming {
            held.push(request);
            if held.len() == n {
                ws.sender().close(4000u16, "bye");
            }
        }
    }
}

/// Asks the client to sum a list on the socket itself, then its name through a sender from
/// another task while the handler's loop reads, and tells it what it heard.
#[route("/ask")]
async fn ask(mut ws: WebSocket) {
    ws.enable_replies(Replies::new());
    let said = match ws.request_json::<i64>(&[1, 2, 3]).await {
        Ok(total) => format!("total {total}"),
        Err(error) => format!("failed: {error}"),
    };
    let _ = ws.send(said).await;
    let sender = ws.sender();
    tokio::spawn(async move {
        let said = match sender.request_json::<String>(&"name?").await {
            Ok(name) => format!("hello {name}"),
            Err(error) => format!("failed: {error}"),
        };
        let _ = sender.send(said).await;
    });
    while let Some(Ok(_)) = ws.recv().await {}
}

/// Asks the client three times at once through senders and reports each outcome on `results`.
#[route("/ask-three")]
async fn ask_three(mut ws: WebSocket, State(results): State<mpsc::UnboundedSender<String>>) {
    ws.enable_replies(Replies::new());
    let sender = ws.sender();
    for _ in 0..3 {
        let (sender, results) = (sender.clone(), results.clone());
        tokio::spawn(async move {
            let outcome = match sender.request("anything").await {
                Ok(answer) => format!("answered {answer:?}"),
                Err(error) => error.to_string(),
            };
            let _ = results.send(outcome);
        });
    }
    while let Some(Ok(_)) = ws.recv().await {}
}

/// A class-style route that asks the client's name when it opens, from a spawned task.
#[derive(Default)]
struct Greeter;

#[route("/greet")]
impl Greeter {
    async fn on_open(&mut self, session: &mut Session) {
        session.enable_replies(Replies::new());
        let sender = session.sender();
        tokio::spawn(async move {
            if let Ok(name) = sender.request_json::<String>(&"name?").await {
                let _ = sender.send(format!("hello {name}")).await;
            }
        });
    }
}

/// Echoes every message, knowing nothing of requests.
#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

fn table() -> ws_routes::Routes {
    routes![serve, hold, ask, Greeter, echo]
}

/// A client connection to `path` that took replies on with `replies`.
async fn client(addr: std::net::SocketAddr, path: &str, replies: Replies) -> WebSocket {
    let mut ws = connect(addr, path).await;
    ws.enable_replies(replies);
    ws
}

/// The request error in `result`; panics on anything else.
fn request_error<T: std::fmt::Debug>(result: Result<T, Error>) -> RequestError {
    match result {
        Err(Error::Request(error)) => error,
        other => panic!("expected a request error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_server_asks_the_client_and_gets_its_typed_answers() {
    let addr = spawn(table()).await;
    let mut ws = client(addr, "/ask", Replies::new()).await;
    let Some(Ok(Incoming::Request(sum))) = within(ws.recv_incoming()).await else {
        panic!("expected the server's first request");
    };
    assert_eq!(sum.json::<Vec<i64>>().unwrap(), [1, 2, 3]);
    sum.reply_json(&6).unwrap();
    let Some(Ok(Incoming::Message(said))) = within(ws.recv_incoming()).await else {
        panic!("expected what the server heard");
    };
    assert_eq!(said.as_text(), Some("total 6"));
    let Some(Ok(Incoming::Request(name))) = within(ws.recv_incoming()).await else {
        panic!("expected the server's second request");
    };
    assert_eq!(name.json::<String>().unwrap(), "name?");
    name.reply_json("ada").unwrap();
    assert_eq!(text(&mut ws).await, "hello ada");
}

#[tokio::test]
async fn a_class_style_route_asks_the_client_and_refuses_its_requests() {
    let addr = spawn(table()).await;
    let mut ws = client(addr, "/greet", Replies::new()).await;
    let Some(Ok(Incoming::Request(name))) = within(ws.recv_incoming()).await else {
        panic!("expected the server's request");
    };
    assert_eq!(name.json::<String>().unwrap(), "name?");
    name.reply_json("ada").unwrap();
    assert_eq!(text(&mut ws).await, "hello ada");
    let refused = request_error(ws.request("hello?").await);
    let RequestError::Refused(reason) = refused else {
        panic!("expected the route's error, got {refused:?}");
    };
    assert!(
        reason.starts_with("this connection takes no requests"),
        "{reason}"
    );
}

#[tokio::test]
async fn the_client_asks_the_server_and_gets_its_typed_answer_or_its_error() {
    let addr = spawn(table()).await;
    let mut ws = client(addr, "/serve/8", Replies::new()).await;
    let total: i64 = within(ws.request_json(&[20, 22]).into_future())
        .await
        .unwrap();
    assert_eq!(total, 42);
    // Through a sender from another task, while the socket's own loop reads.
    let sender = ws.sender();
    let asking = tokio::spawn(async move { sender.request_json::<i64>(&[1, 1]).await });
    let reading = tokio::spawn(async move { until_closed(&mut ws).await });
    assert_eq!(within(asking).await.unwrap().unwrap(), 2);
    reading.abort();

    let mut ws = client(addr, "/serve/8", Replies::new()).await;
    let refused = request_error(ws.request_json::<i64>(&"two").await);
    let RequestError::Refused(reason) = refused else {
        panic!("expected the server's error, got {refused:?}");
    };
    assert!(reason.starts_with("invalid JSON: invalid type"), "{reason}");
    // The connection goes on.
    assert_eq!(ws.request_json::<i64>(&[3]).await.unwrap(), 3);
}

#[tokio::test]
async fn messages_that_arrive_while_a_request_waits_are_kept_for_recv_in_order() {
    let addr = spawn(table()).await;
    let mut ws = client(addr, "/serve/8", Replies::new()).await;
    let answer = within(ws.request("chatter").into_future()).await.unwrap();
    assert_eq!(answer.as_text(), Some("done"));
    for word in ["one", "two", "three"] {
        assert_eq!(text(&mut ws).await, word);
    }
}

#[tokio::test]
async fn a_request_on_the_socket_holds_back_a_bounded_number_of_messages_and_loses_none() {
    let addr = spawn(table()).await;
    let mut ws = client(addr, "/serve/8", Replies::new()).await;
    let error = request_error(within(ws.request("flood").into_future()).await);
    assert_eq!(error, RequestError::Backlog { held: 65 });
    for n in 0..100 {
        assert_eq!(text(&mut ws).await, format!("m{n}"));
    }
    // The answer that came after is ignored, and the connection goes on.
    assert_eq!(ws.request_json::<i64>(&[4]).await.unwrap(), 4);
}

#[tokio::test]
async fn a_request_times_out_and_its_late_answer_is_ignored() {
    let addr = spawn(table()).await;
    let mut ws = client(
        addr,
        "/serve/8",
        Replies::new().timeout(Duration::from_millis(100)),
    )
    .await;
    let error = request_error(ws.request("late").await);
    assert_eq!(error, RequestError::Timeout(Duration::from_millis(100)));
    assert_eq!(error.to_string(), "no answer within 100ms");
    // A request's own timeout outlasts the connection's default; the late answer to the first
    // request (a second after it) goes nowhere, and this one's comes.
    let answer = ws
        .request("late")
        .timeout(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer.as_text(), Some("late answer"));
    assert_eq!(ws.request_json::<i64>(&[5]).await.unwrap(), 5);
}

#[tokio::test]
async fn a_close_with_requests_in_flight_fails_each_at_once() {
    let addr = spawn(table()).await;
    // The client's five, which the server holds until it has them all and then closes.
    let mut ws = client(addr, "/hold/5", Replies::new()).await;
    let sender = ws.sender();
    let started = Instant::now();
    let asks = join_all((0..5).map(|_| sender.request("wait").into_future()));
    let (outcomes, closed) = within(async { tokio::join!(asks, until_closed(&mut ws)) }).await;
    assert_eq!(closed, Some((4000, "bye".into())));
    for outcome in outcomes {
        assert_eq!(request_error(outcome), RequestError::Closed);
    }
    assert!(started.elapsed() < Replies::DEFAULT_TIMEOUT / 2);
    // And every request after.
    assert_eq!(
        request_error(sender.request("late").await),
        RequestError::Closed
    );

    // The server's three, which the client leaves unanswered and closes.
    let (results, mut outcomes) = mpsc::unbounded_channel::<String>();
    let server = Server::new(routes![ask_three]).with_state(results);
    let addr = spawn_server(server).await;
    let mut ws = client(addr, "/ask-three", Replies::new()).await;
    let mut held = Vec::new();
    while held.len() < 3 {
        match within(ws.recv_incoming()).await {
            Some(Ok(Incoming::Request(request))) => held.push(request),
            other => panic!("expected the server's requests, got {other:?}"),
        }
    }
    ws.close(1000u16, "").await.unwrap();
    for _ in 0..3 {
        let outcome = within(outcomes.recv()).await.unwrap();
        assert_eq!(
            outcome,
            "request failed: the connection closed before an answer came"
        );
    }
}

#[tokio::test]
async fn requests_past_the_cap_fail_at_once_each_way() {
    let addr = spawn(table()).await;
    // This side's cap: two in flight, the third fails without being sent.
    let mut ws = client(addr, "/serve/8", Replies::new().max_in_flight(2)).await;
    let sender = ws.sender();
    let reading = tokio::spawn(async move { until_closed(&mut ws).await });
    let first = tokio::spawn({
        let sender = sender.clone();
        async move { sender.request("never").await }
    });
    let second = tokio::spawn({
        let sender = sender.clone();
        async move { sender.request("never").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = request_error(sender.request("[1]").await);
    assert_eq!(error, RequestError::TooMany { limit: 2 });
    assert_eq!(
        error.to_string(),
        "2 requests are in flight already, the most this connection allows"
    );
    reading.abort();
    let _ = (first.await, second.await);

    // The peer's cap: the server takes one at a time, and answers a second with an error.
    let mut ws = client(addr, "/serve/1", Replies::new()).await;
    let sender = ws.sender();
    let reading = tokio::spawn(async move { until_closed(&mut ws).await });
    let held = tokio::spawn({
        let sender = sender.clone();
        async move {
            sender
                .request("never")
                .timeout(Duration::from_secs(1))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = request_error(within(sender.request("[1]").into_future()).await);
    assert_eq!(
        refused,
        RequestError::Refused("too many requests in flight: at most 1".into())
    );
    assert_eq!(
        request_error(held.await.unwrap()),
        RequestError::Timeout(Duration::from_secs(1))
    );
    reading.abort();
}

#[tokio::test]
async fn a_route_that_did_not_opt_in_sees_request_frames_as_plain_text() {
    let addr = spawn(table()).await;
    let mut ws = connect(addr, "/echo").await;
    assert_eq!(
        request_error(ws.request("[1]").await),
        RequestError::NotEnabled
    );
    ws.send("\x1e?1 {\"q\":1}").await.unwrap();
    assert_eq!(text(&mut ws).await, "\x1e?1 {\"q\":1}");
    // A client that opted in, asking it, gets no answer: only its timeout.
    ws.enable_replies(Replies::new().timeout(Duration::from_millis(200)));
    let error = request_error(ws.request("[1]").await);
    assert_eq!(error, RequestError::Timeout(Duration::from_millis(200)));
}

#[tokio::test]
async fn a_malformed_request_and_one_the_route_does_not_read_get_a_clear_answer() {
    let addr = spawn(table()).await;
    // A client that speaks the wire by hand.
    let mut ws = connect(addr, "/serve/8").await;
    ws.send("\x1e?one [1]").await.unwrap();
    assert_eq!(
        text(&mut ws).await,
        "\x1e=0!malformed request: expected \\x1e?ID and a space, ID a number from 1 to 2^64-1"
    );
    ws.send("\x1e?7[1]").await.unwrap();
    assert_eq!(
        text(&mut ws).await,
        "\x1e=7!malformed request: expected a space after the number"
    );
    ws.send("\x1e?8 [1, 2]").await.unwrap();
    assert_eq!(text(&mut ws).await, "\x1e=8 3");
    // An answer to no request of the route's is taken out and ignored, not echoed.
    ws.send("\x1e=42 stray").await.unwrap();
    ws.send("plain").await.unwrap();
    assert_eq!(text(&mut ws).await, "plain");
    // `/ask` reads with `recv`: it answers requests with an error.
    let mut ws = client(addr, "/ask", Replies::new()).await;
    let Some(Ok(Incoming::Request(sum))) = within(ws.recv_incoming()).await else {
        panic!("expected the server's first request");
    };
    sum.reply_json(&6).unwrap();
    assert_eq!(text(&mut ws).await, "total 6");
    let refused = request_error(ws.request("hello?").await);
    assert_eq!(
        refused,
        RequestError::Refused(
            "this connection takes no requests: it reads with recv, not recv_incoming".into()
        )
    );
    // A request the route drops unanswered is answered too.
    let mut ws = connect(addr, "/serve/8").await;
    ws.send("\x1e?3 drop").await.unwrap();
    assert_eq!(
        text(&mut ws).await,
        "\x1e=3!the request was dropped without an answer"
    );
}

#[tokio::test]
#[ignore = "needs node (20.10 or later): `scripts/test` runs this"]
async fn the_browser_module_asks_the_server_and_answers_its_requests() {
    let addr = spawn(table()).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/replies.mjs");
    let node = tokio::process::Command::new("node")
        .arg("--experimental-websocket")
        .arg(script)
        .arg(format!("ws://{addr}/"))
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), node)
        .await
        .expect("node within 60 s")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim() == "ok",
        "node said: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
