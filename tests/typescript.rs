//! The chat example's TypeScript declarations, `examples/pages/chat-events.d.ts`: generated
//! from the AsyncAPI document the example serves (so from its serde types), checked for drift,
//! and checked by `tsc` against the JSON the example really sends and reads.
//!
//! Write them anew with `TYPESCRIPT=overwrite cargo test --test typescript`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use ws_routes::WebSocket;

use support::{Example, text};

/// Where the declarations are checked in.
fn declarations_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pages/chat-events.d.ts")
}

/// The declarations of the chat example's document, as it serves it now.
async fn generated(chat: &Example) -> String {
    let document: Value = serde_json::from_str(&support::get(chat, "/asyncapi.json").await)
        .expect("the document is JSON");
    ws_routes::asyncapi::typescript(&document)
}

#[tokio::test]
async fn the_chat_declarations_are_those_of_its_serde_types() {
    let chat = Example::start("chat", &["--addr", "127.0.0.1:0"]);
    let fresh = generated(&chat).await;
    let file = declarations_file();
    if std::env::var_os("TYPESCRIPT").is_some_and(|value| value == "overwrite") {
        std::fs::write(&file, &fresh).expect("write the declarations");
    }
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "{} is not what the chat example's types give: write it anew with \
         `TYPESCRIPT=overwrite cargo test --test typescript`, then read the difference.\n{fresh}",
        file.display()
    );
}

/// The next room event's JSON, past join outcomes (`\x1e!...`), without its recovery envelope
/// (`\x1eEPOCH.OFFSET ROOM\n`).
async fn room_event(ws: &mut WebSocket) -> Value {
    loop {
        let frame = text(ws).await;
        if frame.starts_with("\u{1e}!") {
            continue;
        }
        let (_, json) = frame.split_once('\n').expect("an enveloped room message");
        return serde_json::from_str(json).expect("JSON");
    }
}

#[tokio::test]
#[ignore = "needs node, and tsc in tests/typescript (scripts/test installs it)"]
async fn tsc_accepts_what_the_chat_sends_and_reads_and_rejects_what_it_does_not() {
    let compiler = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/typescript/node_modules/typescript/bin/tsc");
    assert!(
        compiler.exists(),
        "{} is missing: run `npm ci` in tests/typescript (scripts/test does)",
        compiler.display()
    );
    let chat = Example::start("chat", &["--addr", "127.0.0.1:0"]);
    let url = format!("{}/chat/lobby", chat.url);
    let sent = [
        json!({ "type": "join", "name": "ada" }),
        json!({ "type": "say", "text": "hello" }),
    ];
    let mut ada = ws_routes::connect(&url).await.expect("connect");
    let mut received: Vec<Value> = Vec::new();
    for event in &sent {
        ada.send_json(event).await.expect("send");
    }
    // Ada's own message back shows her in the room: bob comes and goes after that, or she
    // could miss him (her join and his whole visit run on different tasks).
    while !received.iter().any(|event| event["type"] == "message") {
        received.push(room_event(&mut ada).await);
    }
    let mut bob = ws_routes::connect(&url).await.expect("connect");
    bob.send_json(&json!({ "type": "join", "name": "bob" }))
        .await
        .unwrap();
    bob.close(1000u16, "bye").await.unwrap();
    // Every kind of room event: joined, presence, message (ada's), and bob's left.
    let kinds = ["joined", "presence", "message", "left"];
    while !kinds
        .iter()
        .all(|kind| received.iter().any(|event| event["type"] == *kind))
    {
        received.push(room_event(&mut ada).await);
    }

    let dir = std::env::temp_dir().join(format!("ws-routes-tsc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The module is named without `.d.ts`.
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pages/chat-events");
    let module = Value::from(module.to_str().expect("a UTF-8 path"));
    let source = format!(
        "import type {{ ClientEvent, ServerEvent }} from {module};\n\
         export const sent: ClientEvent[] = {sent};\n\
         export const received: ServerEvent[] = {received};\n\
         // The union is discriminated on `type`: each branch knows its fields.\n\
         export function show(event: ServerEvent): string {{\n\
         \x20 switch (event.type) {{\n\
         \x20   case \"message\": return `${{event.name}}: ${{event.text}}`;\n\
         \x20   case \"presence\": return String(event.count);\n\
         \x20   default: return event.name;\n\
         \x20 }}\n\
         }}\n\
         // @ts-expect-error: a message without its text\n\
         export const partial: ServerEvent = {{ type: \"message\", name: \"ada\" }};\n\
         // @ts-expect-error: no such event\n\
         export const unknown: ClientEvent = {{ type: \"shout\", text: \"hi\" }};\n",
        sent = Value::from(sent.to_vec()),
        received = Value::from(received),
    );
    let file = dir.join("samples.ts");
    std::fs::write(&file, source).unwrap();
    let output = Command::new("node")
        .arg(&compiler)
        .args(["--noEmit", "--strict", "--target", "es2022"])
        .args(["--module", "esnext", "--moduleResolution", "bundler"])
        .arg(&file)
        .output()
        .expect("run node (is it installed?)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "tsc rejects the samples:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
