//! Typed messages over real sockets by their JSON names: `recv_json` and `on_message` close on
//! bad input with 1007 and serde's error (1003 for a binary message), `recv_json_lenient` and
//! `Result<Json<T>, JsonError>` in `on_message` hand the error to the handler and keep the
//! connection open, and typed sends and broadcasts arrive as JSON. `tests/codecs.rs` runs a
//! chat over JSON and MessagePack through the codec-generic names.

mod support;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use ws_routes::codec::JsonError;
use ws_routes::{Error, Json, Rooms, Server, Session, State, WebSocket, route, routes};

use support::{close_frame, connect, spawn, spawn_server, text};

#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Event {
    Join { name: String },
    Say { text: String },
}

/// Bad input, each with the start of the close reason it gets.
const BAD: [(&str, &str); 4] = [
    (
        "{\"type\":\"say\"",
        "invalid JSON: EOF while parsing an object",
    ),
    (
        r#"{"type":"say","text":[1]}"#,
        "invalid JSON: invalid type: sequence, expected a string",
    ),
    (r#"{"type":"join"}"#, "invalid JSON: missing field `name`"),
    (
        r#"{"type":"shout","text":"hi"}"#,
        "invalid JSON: unknown variant `shout`",
    ),
];

fn answer(event: &Event) -> String {
    match event {
        Event::Join { name } => format!("welcome {name}"),
        Event::Say { text } => format!("said {text}"),
    }
}

#[route("/strict", receives = Event, sends = Event)]
async fn strict(mut ws: WebSocket) {
    while let Some(Ok(event)) = ws.recv_json::<Event>().await {
        if ws.send_json(&event).await.is_err() {
            break;
        }
    }
}

#[route("/lenient", receives = Event)]
async fn lenient(mut ws: WebSocket) {
    while let Some(received) = ws.recv_json_lenient::<Event>().await {
        let reply = match received {
            Ok(event) => answer(&event),
            Err(Error::Json(error)) => format!("bad: {error}"),
            Err(_) => break,
        };
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

#[derive(Default)]
struct StrictClass;

#[route("/strict-class")]
impl StrictClass {
    async fn on_message(&mut self, session: &mut Session, Json(event): Json<Event>) {
        let _ = session.send(answer(&event)).await;
    }
}

#[derive(Default)]
struct LenientClass;

#[route("/lenient-class")]
impl LenientClass {
    async fn on_message(&mut self, session: &mut Session, event: Result<Json<Event>, JsonError>) {
        let reply = match event {
            Ok(Json(event)) => answer(&event),
            Err(error) => format!("bad: {error}"),
        };
        let _ = session.send(reply).await;
    }
}

#[route("/room")]
async fn room(mut ws: WebSocket, State(rooms): State<Rooms>) {
    let me = ws.sender();
    rooms.join("room", &me);
    me.send_json(&json!({ "type": "ready" })).await.unwrap();
    while let Some(Ok(Event::Say { text })) = ws.recv_json::<Event>().await {
        let said = Event::Say { text };
        rooms.broadcast_json("room", &said).unwrap();
    }
}

#[tokio::test]
async fn recv_json_closes_bad_input_with_1007_and_says_why() {
    let addr = spawn(routes![strict, StrictClass]).await;
    for path in ["/strict", "/strict-class"] {
        for (input, reason) in BAD {
            let mut ws = connect(addr, path).await;
            ws.send(r#"{"type":"join","name":"ada"}"#).await.unwrap();
            let reply = text(&mut ws).await;
            assert!(reply.contains("ada"), "{path}: {reply}");
            ws.send(input).await.unwrap();
            let (code, got) = close_frame(&mut ws).await;
            assert_eq!(code, 1007, "{path} {input}: {got}");
            assert!(got.starts_with(reason), "{path} {input}: {got}");
        }
        // One rule for both kinds of route: a binary message is not JSON text.
        let mut ws = connect(addr, path).await;
        ws.send(vec![1, 2, 3]).await.unwrap();
        let (code, got) = close_frame(&mut ws).await;
        assert_eq!(
            (code, got.as_str()),
            (1003, "expected JSON text, got a binary message"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_route_that_takes_the_error_stays_open() {
    let addr = spawn(routes![lenient, LenientClass]).await;
    for path in ["/lenient", "/lenient-class"] {
        let mut ws = connect(addr, path).await;
        for (input, reason) in BAD {
            ws.send(input).await.unwrap();
            let reply = text(&mut ws).await;
            assert!(
                reply.starts_with(&format!("bad: {reason}")),
                "{path} {input}: {reply}"
            );
        }
        ws.send(r#"{"type":"say","text":"hi"}"#).await.unwrap();
        assert_eq!(text(&mut ws).await, "said hi", "{path}");
    }
}

#[tokio::test]
async fn typed_sends_and_broadcasts_arrive_as_json() {
    let rooms = Rooms::new();
    let addr = spawn_server(Server::new(routes![room]).with_state(rooms)).await;
    let mut ada = connect(addr, "/room").await;
    let mut bob = connect(addr, "/room").await;
    for ws in [&mut ada, &mut bob] {
        let ready: Value = ws.recv_json().await.unwrap().unwrap();
        assert_eq!(ready, json!({ "type": "ready" }));
    }
    ada.send_json(&Event::Say {
        text: "hello".into(),
    })
    .await
    .unwrap();
    for ws in [&mut ada, &mut bob] {
        let said: Value = ws.recv_json().await.unwrap().unwrap();
        assert_eq!(said, json!({ "type": "say", "text": "hello" }));
    }
}
