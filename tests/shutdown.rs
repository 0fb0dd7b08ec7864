//! Graceful shutdown over real sockets: 1001 after every accepted message reached its
//! handler, and handlers still running at the deadline cancelled; a server whose `run` is
//! aborted leaves no connection behind.

mod support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::hardening::{Received, server, start};
use support::{close_frame, connect, next, until_closed, wait_for, within};

#[tokio::test]
async fn shutdown_closes_with_1001_after_every_accepted_message_reached_its_handler() {
    let received = Received::default();
    let listening = server()
        .with_state(received.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle) = (listening.local_addr().unwrap(), listening.handle());
    let running = tokio::spawn(listening.run());

    let mut ws = connect(addr, "/slow").await;
    for number in 0..5 {
        ws.send(format!("message {number}")).await.unwrap();
    }
    // A handshake in progress when the shutdown begins.
    let mut halfway = TcpStream::connect(addr).await.unwrap();
    halfway
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    wait_for(|| handle.connections() == 2).await;
    let started = tokio::time::Instant::now();
    handle.shutdown();

    assert_eq!(
        close_frame(&mut ws).await,
        (1001, "server shutting down".into())
    );
    assert!(
        next(&mut ws).await.is_none(),
        "the close handshake completes"
    );
    let mut answer = String::new();
    within(halfway.read_to_string(&mut answer)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let expected: Vec<String> = (0..5).map(|number| format!("message {number}")).collect();
    assert_eq!(
        *received.0.lock().unwrap(),
        expected,
        "nothing accepted was dropped"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "nobody waited for a timeout"
    );
}

#[tokio::test]
async fn shutdown_cancels_handlers_still_running_at_the_deadline() {
    let (addr, handle, running) =
        start(server().shutdown_timeout(Duration::from_millis(300))).await;
    let mut ws = connect(addr, "/stubborn").await;
    let started = tokio::time::Instant::now();
    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the handler had its grace period"
    );
    assert_eq!(handle.connections(), 0);
    // The handler never waited in `recv`, where the 1001 is sent: cancelling it drops the
    // connection without a close frame, which the client reports as 1006.
    assert_eq!(until_closed(&mut ws).await, Some((1006, String::new())));
}

#[tokio::test]
async fn aborting_the_servers_run_ends_its_connections() {
    let (addr, handle, running) = start(server()).await;
    let mut ws = connect(addr, "/stubborn").await;
    wait_for(|| handle.connections() == 1).await;
    running.abort();
    // Cancelled, not closed gracefully: no close frame, which the client reports as 1006.
    assert_eq!(until_closed(&mut ws).await, Some((1006, String::new())));
    wait_for(|| handle.connections() == 0).await;
}
