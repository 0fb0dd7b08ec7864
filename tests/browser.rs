//! Real browsers: headless Chromium, driven by playwright-core from `tests/browser/*.mjs`,
//! opens the chat example's page in two tabs and sees a message typed in one appear in the
//! other; and from a page, sends binary and large text messages to an echo route and closes
//! with a code and reason the handler sees.
//!
//! Needs `node`, Debian's `/usr/bin/chromium` and `npm ci` in `tests/browser` (`scripts/test`
//! installs all three), so the tests are `#[ignore]`d: plain `cargo test` lists them as
//! ignored, and `scripts/test` runs them with `--include-ignored`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::Example;
use ws_routes::server::Pages;
use ws_routes::{Server, State, WebSocket, route, routes};

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

#[test]
#[ignore = "needs Chromium, node and playwright-core: `scripts/test` installs them and runs this"]
fn a_message_typed_in_one_tab_appears_in_the_other() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if let Err(missing) = prerequisites(&dir) {
        panic!("{missing}; `scripts/test` installs it");
    }
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
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if let Err(missing) = prerequisites(&dir) {
        panic!("{missing}; `scripts/test` installs it");
    }
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
    let node = tokio::process::Command::new("node")
        .arg(dir.join("echo.mjs"))
        .arg(format!("http://{addr}/"))
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
    support::wait_for(|| !closes.0.lock().unwrap().is_empty()).await;
    assert_eq!(
        *closes.0.lock().unwrap(),
        [Some((4321, "bye from chromium".into()))]
    );
}
