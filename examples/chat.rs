//! A chat with rooms: `/chat/{room}` is a class-style route whose members hear every text any
//! member of the room sends, on every server; `/` serves a page that joins a room and shows
//! the messages live. The rooms keep a history: a page that reconnects (its server restarted,
//! its network changed) is sent what it missed, once and in order, before any live message, or
//! told that it cannot be caught up. The page talks through `/ws-routes.js`, the browser module
//! that reconnects and resumes (`examples/pages/ws-routes.js`).
//!
//! ```text
//! cargo run --example chat -- --addr 127.0.0.1:8765
//! # open http://127.0.0.1:8765/ in two browser tabs
//! ```
//!
//! Several servers share their rooms through Redis:
//!
//! ```text
//! cargo run --example chat -- --addr 127.0.0.1:8765 --redis redis://127.0.0.1:6379/
//! cargo run --example chat -- --addr 127.0.0.1:8766 --redis redis://127.0.0.1:6379/ \
//!     --origin http://127.0.0.1:8765
//! # open http://127.0.0.1:8765/?servers=127.0.0.1:8765,127.0.0.1:8766
//! ```
//!
//! or through a Redis Cluster, given some of its nodes:
//!
//! ```text
//! cargo run --example chat -- --redis-cluster redis://127.0.0.1:7000/,redis://127.0.0.1:7001/
//! ```
//!
//! Given several `servers`, the page moves to the next at once when its server goes away
//! (SIGTERM closes with 1012, service restart) or dies, and recovers its room there.
//!
//! Clients and the server speak typed JSON events, `{"type": ...}` (`ClientEvent` and
//! `ServerEvent` below): a client joins with `{"type":"join","name":..}` and speaks with
//! `{"type":"say","text":..}`, or whispers to one name with `{"type":"whisper","to":..,
//! "text":..}`; members hear `message`, `joined`, `left`, `presence` (how many members the
//! room has and their names, on every server) and `whisper` (to them alone, from whichever
//! server its sender is on). A client that sends anything else is closed with
//! 1007 and serde's error as reason, while the others go on chatting. Safe to copy: only the
//! page's own origin may connect from a browser, messages are capped at 4 KiB (1009), and a
//! client that sends more than 20 messages at once or 5 a second on average (the server's
//! `RateLimit`) is closed with 1008. The
//! protocol's AsyncAPI document is at `http://127.0.0.1:8765/asyncapi.json`.

mod common;

use std::process::ExitCode;

use clap::Parser;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ws_routes::asyncapi::Info;
use ws_routes::rooms::{History, Recovery, Resume};
use ws_routes::server::Pages;
use ws_routes::{
    Close, CloseCode, CloseFrame, Json, RateLimit, Rooms, Routes, Sender, Server, Session, State,
    route, routes,
};

#[derive(Parser)]
#[command(about = "A chat with rooms, its web page, and an optional Redis backplane")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    addr: String,
    /// Share rooms with the other servers on this Redis (`redis://host:port/`).
    #[arg(long)]
    redis: Option<String>,
    /// Share rooms through this Redis Cluster instead: some of its nodes, comma-separated
    /// (`redis://host:port/,redis://host:port/`).
    #[arg(long, value_delimiter = ',', conflicts_with = "redis")]
    redis_cluster: Vec<String>,
    /// Origins whose pages may chat (repeat for several). Default: this server's own page, as
    /// `http://ADDR` and `http://localhost:PORT`; programs that send no `Origin` are allowed.
    #[arg(long = "origin")]
    origins: Vec<String>,
}

/// The page at `/`, embedded in the binary.
const PAGE: &str = include_str!("pages/chat.html");

/// The browser module the page imports, embedded too.
const MODULE: &str = include_str!("pages/ws-routes.js");

/// The longest name kept, in characters.
const MAX_NAME: usize = 32;

/// The largest message a client may send, in bytes: past it, the connection closes with 1009.
const MAX_MESSAGE: usize = 4 << 10;

/// How many messages a client may send per second on average, and in one burst: past them, it
/// is closed with 1008, so one member cannot flood the room.
const MESSAGES_PER_SECOND: u32 = 5;
const MESSAGES_IN_A_BURST: u32 = 20;

/// What a client sends.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientEvent {
    /// Joins the room under a name (once, first).
    Join { name: String },
    /// Says something to the room.
    Say { text: String },
    /// Says something to every connection of one name, on every server.
    Whisper { to: String, text: String },
}

/// What the server sends the members of a room.
#[derive(Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ServerEvent {
    /// A member said something.
    Message { name: String, text: String },
    /// A member joined.
    Joined { name: String },
    /// A member left.
    Left { name: String },
    /// How many members the room has, and their names, on every server.
    Presence { count: usize, names: Vec<String> },
    /// A member said something to this one alone.
    Whisper { name: String, text: String },
}

/// One member of one room: an instance per connection.
struct Chat {
    room: String,
    /// The position the client claims in its room, if it is reconnecting.
    resume: Resume,
    /// Set by the client's `join`.
    name: Option<String>,
    rooms: Rooms,
    me: Option<Sender>,
}

/// A chat room: join with a name, then say things; every member of the room hears them, and
/// hears who comes and goes.
#[route("/chat/{room}", sends = ServerEvent)]
impl Chat {
    fn accept(room: String, resume: Resume, State(rooms): State<Rooms>) -> Self {
        Chat {
            room,
            resume,
            name: None,
            rooms,
            me: None,
        }
    }

    async fn on_message(
        &mut self,
        session: &mut Session,
        Json(event): Json<ClientEvent>,
    ) -> Result<(), Close> {
        match event {
            ClientEvent::Join { name } => {
                if self.name.is_some() {
                    return Err(Close::new(CloseCode::POLICY, "joined already"));
                }
                let name: String = name.trim().chars().take(MAX_NAME).collect();
                let name = if name.is_empty() {
                    "anonymous".into()
                } else {
                    name
                };
                let me = session.sender();
                // Sends the client the join's outcome, then what it missed since its claim.
                let since = self.resume.since(&self.room);
                if let Some(Recovery::Lost(why)) = self.rooms.join_since(&self.room, &me, since) {
                    tracing::info!(room = self.room, ?why, "a member could not be caught up");
                }
                // Listed by name in the room's presence, and reached by name by a whisper.
                if let Err(error) = self.rooms.track(&self.room, &me, &name, &()) {
                    tracing::error!(%error, "presence without metadata is refused");
                }
                self.rooms.bind_user(&me, &name);
                self.me = Some(me);
                self.name = Some(name.clone());
                self.announce(ServerEvent::Joined { name }).await;
            }
            ClientEvent::Say { text } => {
                let Some(name) = self.name.clone() else {
                    return Err(Close::new(CloseCode::POLICY, "join first"));
                };
                self.broadcast(&ServerEvent::Message { name, text });
            }
            ClientEvent::Whisper { to, text } => {
                let Some(name) = self.name.clone() else {
                    return Err(Close::new(CloseCode::POLICY, "join first"));
                };
                let whisper = ServerEvent::Whisper { name, text };
                if let Err(error) = self.rooms.to_user_json(&to, &whisper) {
                    tracing::error!(%error, "an event did not serialize");
                }
            }
        }
        Ok(())
    }

    async fn on_close(&mut self, _frame: Option<CloseFrame>) {
        // Leaving is automatic once the connection is gone; leaving now lets the count below
        // leave this member out already.
        if let (Some(me), Some(name)) = (&self.me, self.name.take()) {
            self.rooms.leave(&self.room, me);
            self.announce(ServerEvent::Left { name }).await;
        }
    }
}

impl Chat {
    fn broadcast(&self, event: &ServerEvent) {
        // Written once for every member; a `ServerEvent` always serializes.
        if let Err(error) = self.rooms.broadcast_json(&self.room, event) {
            tracing::error!(%error, "an event did not serialize");
        }
    }

    /// Tells the room who came or went, and who is here now.
    async fn announce(&self, event: ServerEvent) {
        self.broadcast(&event);
        let present = match self.rooms.present(&self.room).await {
            Ok(present) => present,
            Err(error) => {
                tracing::warn!(%error, "presence across servers unavailable; listing this one");
                self.rooms.local_present(&self.room)
            }
        };
        let names = present.keys().map(str::to_owned).collect();
        let count = present.entries();
        self.broadcast(&ServerEvent::Presence { count, names });
    }
}

/// The routes, as the server serves them and the AsyncAPI document describes them.
const ROUTES: Routes = routes![Chat];

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    common::init_logging();
    common::exit_status("chat", serve(cli).await)
}

async fn serve(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    // Every server gives the rooms the same history: two minutes, up to 1,000 messages.
    let rooms = match (&cli.redis, cli.redis_cluster.as_slice()) {
        (Some(url), _) => Rooms::builder().redis(url),
        (None, []) => Rooms::builder(),
        (None, nodes) => Rooms::builder().redis_cluster(nodes),
    }
    .history(History::new())
    .build()?;
    // The route joins with `join_since`: its document describes the recovery envelope.
    let info = Info::new("ws-routes chat", env!("CARGO_PKG_VERSION")).recovering("Chat");
    let asyncapi = ROUTES.asyncapi(info);
    let pages = Pages::new()
        .page("/", "text/html; charset=utf-8", PAGE)
        .page("/ws-routes.js", "text/javascript; charset=utf-8", MODULE)
        .page("/asyncapi.json", "application/json", asyncapi.to_string());
    let listener = tokio::net::TcpListener::bind(&cli.addr).await?;
    let addr = listener.local_addr()?;
    let origins = match cli.origins.as_slice() {
        [] => common::own_origins(addr),
        given => given.to_vec(),
    };
    let server = Server::new(ROUTES)
        .with_state(rooms)
        .fallback(pages)
        .max_message_size(MAX_MESSAGE)
        .rate_limit(RateLimit::new().messages(MESSAGES_PER_SECOND, MESSAGES_IN_A_BURST))
        .allowed_origins(origins)
        .allow_missing_origin(true)
        // A rolling deploy: SIGTERM tells clients to reconnect at once, to another server.
        .shutdown_close_code(CloseCode::RESTART)
        .listen(listener)?;
    // Listening for SIGINT and SIGTERM before saying where it listens.
    let signal = ws_routes::server::shutdown_signal();
    println!("chat listening on http://{addr}/ and ws://{addr}/chat/ROOM");
    server.run_until(signal).await?;
    Ok(())
}
