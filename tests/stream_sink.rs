//! `WebSocket` as a `futures` `Stream` and `Sink` over real sockets: echoes through split halves
//! in two tasks on both ends, `forward`, the sink's close handshake (after what `Sender`s
//! queued), the sink's write timeout, and `recv` in `tokio::select!` next to a timer that fires
//! all the time, losing no message either way.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use ws_routes::{Message, Server, State, WebSocket, route, routes};

use support::{connect, spawn, spawn_server, within};

/// Echoes through split halves: a reader task hands each message to a writer task.
#[route("/split")]
async fn split(ws: WebSocket) {
    let (mut tx, mut rx) = ws.split();
    let (queue, mut queued) = tokio::sync::mpsc::channel::<Message>(8);
    let writer = tokio::spawn(async move {
        while let Some(message) = queued.recv().await {
            if tx.send(message).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(message)) = rx.next().await {
        if queue.send(message).await.is_err() {
            break;
        }
    }
    drop(queue);
    let _ = writer.await;
}

/// Echoes with `StreamExt::forward`, the reading half into the writing half.
#[route("/forward")]
async fn forward(ws: WebSocket) {
    let (tx, rx) = ws.split();
    let _ = rx.forward(tx).await;
}

/// Counts what arrives while a timer fires every 100 µs and a channel is drained, with `recv`
/// in `select!`; says how many arrived in order, and how often the timer won, on "done".
#[route("/select")]
async fn select(mut ws: WebSocket) {
    let mut timer = tokio::time::interval(Duration::from_micros(100));
    let (notes, mut noted) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let mut in_order = 0;
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            received = ws.recv() => match received {
                Some(Ok(message)) if message.as_text() == Some("done") => {
                    while let Ok(number) = noted.try_recv() {
                        in_order += usize::from(number == in_order);
                    }
                    let report = format!("{in_order} in order, {ticks} ticks");
                    let _ = ws.send(report).await;
                    break;
                }
                Some(Ok(message)) => {
                    let _ = notes.send(sequence(&message));
                }
                _ => break,
            },
            Some(number) = noted.recv() => in_order += usize::from(number == in_order),
            _ = timer.tick() => ticks += 1,
        }
    }
}

/// Queues three messages through a `Sender`, then closes through the sink.
#[route("/queued")]
async fn queued(mut ws: WebSocket) {
    let sender = ws.sender();
    for text in ["one", "two", "three"] {
        sender.send(text).await.unwrap();
    }
    SinkExt::<Message>::close(&mut ws).await.unwrap();
    while let Some(Ok(_)) = ws.recv().await {}
}

/// Writes 64 KiB messages through the writing half alone until a write fails, and says how.
#[route("/flood")]
async fn flood(ws: WebSocket, State(outcome): State<mpsc::UnboundedSender<String>>) {
    let (mut tx, _rx) = ws.split();
    let chunk = Message::from(vec![b'x'; 64 << 10]);
    let error = loop {
        if let Err(error) = tx.send(chunk.clone()).await {
            break error;
        }
    };
    let _ = outcome.send(format!("{error:?}"));
}

/// Sends `count` numbered messages, the same as the client sends, then "done".
#[route("/numbers/{count}")]
async fn numbers(mut ws: WebSocket, count: usize) {
    for number in 0..count {
        if ws.send(numbered(number)).await.is_err() {
            return;
        }
    }
    let _ = ws.send("done").await;
    while let Some(Ok(_)) = ws.recv().await {}
}

/// Message `number`: its number in the first eight bytes, and a length that varies from a few
/// bytes to 64 KiB, so that large messages arrive over several reads (and some compress).
fn numbered(number: usize) -> Vec<u8> {
    let length = [8, 200, 5_000, 65_536][number % 4];
    let mut message = vec![b'x'; length];
    message[..8].copy_from_slice(&(number as u64).to_be_bytes());
    message
}

fn sequence(message: &Message) -> usize {
    let bytes: [u8; 8] = message.as_bytes()[..8].try_into().unwrap();
    u64::from_be_bytes(bytes) as usize
}

const MESSAGES: usize = 2_000;

/// The client's halves in two tasks too: a writer task sends every numbered message while the
/// reader collects the echoes; then the sink's `close` ends the connection with 1000.
async fn echo_through_halves(path: &str) {
    let addr = spawn(routes![split, forward]).await;
    let ws = ws_routes::connect(&format!("ws://{addr}{path}"))
        .await
        .unwrap();
    let (mut tx, mut rx) = ws.split();
    let writer = tokio::spawn(async move {
        for number in 0..MESSAGES {
            tx.send(numbered(number)).await.unwrap();
        }
        tx
    });
    for number in 0..MESSAGES {
        let echo = within(rx.next()).await.unwrap().unwrap();
        assert_eq!(echo, Message::from(numbered(number)), "echo {number}");
    }
    let mut tx = writer.await.unwrap();
    within(tx.close()).await.unwrap();
    assert!(
        within(rx.next()).await.is_none(),
        "the peer's close ends the stream"
    );
    let ws = rx.reunite(tx).unwrap();
    assert_eq!(ws.close_frame().map(|frame| frame.code), Some(1000.into()));
}

#[tokio::test]
async fn split_halves_in_two_tasks_echo_everything_in_order() {
    echo_through_halves("/split").await;
}

#[tokio::test]
async fn forward_from_the_reading_half_into_the_writing_half_echoes() {
    echo_through_halves("/forward").await;
}

#[tokio::test]
async fn the_sink_takes_what_send_takes() {
    let addr = spawn(routes![forward]).await;
    let mut ws = ws_routes::connect(&format!("ws://{addr}/forward"))
        .await
        .unwrap();
    SinkExt::send(&mut ws, "text").await.unwrap();
    SinkExt::send(&mut ws, String::from("string"))
        .await
        .unwrap();
    SinkExt::send(&mut ws, vec![1u8, 2]).await.unwrap();
    SinkExt::send(&mut ws, Message::from("message"))
        .await
        .unwrap();
    let mut echoes = Vec::new();
    for _ in 0..4 {
        echoes.push(within(ws.next()).await.unwrap().unwrap());
    }
    let expected = [
        Message::from("text"),
        Message::from("string"),
        Message::from(vec![1u8, 2]),
        Message::from("message"),
    ];
    assert_eq!(echoes, expected);
}

#[tokio::test]
async fn the_sinks_close_writes_what_senders_queued_then_1000() {
    let addr = spawn(routes![queued]).await;
    let mut ws = ws_routes::connect(&format!("ws://{addr}/queued"))
        .await
        .unwrap();
    for expected in ["one", "two", "three"] {
        let message = within(ws.recv()).await.unwrap().unwrap();
        assert_eq!(message.as_text(), Some(expected));
    }
    assert!(within(ws.recv()).await.is_none());
    assert_eq!(ws.close_frame().map(|frame| frame.code), Some(1000.into()));
}

#[tokio::test]
async fn the_sink_gives_up_on_a_client_that_stops_reading_after_the_write_timeout() {
    let (outcome, mut outcomes) = mpsc::unbounded_channel::<String>();
    // Without keepalive, the write timeout is the close timeout.
    let server = Server::new(routes![flood])
        .with_state(outcome)
        .no_keepalive()
        .close_timeout(Duration::from_millis(300));
    let addr = spawn_server(server).await;
    // Connected, and never reading: the socket's buffers fill, then the writes stall.
    let _stalled = connect(addr, "/flood").await;
    let error = within(outcomes.recv()).await.unwrap();
    assert_eq!(error, "WriteTimeout");
}

#[tokio::test]
async fn recv_in_select_with_a_timer_loses_no_message_the_client_sends() {
    let addr = spawn(routes![select]).await;
    let mut ws = ws_routes::connect(&format!("ws://{addr}/select"))
        .await
        .unwrap();
    for number in 0..MESSAGES {
        ws.send(numbered(number)).await.unwrap();
    }
    ws.send("done").await.unwrap();
    let report = within(ws.recv()).await.unwrap().unwrap();
    let report = report.as_text().unwrap();
    let (arrived, ticks) = report.split_once(" in order, ").unwrap();
    assert_eq!(arrived, MESSAGES.to_string(), "{report}");
    let ticks: u64 = ticks.trim_end_matches(" ticks").parse().unwrap();
    assert!(ticks > 0, "the timer never won a select: {report}");
}

#[tokio::test]
async fn recv_in_select_with_a_timer_loses_no_message_the_server_sends() {
    let addr = spawn(routes![numbers]).await;
    let url = format!("ws://{addr}/numbers/{MESSAGES}");
    let mut ws = ws_routes::connect(&url).await.unwrap();
    let mut timer = tokio::time::interval(Duration::from_micros(100));
    let mut ticks = 0u64;
    let mut received = 0;
    let done = within(async {
        loop {
            tokio::select! {
                message = ws.recv() => {
                    let message = message.unwrap().unwrap();
                    if message.as_text() == Some("done") {
                        break;
                    }
                    assert_eq!(message, Message::from(numbered(received)));
                    received += 1;
                }
                _ = timer.tick() => ticks += 1,
            }
        }
    });
    done.await;
    assert_eq!(received, MESSAGES);
    assert!(ticks > 0, "the timer never won a select");
}
