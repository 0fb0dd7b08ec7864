//! AsyncAPI documents validated by the reference parser: the chat example's, which the running
//! example serves at `/asyncapi.json`, and one of every kind of route;
//! `tests/asyncapi/validate.mjs` parses each with `@asyncapi/parser` and fails on any error.
//!
//! The parser needs `node` and `npm ci` in `tests/asyncapi` (`scripts/test` installs both), so
//! the tests that run it are `#[ignore]`d for plain `cargo test`, and fail saying what is
//! missing when run without it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Example;
use ws_routes::asyncapi::Info;
use ws_routes::codec::{JsonError, MsgPack};
use ws_routes::{Json, Routes, Session, WebSocket, route, routes};

/// What the test needs, or why it cannot run.
fn prerequisites(dir: &Path) -> Result<(), String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Err("no `node`".into());
    }
    if !dir.join("node_modules/@asyncapi/parser").exists() {
        return Err(format!(
            "no @asyncapi/parser: run `npm ci` in {}",
            dir.display()
        ));
    }
    Ok(())
}

/// Runs the reference parser on `document` and fails the test when it refuses it.
fn validate(document: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/asyncapi");
    if let Err(missing) = prerequisites(&dir) {
        panic!("{missing}; `scripts/test` installs it");
    }
    let file = std::env::temp_dir().join(format!(
        "ws-routes-asyncapi-{}-{:?}.json",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&file, document).expect("write the document");
    let output = Command::new("node")
        .arg(dir.join("validate.mjs"))
        .arg(&file)
        .output()
        .expect("run node");
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "the reference parser refused the document:\n{}{}\n{document}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
#[ignore = "needs node and @asyncapi/parser: `scripts/test` installs them and runs this"]
async fn the_chat_examples_document_passes_the_reference_parser() {
    let server = Example::start("chat", &["--addr", "127.0.0.1:0"]);
    let document = support::get(&server, "/asyncapi.json").await;
    validate(&document);
}

/// Echoes what it gets.
#[route("/echo/{room}/{*rest}")]
async fn echo(_ws: WebSocket, _room: String) {}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Move {
    x: i32,
    y: i32,
}

#[derive(Default)]
struct Board;

#[route("/board")]
impl Board {
    async fn on_message(&mut self, session: &mut Session, made: Result<Json<Move>, JsonError>) {
        if let Ok(Json(Move { x, y })) = made {
            let _ = session.send(format!("{x},{y}")).await;
        }
    }
}

/// A message type without a JSON Schema: documented as JSON all the same.
#[derive(serde::Serialize)]
struct Plain {
    n: u32,
}

#[route("/", sends = Plain)]
async fn root(_ws: WebSocket) {
    let _ = Plain { n: 1 }.n;
}

#[derive(Default)]
struct PackedBoard;

/// The board, in MessagePack.
#[route("/packed-board", sends = MsgPack<Move>)]
impl PackedBoard {
    async fn on_message(&mut self, _session: &mut Session, MsgPack(made): MsgPack<Move>) {
        let _ = (made.x, made.y);
    }
}

const MIXED: Routes = routes![echo, Board, root, PackedBoard];

fn mixed() -> serde_json::Value {
    MIXED.asyncapi(Info::new("mixed", "0.1.0").description("Every kind of route."))
}

#[test]
fn untyped_routes_catch_alls_and_the_root_are_described() {
    let document = mixed();
    let echo = &document["channels"]["echo"];
    assert_eq!(echo["address"], "/echo/{room}/{rest}");
    assert_eq!(echo["description"], "Echoes what it gets.");
    assert_eq!(echo["messages"]["text"]["contentType"], "text/plain");
    let root = &document["channels"]["root"];
    assert_eq!(root["address"], "/");
    let plain = &root["messages"]["asyncapi__Plain"];
    assert_eq!(plain["contentType"], "application/json", "{root}");
    assert!(
        plain["payload"]["description"]
            .as_str()
            .unwrap()
            .contains("no JSON Schema")
    );
    let board = &document["channels"]["Board"]["messages"];
    assert_eq!(
        board["Move"]["payload"]["$ref"],
        "#/components/schemas/Move"
    );
    assert_eq!(board["Move"]["contentType"], "application/json");
}

#[test]
fn messages_have_their_codecs_content_type() {
    let document = mixed();
    let packed = &document["channels"]["PackedBoard"]["messages"]["Move"];
    assert_eq!(packed["contentType"], "application/vnd.msgpack");
    assert_eq!(packed["payload"]["$ref"], "#/components/schemas/Move");
    let operations = &document["operations"];
    for action in ["receive", "send"] {
        assert_eq!(
            operations[format!("PackedBoard_{action}")]["messages"][0]["$ref"],
            "#/channels/PackedBoard/messages/Move"
        );
    }
}

#[test]
#[ignore = "needs node and @asyncapi/parser: `scripts/test` installs them and runs this"]
fn untyped_routes_catch_alls_and_the_root_pass_the_reference_parser() {
    validate(&mixed().to_string());
}

/// `echo` (untyped: text and binary both ways) as a route that recovers.
fn recovering_echo() -> serde_json::Value {
    MIXED.asyncapi(Info::new("Mixed", "0.1.0").recovering("echo"))
}

#[test]
fn a_recovering_route_sends_in_the_envelope_and_receives_as_before() {
    let document = recovering_echo();
    let refs = |operation: &str| -> Vec<String> {
        document["operations"][operation]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|message| message["$ref"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        refs("echo_receive"),
        [
            "#/channels/echo/messages/text",
            "#/channels/echo/messages/binary"
        ]
    );
    assert_eq!(
        refs("echo_send"),
        [
            "#/channels/echo/messages/text_enveloped",
            "#/channels/echo/messages/binary_enveloped",
            "#/channels/echo/messages/recoveryOutcome"
        ]
    );
    let channel = &document["channels"]["echo"];
    assert!(channel["bindings"]["ws"]["query"]["properties"]["ws-resume"].is_object());
    assert!(channel["messages"]["text"].get("description").is_none());
    // The other routes are as they were.
    assert!(document["channels"]["Board"].get("bindings").is_none());
    assert_eq!(document["channels"]["Board"], mixed()["channels"]["Board"]);
}

#[test]
#[should_panic = "Info::recovering: no route's handler is named `ecko`"]
fn a_recovering_route_that_is_not_in_the_table_is_a_mistake() {
    MIXED.asyncapi(Info::new("Mixed", "0.1.0").recovering("ecko"));
}

#[test]
#[ignore = "needs node and @asyncapi/parser: `scripts/test` installs them and runs this"]
fn a_recovering_route_passes_the_reference_parser() {
    validate(&recovering_echo().to_string());
}
