//! Drives the light example, `cargo run --example light`, as a user would: over real sockets,
//! with its own client subcommand and with the write-up's client on Python's `websockets`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// The example binary, built by `cargo test` next to the test binaries.
fn example_binary() -> PathBuf {
    let deps = std::env::current_exe().expect("test binary path");
    let profile = deps
        .parent()
        .and_then(|dir| dir.parent())
        .expect("target profile directory");
    let binary = profile
        .join("examples")
        .join(format!("light{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test` (which builds the examples)",
        binary.display()
    );
    binary
}

/// The running example; killed when dropped.
struct LightServer {
    child: Child,
    url: String,
}

impl LightServer {
    fn start() -> Self {
        let mut child = Command::new(example_binary())
            .args(["--addr", "127.0.0.1:0", "--delay-ms", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the light example");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read stdout");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("an address")
            .to_owned();
        assert!(
            url.starts_with("ws://127.0.0.1:"),
            "the example says where it listens: {line:?}"
        );
        LightServer { child, url }
    }
}

impl Drop for LightServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn the_light_example_answers_its_own_client() {
    let server = LightServer::start();
    for (path, reply) in [
        ("/light/on", "the light has turned on"),
        ("/light/off", "the light has turned off"),
        ("/light/1", "invalid params"),
    ] {
        let output = Command::new(example_binary())
            .args(["client", &format!("{}{path}", server.url)])
            .output()
            .unwrap();
        assert_eq!(stdout(&output), reply, "{path}");
        assert!(output.status.success(), "the client exits 0 on a reply");
    }
    let output = Command::new(example_binary())
        .args([
            "client",
            &format!("{}/switch/on", server.url),
            "00-12-4b-01",
        ])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&output),
        "connection closed error: code 4040 (no route for /switch/on)"
    );
    assert!(
        !output.status.success(),
        "no reply: the client exits non-zero"
    );
}

/// Python with the `websockets` package, as `scripts/test` installs it.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("WS_ROUTES_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var_os("WS_ROUTES_REQUIRE_PYTHON").is_none(),
        "{} is missing; `scripts/test` installs it",
        python.display()
    );
    eprintln!(
        "skipped: no Python with `websockets` at {}; run `scripts/test` for every test",
        python.display()
    );
    None
}

#[test]
fn the_write_ups_python_client_gets_the_write_ups_answers() {
    let Some(python) = python() else { return };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/seed_client.py");
    let server = LightServer::start();
    for (path, expected) in [
        ("/light/on", "the light has turned on"),
        ("/light/off", "the light has turned off"),
        ("/light/1", "invalid params"),
        ("/light/on?x=1", "the light has turned on"),
        (
            "/switch/on",
            "connection closed error 4040 no route for /switch/on",
        ),
    ] {
        let output = Command::new(&python)
            .arg(&script)
            .arg(format!("{}{path}", server.url))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(stdout(&output), expected, "{path}");
    }
}
