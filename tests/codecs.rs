//! One typed chat (join and say events, a serde-tagged enum each way), run over JSON text and
//! over MessagePack binary messages through real sockets, as a function route and as a
//! class-style route: the same events arrive, broadcast to a room, in the codec's kind of
//! message; bad input is closed with 1007 and the decoder's error, a message of the other kind
//! with 1003, and a route that takes the error stays open. Python's `msgpack` (another
//! implementation of the format) chats with the MessagePack route too.

mod support;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use ws_routes::codec::{self, Codec, CodecError, JsonCodec, MessageKind, MsgPackCodec};
use ws_routes::codec::{JsonError, MsgPack};
use ws_routes::{Json, Message, Rooms, Server, Session, State, WebSocket, route, routes};

use support::{close_frame, connect, next, spawn_server, text};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientEvent {
    Join { name: String },
    Say { text: String },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ServerEvent {
    Joined {
        name: String,
    },
    Said {
        name: String,
        text: String,
    },
    /// What a lenient route answers bad input with.
    Refused {
        reason: String,
    },
}

/// One member of a chat room, whatever the codec and the kind of route.
struct Member {
    room: String,
    name: String,
    rooms: Rooms,
}

impl Member {
    fn new(room: String, rooms: Rooms) -> Self {
        Member {
            room,
            name: "anonymous".into(),
            rooms,
        }
    }

    /// Joins the room on `join`; broadcasts what was said, encoded once for every member.
    fn on_event<C: Codec>(&mut self, sender: &ws_routes::Sender, event: ClientEvent) {
        let said = match event {
            ClientEvent::Join { name } => {
                self.name = name.clone();
                self.rooms.join(&self.room, sender);
                ServerEvent::Joined { name }
            }
            ClientEvent::Say { text } => ServerEvent::Said {
                name: self.name.clone(),
                text,
            },
        };
        self.rooms
            .broadcast_as::<C>(&self.room, &said)
            .expect("a server event encodes");
    }
}

async fn chat<C: Codec>(mut ws: WebSocket, room: String, rooms: Rooms) {
    let me = ws.sender();
    let mut member = Member::new(room, rooms);
    while let Some(Ok(event)) = ws.recv_as::<C, ClientEvent>().await {
        member.on_event::<C>(&me, event);
    }
}

#[route("/json/chat/{room}", receives = ClientEvent, sends = ServerEvent)]
async fn json_chat(ws: WebSocket, room: String, State(rooms): State<Rooms>) {
    chat::<JsonCodec>(ws, room, rooms).await;
}

#[route(
    "/msgpack/chat/{room}",
    receives = MsgPack<ClientEvent>,
    sends = MsgPack<ServerEvent>
)]
async fn msgpack_chat(ws: WebSocket, room: String, State(rooms): State<Rooms>) {
    chat::<MsgPackCodec>(ws, room, rooms).await;
}

struct JsonClassChat(Member);

#[route("/json/class-chat/{room}", sends = ServerEvent)]
impl JsonClassChat {
    fn accept(room: String, State(rooms): State<Rooms>) -> Self {
        JsonClassChat(Member::new(room, rooms))
    }

    async fn on_message(&mut self, session: &mut Session, Json(event): Json<ClientEvent>) {
        self.0.on_event::<JsonCodec>(&session.sender(), event);
    }
}

struct MsgPackClassChat(Member);

#[route("/msgpack/class-chat/{room}", sends = MsgPack<ServerEvent>)]
impl MsgPackClassChat {
    fn accept(room: String, State(rooms): State<Rooms>) -> Self {
        MsgPackClassChat(Member::new(room, rooms))
    }

    async fn on_message(&mut self, session: &mut Session, MsgPack(event): MsgPack<ClientEvent>) {
        self.0.on_event::<MsgPackCodec>(&session.sender(), event);
    }
}

/// Answers each event, and bad input with the codec's error, on one connection.
fn answer(received: Result<ClientEvent, &CodecError>) -> ServerEvent {
    match received {
        Ok(ClientEvent::Join { name }) => ServerEvent::Joined { name },
        Ok(ClientEvent::Say { text }) => ServerEvent::Said {
            name: "you".into(),
            text,
        },
        Err(error) => ServerEvent::Refused {
            reason: error.to_string(),
        },
    }
}

async fn lenient<C: Codec>(mut ws: WebSocket) {
    while let Some(received) = ws.recv_as_lenient::<C, ClientEvent>().await {
        let reply = match received {
            Ok(event) => answer(Ok(event)),
            Err(error) => match error.codec_error() {
                Some(bad) => answer(Err(bad)),
                None => break,
            },
        };
        if ws.send_as::<C>(&reply).await.is_err() {
            break;
        }
    }
}

#[route("/json/lenient")]
async fn json_lenient(ws: WebSocket) {
    lenient::<JsonCodec>(ws).await;
}

#[route("/msgpack/lenient")]
async fn msgpack_lenient(ws: WebSocket) {
    lenient::<MsgPackCodec>(ws).await;
}

#[derive(Default)]
struct JsonLenientClass;

#[route("/json/lenient-class")]
impl JsonLenientClass {
    async fn on_message(
        &mut self,
        session: &mut Session,
        event: Result<Json<ClientEvent>, JsonError>,
    ) {
        let reply = match event {
            Ok(Json(event)) => answer(Ok(event)),
            Err(error) => answer(Err(error.as_codec_error())),
        };
        let _ = session.send_json(&reply).await;
    }
}

#[derive(Default)]
struct MsgPackLenientClass;

#[route("/msgpack/lenient-class")]
impl MsgPackLenientClass {
    async fn on_message(
        &mut self,
        session: &mut Session,
        event: Result<MsgPack<ClientEvent>, CodecError>,
    ) {
        let reply = match event {
            Ok(MsgPack(event)) => answer(Ok(event)),
            Err(error) => answer(Err(&error)),
        };
        let _ = session.send_as::<MsgPackCodec>(&reply).await;
    }
}

/// What each codec's bad input looks like on the wire, with the start of the reason its close
/// frame (or a lenient route's answer) gives.
trait BadInput: Codec {
    /// The route prefix: `/json` or `/msgpack`.
    const PREFIX: &'static str;
    /// Bytes that are not this format at all.
    fn malformed() -> (Message, &'static str);
    /// A message of the other kind.
    fn other_kind() -> (Message, &'static str);
}

impl BadInput for JsonCodec {
    const PREFIX: &'static str = "/json";

    fn malformed() -> (Message, &'static str) {
        (
            Message::from(r#"{"type":"say""#),
            "invalid JSON: EOF while parsing an object",
        )
    }

    fn other_kind() -> (Message, &'static str) {
        (
            Message::binary(br#"{"type":"say","text":"hi"}"#.to_vec()),
            "expected JSON text, got a binary message",
        )
    }
}

impl BadInput for MsgPackCodec {
    const PREFIX: &'static str = "/msgpack";

    fn malformed() -> (Message, &'static str) {
        // 0xc1 is the one marker MessagePack never uses.
        (
            Message::binary(vec![0xc1]),
            "invalid MessagePack: wrong msgpack marker",
        )
    }

    fn other_kind() -> (Message, &'static str) {
        (
            Message::from(r#"{"type":"say","text":"hi"}"#),
            "expected MessagePack binary, got a text message",
        )
    }
}

/// A message of the right kind that decodes as the format but not as a `ClientEvent`, and the
/// reason it gets.
fn missing_field<C: Codec>() -> (Message, String) {
    let message = codec::encode::<C>(&json!({ "type": "say" })).unwrap();
    (
        message,
        format!("invalid {}: missing field `text`", C::NAME),
    )
}

async fn server() -> std::net::SocketAddr {
    let routes = routes![
        json_chat,
        msgpack_chat,
        JsonClassChat,
        MsgPackClassChat,
        json_lenient,
        msgpack_lenient,
        JsonLenientClass,
        MsgPackLenientClass,
    ];
    spawn_server(Server::new(routes).with_state(Rooms::new())).await
}

/// The next message, which must be of the codec's kind, decoded into a `ServerEvent` and into
/// the codec's data model as a `serde_json::Value`.
async fn event<C: Codec>(ws: &mut WebSocket) -> (ServerEvent, Value) {
    let message = match next(ws).await {
        Some(Ok(message)) => message,
        other => panic!("expected an event, got {other:?}"),
    };
    assert_eq!(MessageKind::of(&message), C::KIND, "{message:?}");
    let event = codec::decode::<C, ServerEvent>(&message).expect("a server event");
    let value = codec::decode::<C, Value>(&message).expect("a value");
    (event, value)
}

async fn say<C: Codec>(ws: &mut WebSocket, event: &ClientEvent) {
    ws.send_as::<C>(event).await.expect("send");
}

async fn the_chat_over<C: BadInput>() {
    let addr = server().await;
    for route in ["chat", "class-chat"] {
        let path = format!("{}/{route}/lobby", C::PREFIX);
        let mut ada = connect(addr, &path).await;
        let mut bob = connect(addr, &path).await;
        say::<C>(&mut ada, &ClientEvent::Join { name: "ada".into() }).await;
        let joined = event::<C>(&mut ada).await;
        assert_eq!(
            joined.0,
            ServerEvent::Joined { name: "ada".into() },
            "{path}"
        );
        say::<C>(&mut bob, &ClientEvent::Join { name: "bob".into() }).await;
        for ws in [&mut ada, &mut bob] {
            let joined = event::<C>(ws).await;
            assert_eq!(
                joined.1,
                json!({ "type": "joined", "name": "bob" }),
                "{path}"
            );
        }
        say::<C>(
            &mut ada,
            &ClientEvent::Say {
                text: "hello".into(),
            },
        )
        .await;
        for ws in [&mut ada, &mut bob] {
            let (said, value) = event::<C>(ws).await;
            let expected = ServerEvent::Said {
                name: "ada".into(),
                text: "hello".into(),
            };
            assert_eq!(said, expected, "{path}");
            assert_eq!(
                value,
                json!({ "type": "said", "name": "ada", "text": "hello" }),
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn the_chat_runs_over_json_text() {
    the_chat_over::<JsonCodec>().await;
}

#[tokio::test]
async fn the_chat_runs_over_msgpack_binary() {
    the_chat_over::<MsgPackCodec>().await;
}

/// Every kind of bad input, each on a connection of its own, with the close code and the
/// start of the reason it gets.
fn bad_inputs<C: BadInput>() -> Vec<(Message, u16, String)> {
    let (malformed, malformed_reason) = C::malformed();
    let (missing, missing_reason) = missing_field::<C>();
    let (other, other_reason) = C::other_kind();
    vec![
        (malformed, 1007, malformed_reason.to_owned()),
        (missing, 1007, missing_reason),
        (other, 1003, other_reason.to_owned()),
    ]
}

async fn bad_input_over<C: BadInput>() {
    let addr = server().await;
    for route in ["chat", "class-chat"] {
        let path = format!("{}/{route}/bad", C::PREFIX);
        for (input, code, reason) in bad_inputs::<C>() {
            let mut ws = connect(addr, &path).await;
            say::<C>(&mut ws, &ClientEvent::Join { name: "ada".into() }).await;
            event::<C>(&mut ws).await;
            ws.send(input.clone()).await.unwrap();
            let (got_code, got) = close_frame(&mut ws).await;
            assert_eq!(got_code, code, "{path} {input:?}: {got}");
            assert!(got.starts_with(&reason), "{path} {input:?}: {got}");
        }
    }
}

#[tokio::test]
async fn bad_json_is_closed_with_the_decoders_error() {
    bad_input_over::<JsonCodec>().await;
}

#[tokio::test]
async fn bad_msgpack_is_closed_with_the_decoders_error() {
    bad_input_over::<MsgPackCodec>().await;
}

async fn lenient_over<C: BadInput>() {
    let addr = server().await;
    for route in ["lenient", "lenient-class"] {
        let path = format!("{}/{route}", C::PREFIX);
        let mut ws = connect(addr, &path).await;
        for (input, _, reason) in bad_inputs::<C>() {
            ws.send(input.clone()).await.unwrap();
            match event::<C>(&mut ws).await.0 {
                ServerEvent::Refused { reason: got } => {
                    assert!(got.starts_with(&reason), "{path} {input:?}: {got}")
                }
                other => panic!("{path} {input:?}: {other:?}"),
            }
        }
        say::<C>(
            &mut ws,
            &ClientEvent::Say {
                text: "still open".into(),
            },
        )
        .await;
        let said = event::<C>(&mut ws).await.0;
        let expected = ServerEvent::Said {
            name: "you".into(),
            text: "still open".into(),
        };
        assert_eq!(said, expected, "{path}");
    }
}

#[tokio::test]
async fn a_json_route_that_takes_the_error_stays_open() {
    lenient_over::<JsonCodec>().await;
}

#[tokio::test]
async fn a_msgpack_route_that_takes_the_error_stays_open() {
    lenient_over::<MsgPackCodec>().await;
}

#[derive(Default)]
struct MsgPackWithText;

/// MessagePack events, and text as text.
#[route("/msgpack-with-text")]
impl MsgPackWithText {
    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(format!("text: {text}")).await;
    }

    async fn on_message(&mut self, session: &mut Session, MsgPack(event): MsgPack<ClientEvent>) {
        let _ = session.send(format!("event: {event:?}")).await;
    }
}

#[derive(Default)]
struct JsonWithBinary;

/// JSON events, and binary data as data.
#[route("/json-with-binary")]
impl JsonWithBinary {
    async fn on_binary(&mut self, session: &mut Session, data: Vec<u8>) {
        let _ = session.send(format!("{} bytes", data.len())).await;
    }

    async fn on_message(&mut self, session: &mut Session, Json(event): Json<ClientEvent>) {
        let _ = session.send(format!("event: {event:?}")).await;
    }
}

#[tokio::test]
async fn messages_of_the_other_kind_go_to_on_text_or_on_binary_when_the_route_has_it() {
    let addr = spawn_server(Server::new(routes![MsgPackWithText, JsonWithBinary])).await;
    let hi = ClientEvent::Say { text: "hi".into() };

    let mut ws = connect(addr, "/msgpack-with-text").await;
    ws.send("hello").await.unwrap();
    assert_eq!(text(&mut ws).await, "text: hello");
    say::<MsgPackCodec>(&mut ws, &hi).await;
    assert_eq!(text(&mut ws).await, r#"event: Say { text: "hi" }"#);

    let mut ws = connect(addr, "/json-with-binary").await;
    ws.send(vec![1, 2, 3]).await.unwrap();
    assert_eq!(text(&mut ws).await, "3 bytes");
    say::<JsonCodec>(&mut ws, &hi).await;
    assert_eq!(text(&mut ws).await, r#"event: Say { text: "hi" }"#);
}

#[tokio::test]
#[ignore = "needs Python's websockets and msgpack: `scripts/test` installs them and runs this"]
async fn pythons_msgpack_client_chats_with_our_server() {
    let addr = server().await;
    let url = format!("ws://{addr}/msgpack/chat/python");
    support::python_checks("msgpack_chat.py", &url).await;
}
