//! `on_message` takes `Json<T>` or, to handle bad input itself, `Result<Json<T>, JsonError>`;
//! `receives` and `sends` document function routes; doc comments become route docs.

use serde::{Deserialize, Serialize};
use ws_routes::{route, routes, Json, Routes, Session, WebSocket};
use ws_routes::codec::JsonError;
use ws_routes::routing::Messages;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientEvent {
    Join { name: String },
    Say { text: String },
}

#[derive(Serialize, schemars::JsonSchema)]
struct Said {
    text: String,
}

#[derive(Default)]
struct Strict;

/// Closes on bad input.
#[route("/strict", sends = Said)]
impl Strict {
    async fn on_message(&mut self, session: &mut Session, Json(event): Json<ClientEvent>) {
        if let ClientEvent::Say { text } = event {
            let _ = session.send_json(&Said { text }).await;
        }
    }
}

#[derive(Default)]
struct Lenient;

#[route("/lenient")]
impl Lenient {
    async fn on_message(
        &mut self,
        session: &mut Session,
        event: Result<Json<ClientEvent>, JsonError>,
    ) -> Result<(), ws_routes::Error> {
        match event {
            Ok(Json(ClientEvent::Join { name })) => session.send(name).await,
            Ok(Json(ClientEvent::Say { text })) => session.send(text).await,
            Err(error) => session.send(error.to_string()).await,
        }
    }
}

/// Echoes typed events.
///
/// Second paragraph.
#[route("/function", receives = ClientEvent, sends = Said)]
async fn function(mut ws: WebSocket) {
    while let Some(Ok(ClientEvent::Say { text })) = ws.recv_json().await {
        let _ = ws.send_json(&Said { text }).await;
    }
}

const ROUTES: Routes = routes![Strict, Lenient, function];

fn main() {
    let docs: Vec<&str> = ROUTES.iter().map(|route| route.doc()).collect();
    assert_eq!(docs, ["Closes on bad input.", "", "Echoes typed events.\n\nSecond paragraph."]);
    assert!(ROUTES.iter().all(|route| matches!(route.receives(), Messages::Typed(_))));
}
