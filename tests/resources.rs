//! What a server holds, measured from outside: resident memory and open files under floods
//! of stalled handshakes, refused connections and many busy connections.
//!
//! The server runs in this process, so the process's memory and descriptors are what it holds.
//! That is why these tests have a test binary of their own, and take turns through [`ALONE`]:
//! any test running beside them would count too.

mod support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_routes::{Message, Server, WebSocket, route, routes};

use support::raw::{open_files, resident_memory, upgrade_request};
use support::{ask, connect, next, wait_for, within};

/// Held by each test for its whole run, so that no two measure at once.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `test` on a runtime of its own while no other test of this binary runs: the runtime
/// (its descriptors, its threads' memory) is built and torn down inside the turn too.
fn alone(test: impl std::future::Future<Output = ()>) {
    // A test that failed in its turn poisoned the lock; the next one may still run.
    let _turn = ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(test);
}

#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

#[route("/numbered/{id}")]
async fn numbered(mut ws: WebSocket, id: usize) {
    while let Some(Ok(message)) = ws.recv().await {
        // Each reply names its connection, so a reply sent down the wrong one shows.
        let reply = format!("{id} {}", message.as_text().unwrap_or_default());
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

/// Serves `server` and returns its address and handle.
async fn start(server: Server) -> (std::net::SocketAddr, ws_routes::server::ServerHandle) {
    let listening = server.bind("127.0.0.1:0").await.unwrap();
    let (addr, handle) = (listening.local_addr().unwrap(), listening.handle());
    tokio::spawn(listening.run());
    (addr, handle)
}

fn server() -> Server {
    Server::new(routes![echo, numbered])
}

#[test]
fn stalled_handshakes_neither_block_others_nor_outlive_the_timeout() {
    alone(async {
        // 300 stalled clients and their server ends fit well under the common limit of 1,024
        // open files.
        const STALLED: usize = 300;
        let (addr, handle) = start(server().handshake_timeout(Duration::from_secs(2))).await;
        let rss_before = resident_memory();
        let mut stalled = Vec::new();
        for _ in 0..STALLED {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: web")
                .await
                .unwrap();
            stalled.push(tcp);
        }
        wait_for(|| handle.connections() >= STALLED).await;
        let mut ws = connect(addr, "/echo").await;
        assert_eq!(ask(&mut ws, "served meanwhile").await, "served meanwhile");
        // Every stalled connection is dropped by the server once its time is up...
        for tcp in &mut stalled {
            let mut rest = Vec::new();
            let read =
                tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut rest)).await;
            assert!(read.is_ok(), "a stalled handshake outlived the timeout");
        }
        // ...and what they held is given back.
        wait_for(|| handle.connections() == 1).await;
        let growth = resident_memory().saturating_sub(rss_before);
        assert!(
            growth < 16 << 20,
            "{growth} bytes still resident after the flood"
        );
    });
}

#[test]
fn connections_over_the_limit_cost_nothing_and_are_closed_at_once() {
    alone(async {
        let (addr, handle) = start(server().max_connections(4)).await;
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(connect(addr, "/echo").await);
        }
        wait_for(|| handle.connections() == 4).await;
        let files_before = open_files();
        let mut flood = tokio::task::JoinSet::new();
        for _ in 0..200 {
            flood.spawn(async move {
                let mut tcp = TcpStream::connect(addr).await.ok()?;
                let _ = tcp.write_all(upgrade_request("/echo").as_bytes()).await;
                let mut answer = Vec::new();
                let _ = tcp.read_to_end(&mut answer).await;
                Some(answer)
            });
        }
        let mut refused_with_503 = 0;
        let all_answered = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(answer) = flood.join_next().await {
                if answer
                    .unwrap()
                    .is_some_and(|answer| answer.starts_with(b"HTTP/1.1 503 "))
                {
                    refused_with_503 += 1;
                }
            }
        })
        .await;
        assert!(all_answered.is_ok(), "a refused connection was held open");
        assert!(refused_with_503 > 0, "no refusal said 503");
        // The server kept no descriptor for any of them, and still counts only the four.
        wait_for(|| open_files() <= files_before + 2).await;
        assert_eq!(handle.connections(), 4);
        assert_eq!(ask(&mut held[0], "still here").await, "still here");
    });
}

/// The soak test's load: every connection sends bursts of numbered messages.
const CONNECTIONS: usize = 200;
const IN_FLIGHT: usize = 8;
const ROUNDS: usize = 10;

/// Sends `ROUNDS` bursts of `IN_FLIGHT` numbered messages and checks every reply.
async fn client(addr: std::net::SocketAddr, id: usize) {
    let mut ws = support::connect(addr, &format!("/numbered/{id}")).await;
    let mut number = 0;
    for _ in 0..ROUNDS {
        for offset in 0..IN_FLIGHT {
            ws.send(format!("{}", number + offset)).await.unwrap();
        }
        for offset in 0..IN_FLIGHT {
            match next(&mut ws).await {
                Some(Ok(Message::Text(reply))) => {
                    assert_eq!(
                        reply,
                        format!("{id} {}", number + offset),
                        "connection {id}"
                    );
                }
                other => panic!("connection {id}: expected a reply, got {other:?}"),
            }
        }
        number += IN_FLIGHT;
    }
    ws.close(1000u16, "").await.unwrap();
    assert_eq!(
        support::until_closed(&mut ws).await,
        Some((1000, String::new()))
    );
}

#[test]
fn every_reply_arrives_exactly_once_in_order_and_memory_stays_bounded() {
    alone(async {
        let (addr, handle) = start(server()).await;

        let mut peak = 0;
        let before = resident_memory();
        // Three waves of every connection: memory after the first (allocator warmed up) may not
        // keep growing with the waves.
        for _ in 0..3 {
            let mut clients = tokio::task::JoinSet::new();
            for id in 0..CONNECTIONS {
                clients.spawn(client(addr, id));
            }
            while let Some(done) = within(clients.join_next()).await {
                done.unwrap();
            }
            support::wait_for(|| handle.connections() == 0).await;
            peak = peak.max(resident_memory());
        }
        let growth = peak.saturating_sub(before);
        // 200 connections hold a few MiB at most (the README measures about 6 KiB per idle
        // connection); 64 MiB is generous for a debug build and catches anything kept per
        // message.
        assert!(
            growth < 64 << 20,
            "resident memory grew by {growth} bytes over {} messages",
            3 * CONNECTIONS * ROUNDS * IN_FLIGHT
        );
    });
}
