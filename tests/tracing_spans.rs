//! Every connection runs in a `connection` span with its id, its peer and its route pattern:
//! an event a handler logs carries them, on the standalone, mounted and in-process servers.

mod support;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use ws_routes::test::TestServer;
use ws_routes::{Server, WebSocket, route, routes};

use support::{text, within};

#[route("/echo/{room}")]
async fn echo(mut ws: WebSocket, room: String) {
    while let Some(Ok(message)) = ws.recv().await {
        tracing::info!(room, "echoing");
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

type Fields = BTreeMap<String, String>;

/// Collects each event's fields with those of its `connection` span.
#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Fields>>>,
}

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        let mut fields = Fields::new();
        attributes.record(&mut Collect(&mut fields));
        context.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, context: Context<'_, S>) {
        let span = context.span(id).unwrap();
        let mut extensions = span.extensions_mut();
        values.record(&mut Collect(extensions.get_mut::<Fields>().unwrap()));
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Collect(&mut fields));
        for span in context.event_scope(event).into_iter().flatten() {
            if span.name() == "connection" {
                for (name, value) in span.extensions().get::<Fields>().unwrap() {
                    fields.insert(format!("connection.{name}"), value.clone());
                }
            }
        }
        self.events.lock().unwrap().push(fields);
    }
}

impl Capture {
    /// Captures events on this thread (the tests run on a current-thread runtime, so every
    /// connection task is on it too).
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(tracing_subscriber::registry().with(self.clone()))
    }

    /// The fields of the events whose message is `message`.
    fn events(&self, message: &str) -> Vec<Fields> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|fields| fields.get("message").map(String::as_str) == Some(message))
            .cloned()
            .collect()
    }
}

/// Sends one message on each of `sockets` and reads the echo: each handler has logged.
async fn exchange(sockets: &mut [WebSocket]) {
    for ws in sockets {
        within(ws.send("hi")).await.unwrap();
        assert_eq!(text(ws).await, "hi");
    }
}

/// The handlers' two events carry the route pattern, the peer and distinct connection ids.
fn assert_connection_fields(capture: &Capture, peer: impl Fn(&str) -> bool) {
    let events = capture.events("echoing");
    assert_eq!(events.len(), 2, "{events:?}");
    for (event, room) in events.iter().zip(["lobby", "kitchen"]) {
        assert_eq!(event["room"], room);
        assert_eq!(event["connection.route"], "/echo/{room}");
        assert!(peer(&event["connection.peer"]), "{event:?}");
        event["connection.id"].parse::<u64>().unwrap();
    }
    assert_ne!(events[0]["connection.id"], events[1]["connection.id"]);
}

/// Two connections to the server at `addr`, one message each, and their events checked.
async fn check_over_tcp(capture: &Capture, addr: SocketAddr) {
    let mut sockets = [
        support::connect(addr, "/echo/lobby").await,
        support::connect(addr, "/echo/kitchen").await,
    ];
    exchange(&mut sockets).await;
    assert_connection_fields(capture, |peer| {
        peer.parse::<SocketAddr>().unwrap().ip() == addr.ip()
    });
}

#[tokio::test]
async fn standalone_connections_log_in_their_span() {
    let capture = Capture::default();
    let _guard = capture.install();
    let addr = support::spawn(routes![echo]).await;
    check_over_tcp(&capture, addr).await;
}

#[tokio::test]
async fn mounted_connections_log_in_their_span() {
    let capture = Capture::default();
    let _guard = capture.install();
    let service = Server::new(routes![echo]).into_service().unwrap();
    let app = ws_routes::axum::router(service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    check_over_tcp(&capture, addr).await;
}

#[tokio::test]
async fn in_process_connections_log_in_their_span() {
    let capture = Capture::default();
    let _guard = capture.install();
    let server = TestServer::new(Server::new(routes![echo]));
    let mut sockets = [
        within(server.connect("/echo/lobby")).await.unwrap(),
        within(server.connect("/echo/kitchen")).await.unwrap(),
    ];
    exchange(&mut sockets).await;
    assert_connection_fields(&capture, |peer| peer.starts_with("127.0.0.1:"));
}
