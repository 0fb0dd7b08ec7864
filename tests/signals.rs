//! SIGINT and SIGTERM through `shutdown_signal`, as the examples (and `serve`) use it: a
//! connected client gets 1001 "server shutting down", and the process exits 0.

mod support;

use std::process::Command;

use support::{Example, ask, close_frame, connect_url};

async fn shuts_down_gracefully_on(signal: &str) {
    let mut server = Example::start("echo", &["--addr", "127.0.0.1:0"]);
    // The echo example serves `/` and `/echo/{room}`.
    let mut ws = connect_url(&format!("{}/", server.url)).await;
    assert_eq!(ask(&mut ws, "before the signal").await, "before the signal");
    let mut room = connect_url(&format!("{}/echo/lobby", server.url)).await;
    room.send(vec![1u8, 2, 3]).await.unwrap();
    assert_eq!(
        support::next(&mut room).await.unwrap().unwrap(),
        ws_routes::Message::from(vec![1u8, 2, 3])
    );
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} failed");
    for client in [&mut ws, &mut room] {
        assert_eq!(
            close_frame(client).await,
            (1001, "server shutting down".into()),
            "{signal}"
        );
    }
    let status = server
        .wait_timeout(support::NETWORK_TIMEOUT)
        .unwrap_or_else(|| {
            panic!(
                "still running {:?} after {signal}",
                support::NETWORK_TIMEOUT
            )
        });
    assert!(status.success(), "{signal}: exited with {status}");
}

#[tokio::test]
async fn sigint_closes_connections_with_1001_and_exits_0() {
    shuts_down_gracefully_on("INT").await;
}

#[tokio::test]
async fn sigterm_closes_connections_with_1001_and_exits_0() {
    shuts_down_gracefully_on("TERM").await;
}

#[test]
fn a_signal_as_soon_as_the_example_says_where_it_listens_exits_0() {
    // The example listens for signals before it prints its address: a SIGTERM sent the
    // moment that line is read shuts it down gracefully, rather than killing it.
    let mut server = Example::start("echo", &["--addr", "127.0.0.1:0"]);
    let sent = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let status = server
        .wait_timeout(support::NETWORK_TIMEOUT)
        .expect("still running after SIGTERM");
    assert!(status.success(), "exited with {status}");
}
