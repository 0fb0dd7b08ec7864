//! An AsyncAPI 3.0 document generated from a route table (feature `asyncapi`): one channel per
//! route, one operation for what clients send and one for what the route sends, and the JSON
//! Schemas of typed messages (schemars, draft 7, under `components/schemas`) with their codec's
//! content type.

use std::collections::HashSet;

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::routing::{Messages, Route, Routes, Segment};

pub use crate::typescript::typescript;

/// The `info` of an AsyncAPI document: the application's title and version, and an optional
/// description.
///
/// ```
/// use ws_routes::asyncapi::Info;
///
/// let info = Info::new("Chat", "1.0.0").description("Rooms of people talking.");
/// ```
#[derive(Debug, Clone)]
pub struct Info {
    title: String,
    version: String,
    description: Option<String>,
    /// The handlers of the routes that join their clients with `Rooms::join_since`.
    recovering: Vec<String>,
}

impl Info {
    /// The title and version of the application.
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        Info {
            title: title.into(),
            version: version.into(),
            description: None,
            recovering: Vec::new(),
        }
    }

    /// A description of the application (CommonMark).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Says that the route whose handler (function or type) is named `handler` joins its
    /// clients to rooms with [`Rooms::join_since`](crate::Rooms::join_since), so that its
    /// channel documents recovery: the `ws-resume` claims of the handshake's query (a `ws`
    /// channel binding), the `\x1eEPOCH.OFFSET ROOM\n` envelope around every message the route
    /// sends, and the join outcome frame (message `recoveryOutcome`).
    ///
    /// The table cannot tell by itself: a route opts into recovery by calling `join_since` at
    /// run time, which its signature does not show (taking [`Resume`](crate::rooms::Resume) is
    /// neither needed nor enough).
    pub fn recovering(mut self, handler: impl Into<String>) -> Self {
        self.recovering.push(handler.into());
        self
    }
}

impl Routes {
    /// The AsyncAPI 3.0 document of this table (feature `asyncapi`).
    ///
    /// Each route is a channel named after its handler, whose `address` is its pattern (a
    /// catch-all `{*rest}` is written `{rest}`) and whose parameters are the pattern's. The
    /// handler's doc comment is the channel's description. A `receive` operation lists what
    /// clients send (the type `on_message` decodes, or `#[route(..., receives = T)]`) and a
    /// `send` operation what the route sends (`#[route(..., sends = T)]`): typed messages have
    /// the type's JSON Schema as payload and their codec's content type (`application/json`
    /// for a bare `T` or `Json<T>`, `application/vnd.msgpack` for `MsgPack<T>`), untyped ones
    /// are text or binary.
    ///
    /// Serve it from the standalone server's fallback:
    ///
    /// ```
    /// use ws_routes::asyncapi::Info;
    /// use ws_routes::{route, routes, Routes, Server, WebSocket};
    /// use ws_routes::server::Pages;
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Tick {
    ///     n: u64,
    /// }
    ///
    /// /// A tick a second.
    /// #[route("/ticks/{name}", sends = Tick)]
    /// async fn ticks(ws: WebSocket, name: String) {}
    ///
    /// const ROUTES: Routes = routes![ticks];
    ///
    /// let document = ROUTES.asyncapi(Info::new("Ticks", "1.0.0"));
    /// assert_eq!(document["channels"]["ticks"]["address"], "/ticks/{name}");
    /// assert_eq!(document["channels"]["ticks"]["description"], "A tick a second.");
    /// assert_eq!(document["components"]["schemas"]["Tick"]["type"], "object");
    ///
    /// let server = Server::new(ROUTES)
    ///     .fallback(Pages::new().page("/asyncapi.json", "application/json", document.to_string()));
    /// ```
    ///
    /// # Panics
    ///
    /// When a handler named in [`Info::recovering`] is not in the table.
    pub fn asyncapi(&self, info: Info) -> Value {
        let settings = SchemaSettings::draft07().with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        });
        let mut generator = settings.into_generator();
        let mut channels = Map::new();
        let mut operations = Map::new();
        let mut taken = HashSet::new();
        for handler in &info.recovering {
            assert!(
                self.iter().any(|route| route.handler_name() == handler),
                "Info::recovering: no route's handler is named `{handler}`"
            );
        }
        for route in self.iter() {
            let id = channel_id(route.handler_name(), &mut taken);
            let recovers = info
                .recovering
                .iter()
                .any(|name| name == route.handler_name());
            let (channel, route_operations) = channel(route, &id, recovers, &mut generator);
            channels.insert(id, channel);
            operations.extend(route_operations);
        }
        let mut info_object = json!({ "title": info.title, "version": info.version });
        if let Some(description) = info.description {
            info_object["description"] = description.into();
        }
        json!({
            "asyncapi": "3.0.0",
            "info": info_object,
            "defaultContentType": "application/json",
            "channels": channels,
            "operations": operations,
            "components": { "schemas": generator.take_definitions(true) },
        })
    }
}

/// A channel id from the handler's name: letters, digits, `_` and `-`, unique in the document.
fn channel_id(handler: &str, taken: &mut HashSet<String>) -> String {
    let base: String = handler
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut id = base.clone();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

/// The channel of `route` and its two operations.
fn channel(
    route: &Route,
    id: &str,
    recovers: bool,
    generator: &mut SchemaGenerator,
) -> (Value, Map<String, Value>) {
    let mut address = String::new();
    let mut parameters = Map::new();
    for segment in route.segments() {
        address.push('/');
        let (name, description) = match segment {
            Segment::Static(text) => {
                address.push_str(text);
                continue;
            }
            Segment::Param(name) => (name, "one segment of the path, percent-decoded"),
            Segment::CatchAll(name) => (name, "the rest of the path, slashes included"),
        };
        address.push_str(&format!("{{{name}}}"));
        parameters.insert((*name).into(), json!({ "description": description }));
    }
    let mut messages = Map::new();
    let received = message_ids(route.receives(), &mut messages, generator);
    let mut sent = message_ids(route.sends(), &mut messages, generator);
    if recovers {
        sent = enveloped(sent, &received, &mut messages);
    }
    let mut channel = json!({ "address": address, "messages": messages });
    if recovers {
        channel["bindings"] =
            json!({ "ws": { "query": resume_query(), "bindingVersion": "0.1.0" } });
    }
    if !parameters.is_empty() {
        channel["parameters"] = parameters.into();
    }
    if !route.doc().is_empty() {
        channel["description"] = route.doc().into();
    }
    let mut operations = Map::new();
    for (action, ids, summary) in [
        ("receive", received, "What clients send"),
        ("send", sent, "What the route sends its clients"),
    ] {
        let references: Vec<Value> = ids
            .iter()
            .map(|message| json!({ "$ref": format!("#/channels/{id}/messages/{message}") }))
            .collect();
        operations.insert(
            format!("{id}_{action}"),
            json!({
                "action": action,
                "channel": { "$ref": format!("#/channels/{id}") },
                "summary": summary,
                "messages": references,
            }),
        );
    }
    (channel, operations)
}

/// What the recovery envelope adds to a message a route sends.
const ENVELOPE: &str = "Sent in the recovery envelope: the frame starts with the byte 0x1E, \
    then `EPOCH.OFFSET ROOM` (the message's position in the room's history; ROOM \
    percent-encoded: controls, space and `%`) and a newline, then the payload as described. \
    A client keeps the last position per room and presents it as a `ws-resume` claim when it \
    reconnects.";

/// The sent messages `sent` as they travel in the recovery envelope, with the join outcome
/// frame: their ids. A message the clients send too keeps its own entry.
fn enveloped(
    sent: Vec<String>,
    received: &[String],
    messages: &mut Map<String, Value>,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(sent.len() + 1);
    for id in sent {
        let Some(mut message) = (if received.contains(&id) {
            messages.get(&id).cloned()
        } else {
            messages.remove(&id)
        }) else {
            continue;
        };
        let name = format!("{id}_enveloped");
        message["name"] = name.clone().into();
        message["description"] = ENVELOPE.into();
        messages.insert(name.clone(), message);
        ids.push(name);
    }
    let status = "new|recovered|epoch-changed|too-old|unknown-position|no-history";
    messages.insert(
        "recoveryOutcome".into(),
        json!({
            "name": "recoveryOutcome",
            "contentType": "text/plain",
            "description": "The outcome of joining a room, before any message of the room (or \
                when the room's history is lost mid-connection): STATUS, the number of messages \
                replayed, the position where the room continues for this client, the room. \
                Any status but `new` and `recovered` means messages were lost: the client \
                should fetch the room's state anew.",
            "payload": {
                "type": "string",
                "pattern": format!("^\u{1e}!({status}) [0-9]+ [A-Za-z0-9-]{{1,64}}\\.[0-9]+ [^ ]+$"),
            },
        }),
    );
    ids.push("recoveryOutcome".into());
    ids
}

/// The query of a handshake that resumes: one `ws-resume` claim per room.
fn resume_query() -> Value {
    json!({
        "type": "object",
        "properties": {
            "ws-resume": {
                "type": "string",
                "description": "EPOCH.OFFSET.ROOM: the position of the last message the client \
                    received in ROOM; one such parameter per room (repeated), form-encoded. \
                    The route replays what followed it, if the room's history still has it, \
                    only in the rooms it joins.",
                "pattern": "^[A-Za-z0-9-]{1,64}\\.[0-9]+\\..+$",
            },
        },
    })
}

/// Adds the messages of one side to the channel's `messages` and returns their ids.
fn message_ids(
    side: Messages,
    messages: &mut Map<String, Value>,
    generator: &mut SchemaGenerator,
) -> Vec<String> {
    match side {
        Messages::Typed(ty) => {
            let (name, schema) = ty.describe(generator);
            let payload = match schema {
                Some(schema) => schema.to_value(),
                None => json!({
                    "description": format!("`{name}` has no JSON Schema (derive `schemars::JsonSchema`)"),
                }),
            };
            let name = name.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
            let message = json!({
                "name": name,
                "contentType": ty.content_type(),
                "payload": payload,
            });
            messages.insert(name.clone(), message);
            vec![name]
        }
        Messages::Untyped => {
            messages.insert(
                "text".into(),
                json!({
                    "name": "text",
                    "contentType": "text/plain",
                    "payload": { "type": "string" },
                }),
            );
            messages.insert(
                "binary".into(),
                json!({
                    "name": "binary",
                    "contentType": "application/octet-stream",
                    "payload": { "type": "string", "format": "binary" },
                }),
            );
            vec!["text".into(), "binary".into()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::channel_id;

    #[test]
    fn channel_ids_are_plain_and_unique() {
        let mut taken = Default::default();
        assert_eq!(channel_id("light", &mut taken), "light");
        assert_eq!(channel_id("light", &mut taken), "light_2");
        assert_eq!(channel_id("Counter<u64>", &mut taken), "Counter_u64_");
    }
}
