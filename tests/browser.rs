//! Real browsers: headless Chromium, driven by playwright-core from `tests/browser/*.mjs`,
//! opens the chat example's page in two tabs and sees a message typed in one appear in the
//! other; from a page, sends binary and large text messages to an echo route and closes with a
//! code and reason the handler sees; keeps the chat page open while its server is killed (or
//! shut down) and started again, the page given a second server sharing the rooms through
//! Redis: it shows every message once, in order (`examples/pages/ws-routes.js` reconnects and
//! resumes); and, in a page of its own, checks what that module hands over: room messages
//! without their envelope, join outcomes, and what it missed after a reconnect.
//!
//! Needs `node`, Debian's `/usr/bin/chromium` and `npm ci` in `tests/browser` (`scripts/test`
//! installs all three; the restart tests need `redis-server` too), so the tests are `#[ignore]`d: plain `cargo test` lists them as
//! ignored, and `scripts/test` runs them with `--include-ignored`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::Example;
use support::redis::{Redis, free_port};
use tokio::io::{AsyncBufReadExt, BufReader};
use ws_routes::rooms::{History, Resume};
use ws_routes::server::Pages;
use ws_routes::{Rooms, Server, State, WebSocket, route, routes};

/// What the test needs, or why it cannot run.
fn prerequisites(dir: &Path) -> Result<(), String> {
    let chromium = std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!("no Chromium at {}", chromium.to_string_lossy()));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("no `node`".into());
    }
    if !dir.join("node_modules/playwright-core").exists() {
        return Err(format!(
            "no playwright-core: run `npm ci` in {}",
            dir.display()
        ));
    }
    Ok(())
}

/// The directory of the browser tests' scripts, once their prerequisites are there.
fn scripts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if let Err(missing) = prerequisites(&dir) {
        panic!("{missing}; `scripts/test` installs it");
    }
    dir
}

#[test]
#[ignore = "needs Chromium, node and playwright-core: `scripts/test` installs them and runs this"]
fn a_message_typed_in_one_tab_appears_in_the_other() {
    let dir = scripts();
    let server = Example::start("chat", &["--addr", "127.0.0.1:0"]);
    let page = format!("{}/", server.url.replacen("ws://", "http://", 1));
    let mut node = Command::new("node")
        .arg(dir.join("chat.mjs"))
        .arg(&page)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let deadline = Instant::now() + Duration::from_secs(90);
    while node.try_wait().expect("wait for node").is_none() {
        if Instant::now() > deadline {
            let _ = node.kill();
            panic!("the browser test did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = node.wait_with_output().expect("node output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim() == "ok",
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `script` with node on `page` and fails unless it prints "ok" within 90 s.
async fn run_script(script: &Path, page: &str) {
    let node = tokio::process::Command::new("node")
        .arg(script)
        .arg(page)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), node)
        .await
        .expect("the browser test did not finish in 90 s")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim() == "ok",
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A close frame as code and reason; `None` when the connection ended without one.
type Heard = Option<(u16, String)>;

/// The close frames the `/echo` handler saw.
#[derive(Clone, Default)]
struct Closes(Arc<Mutex<Vec<Heard>>>);

/// Echoes every message, then records the page's close frame; refuses to echo on a
/// connection without compression (Chromium offers it, and the server accepts by default).
#[route("/echo")]
async fn echo(mut ws: WebSocket, State(closes): State<Closes>) {
    if !ws.is_compressed() {
        let _ = ws.close(4000u16, "not compressed").await;
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, node and playwright-core: `scripts/test` installs them and runs this"]
async fn a_page_sends_binary_and_large_text_and_closes_with_its_own_code() {
    let dir = scripts();
    let closes = Closes::default();
    let page = Pages::new().page(
        "/",
        "text/html; charset=utf-8",
        "<!doctype html><title>echo</title>",
    );
    let server = Server::new(routes![echo])
        .with_state(closes.clone())
        .fallback(page);
    let addr = support::spawn_server(server).await;
    run_script(&dir.join("echo.mjs"), &format!("http://{addr}/")).await;
    support::wait_for(|| !closes.0.lock().unwrap().is_empty()).await;
    assert_eq!(
        *closes.0.lock().unwrap(),
        [Some((4321, "bye from chromium".into()))]
    );
}

/// How many messages bob says while the page's server is killed and started again.
const SAID: usize = 40;

/// How the page's server goes away.
#[derive(Clone, Copy)]
enum Stop {
    /// SIGKILL: no close frame; the page sees 1006.
    Kill,
    /// SIGTERM: a graceful shutdown, closing with 1012 (service restart).
    Terminate,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, node, playwright-core and redis-server: `scripts/test` installs them"]
async fn the_chat_page_shows_every_message_once_across_a_kill_and_restart_of_its_server() {
    every_message_once_across(Stop::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, node, playwright-core and redis-server: `scripts/test` installs them"]
async fn the_chat_page_shows_every_message_once_across_a_rolling_restart_of_its_server() {
    every_message_once_across(Stop::Terminate).await;
}

/// The chat page, given servers A and B sharing a Redis, open on A while bob on B says `SAID`
/// messages, 4 a second; A is stopped 2 s in and started again on the same port 2 s later.
/// `restart.mjs` checks that the page shows every message once, in order, and went to B at
/// once, in one reconnect.
async fn every_message_once_across(stop: Stop) {
    let dir = scripts();
    let redis = Redis::start();
    let redis_url = redis.url();
    // The page's server, A, comes back on the same port; B lets A's page connect.
    let a_addr = format!("127.0.0.1:{}", free_port());
    let a_args = ["--addr", &a_addr, "--redis", &redis_url];
    let mut a = Some(Example::start("chat", &a_args));
    let a_origin = format!("http://{a_addr}");
    let b = Example::start(
        "chat",
        &[
            "--addr",
            "127.0.0.1:0",
            "--redis",
            &redis_url,
            "--origin",
            &a_origin,
        ],
    );
    let b_addr = b.url.trim_start_matches("ws://").to_owned();

    // Bob, on B, says the messages once his own join came back through Redis.
    let mut bob = ws_routes::connect(&format!("{}/chat/lobby", b.url))
        .await
        .expect("connect to B");
    bob.send(r#"{"type":"join","name":"bob"}"#)
        .await
        .expect("join");
    while !support::text(&mut bob).await.contains(r#""type":"joined""#) {}

    let page = format!("{a_origin}/?servers={a_addr},{b_addr}&room=lobby&name=ada");
    let mut node = tokio::process::Command::new("node")
        .arg(dir.join("restart.mjs"))
        .arg(&page)
        .arg(SAID.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut stdout = BufReader::new(node.stdout.take().expect("piped stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), stdout.next_line()).await;
    assert!(
        matches!(&ready, Ok(Ok(Some(line))) if line == "ready"),
        "the page did not join: {ready:?}"
    );

    // 4 a second for 10 s: A is killed (no goodbye) 2 s in, and started again 2 s later.
    for n in 1..=SAID {
        if n == 9 {
            let mut stopped = a.take().expect("A is running");
            if let Stop::Terminate = stop {
                let sent = Command::new("kill")
                    .args(["-TERM", &stopped.pid().to_string()])
                    .status()
                    .expect("run kill");
                assert!(sent.success());
                let exited = stopped.wait_timeout(Duration::from_secs(10));
                assert!(exited.is_some_and(|status| status.success()), "{exited:?}");
            }
            // Dropping kills it, if it still runs.
            drop(stopped);
        }
        if n == 17 {
            a = Some(Example::start("chat", &a_args));
        }
        let say = format!(r#"{{"type":"say","text":"m{n}"}}"#);
        bob.send(say.as_str()).await.expect("say");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let output = tokio::time::timeout(Duration::from_secs(90), node.wait_with_output())
        .await
        .expect("the browser test did not finish in 90 s")
        .expect("run node");
    let rest = stdout.next_line().await.ok().flatten().unwrap_or_default();
    assert!(
        output.status.success() && rest == "ok",
        "{rest}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Joins its room with `join_since` and broadcasts every message it is sent to it, but "bye":
/// then it leaves the room, says "missed" to it, and ends the connection.
#[route("/feed/{room}")]
async fn feed(mut ws: WebSocket, room: String, resume: Resume, State(rooms): State<Rooms>) {
    let me = ws.sender();
    rooms.join_since(&room, &me, resume.since(&room));
    while let Some(Ok(message)) = ws.recv().await {
        if message.as_text() == Some("bye") {
            rooms.leave(&room, &me);
            rooms.broadcast(&room, "missed");
            return;
        }
        rooms.broadcast(&room, message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, node and playwright-core: `scripts/test` installs them and runs this"]
async fn the_module_unwraps_room_messages_and_resumes_from_its_position() {
    let dir = scripts();
    let rooms = Rooms::builder()
        .history(History::new())
        .build()
        .expect("rooms");
    let pages = Pages::new()
        .page(
            "/",
            "text/html; charset=utf-8",
            "<!doctype html><title>feed</title>",
        )
        .page(
            "/ws-routes.js",
            "text/javascript; charset=utf-8",
            include_str!("../examples/pages/ws-routes.js"),
        );
    let server = Server::new(routes![feed]).with_state(rooms).fallback(pages);
    let addr = support::spawn_server(server).await;
    run_script(&dir.join("module.mjs"), &format!("http://{addr}/")).await;
}
