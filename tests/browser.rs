//! The chat example's page in a real browser: headless Chromium, driven by playwright-core
//! from `tests/browser/chat.mjs`, opens it in two tabs and sees a message typed in one appear
//! in the other.
//!
//! Needs `node`, Debian's `/usr/bin/chromium` and `npm ci` in `tests/browser` (`scripts/test`
//! installs all three). Skipped with a note when one is missing; failed instead when
//! `WS_ROUTES_REQUIRE_BROWSER` is set.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Example;

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
fn a_message_typed_in_one_tab_appears_in_the_other() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if let Err(missing) = prerequisites(&dir) {
        assert!(
            std::env::var_os("WS_ROUTES_REQUIRE_BROWSER").is_none(),
            "{missing}; `scripts/test` installs it"
        );
        eprintln!("skipped: {missing}; run `scripts/test` for every test");
        return;
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
