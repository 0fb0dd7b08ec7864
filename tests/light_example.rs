//! Drives the light example, `cargo run --example light`, as a user would: over real sockets,
//! with its own client subcommand and with the write-up's client on Python's `websockets`.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::{Example, example_binary};

fn start(flags: &[&str]) -> Example {
    start_with_delay("20", flags)
}

fn start_with_delay(delay_ms: &str, flags: &[&str]) -> Example {
    let mut args = vec!["--addr", "127.0.0.1:0", "--delay-ms", delay_ms];
    args.extend(flags);
    let server = Example::start("light", &args);
    assert!(server.url.starts_with("ws://127.0.0.1:"), "{}", server.url);
    server
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn the_light_example_answers_its_own_client() {
    answers_as_the_write_up_says(&start(&[]));
}

#[test]
fn the_class_style_switch_answers_exactly_like_the_function() {
    answers_as_the_write_up_says(&start(&["--class"]));
}

fn answers_as_the_write_up_says(server: &Example) {
    for (path, reply) in [
        ("/light/on", "the light has turned on"),
        ("/light/off", "the light has turned off"),
        ("/light/1", "invalid params"),
    ] {
        let output = Command::new(example_binary("light"))
            .args(["client", &format!("{}{path}", server.url)])
            .output()
            .unwrap();
        assert_eq!(stdout(&output), reply, "{path}");
        assert!(output.status.success(), "the client exits 0 on a reply");
    }
    let output = Command::new(example_binary("light"))
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

#[test]
#[ignore = "needs Python's websockets: `scripts/test` installs it and runs this"]
fn the_write_ups_python_client_gets_the_write_ups_answers() {
    let python = support::python();
    let script = support::python_script("seed_client.py");
    let server = start(&[]);
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

#[tokio::test]
async fn watchers_see_every_switch_the_moment_it_happens() {
    for flags in [&[][..], &["--class"][..]] {
        let server = start(flags);
        let mut watcher = support::connect_url(&format!("{}/light/watch", server.url)).await;
        assert_eq!(support::text(&mut watcher).await, "unknown");
        for (status, reply, state) in [
            ("on", "the light has turned on", "on"),
            ("off", "the light has turned off", "off"),
        ] {
            let mut switch = support::connect_url(&format!("{}/light/{status}", server.url)).await;
            assert_eq!(support::ask(&mut switch, "00-12-4b-01").await, reply);
            assert_eq!(support::text(&mut watcher).await, state, "{flags:?}");
        }
        // Invalid params change nothing; a late watcher learns the state at once.
        let mut switch = support::connect_url(&format!("{}/light/1", server.url)).await;
        assert_eq!(support::ask(&mut switch, "x").await, "invalid params");
        let mut late = support::connect_url(&format!("{}/light/watch", server.url)).await;
        assert_eq!(support::text(&mut late).await, "off");
    }
}

#[test]
fn the_light_example_serves_its_page_on_the_same_port() {
    use std::io::{Read, Write};
    let server = start(&[]);
    let mut tcp = std::net::TcpStream::connect(server.url.trim_start_matches("ws://")).unwrap();
    tcp.set_read_timeout(Some(support::NETWORK_TIMEOUT))
        .unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut page = String::new();
    tcp.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("/light/watch"), "the page watches the light");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delay_holds_up_only_its_own_connection() {
    // Four clients at once, each answered after a 1 s switching delay: one after the other
    // they would take at least 4 s; side by side, 1 s and the time to connect. 2.5 s leaves
    // a loaded machine 1.5 s for that and still tells the two apart.
    const CLIENTS: usize = 4;
    let delay = Duration::from_secs(1);
    for flags in [&[][..], &["--class"][..]] {
        let server = start_with_delay("1000", flags);
        let started = Instant::now();
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..CLIENTS {
            let url = format!("{}/light/on", server.url);
            clients.spawn(async move {
                let mut ws = support::connect_url(&url).await;
                let asked = Instant::now();
                assert_eq!(
                    support::ask(&mut ws, "00-12-4b-01").await,
                    "the light has turned on"
                );
                asked.elapsed()
            });
        }
        while let Some(waited) = support::within(clients.join_next()).await {
            assert!(waited.unwrap() >= delay, "answered before the delay");
        }
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(2500),
            "{CLIENTS} clients took {took:?} with a delay of {delay:?} each: {flags:?}"
        );
    }
}

#[test]
fn help_says_what_the_example_is_in_a_new_users_words() {
    let help = Command::new(example_binary("light"))
        .arg("--help")
        .output()
        .expect("run light --help");
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.starts_with("A light switch served over WebSockets"),
        "{help}"
    );
    assert!(!help.to_lowercase().contains("seed"), "{help}");
}
