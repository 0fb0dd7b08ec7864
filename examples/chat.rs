//! A chat with rooms: `/chat/{room}` is a class-style route whose members hear every text any
//! member of the room sends, on every server; `/` serves a page that joins a room and shows
//! the messages live.
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
//! cargo run --example chat -- --addr 127.0.0.1:8766 --redis redis://127.0.0.1:6379/
//! ```
//!
//! Every message to a client is JSON: `{"type":"message","name":..,"text":..}`,
//! `{"type":"joined"|"left","name":..}` and `{"type":"presence","count":..}` (members of the
//! room on every server).

mod common;

use std::process::ExitCode;

use clap::Parser;
use serde_json::json;
use ws_routes::{CloseFrame, Pages, Query, Rooms, Sender, Server, Session, State, route, routes};

#[derive(Parser)]
#[command(about = "A chat with rooms, its web page, and an optional Redis backplane")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    addr: String,
    /// Share rooms with the other servers on this Redis (`redis://host:port/`).
    #[arg(long)]
    redis: Option<String>,
}

/// The page at `/`, embedded in the binary.
const PAGE: &str = include_str!("pages/chat.html");

/// The longest name kept, in characters.
const MAX_NAME: usize = 32;

/// One member of one room: an instance per connection.
struct Chat {
    room: String,
    name: String,
    rooms: Rooms,
    me: Option<Sender>,
}

#[route("/chat/{room}")]
impl Chat {
    fn accept(room: String, query: Query, State(rooms): State<Rooms>) -> Self {
        let name: String = query
            .get("name")
            .map(|name| name.trim().chars().take(MAX_NAME).collect())
            .filter(|name: &String| !name.is_empty())
            .unwrap_or_else(|| "anonymous".into());
        Chat {
            room,
            name,
            rooms,
            me: None,
        }
    }

    async fn on_open(&mut self, session: &mut Session) {
        let me = session.sender();
        self.rooms.join(&self.room, &me);
        self.me = Some(me);
        self.announce("joined").await;
    }

    async fn on_text(&mut self, _session: &mut Session, text: String) {
        let message = json!({ "type": "message", "name": self.name, "text": text });
        self.rooms.broadcast(&self.room, message.to_string());
    }

    async fn on_close(&mut self, _frame: Option<CloseFrame>) {
        // Leaving is automatic once the connection is gone; leaving now lets the count below
        // leave this member out already.
        if let Some(me) = &self.me {
            self.rooms.leave(&self.room, me);
        }
        self.announce("left").await;
    }
}

impl Chat {
    /// Tells the room who came or went, and how many are here now.
    async fn announce(&self, what: &str) {
        let event = json!({ "type": what, "name": self.name });
        self.rooms.broadcast(&self.room, event.to_string());
        let count = match self.rooms.count(&self.room).await {
            Ok(count) => count,
            Err(error) => {
                tracing::warn!(%error, "presence across servers unavailable; counting this one");
                self.rooms.local_count(&self.room)
            }
        };
        let presence = json!({ "type": "presence", "count": count });
        self.rooms.broadcast(&self.room, presence.to_string());
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    common::init_logging();
    common::exit_status("chat", serve(cli).await)
}

async fn serve(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let rooms = match &cli.redis {
        Some(url) => Rooms::builder().redis(url).build()?,
        None => Rooms::new(),
    };
    let server = Server::new(routes![Chat])
        .with_state(rooms)
        .fallback(Pages::new().page("/", "text/html; charset=utf-8", PAGE))
        .bind(&cli.addr)
        .await?;
    let addr = server.local_addr()?;
    println!("chat listening on http://{addr}/ and ws://{addr}/chat/ROOM");
    server.run_until(ws_routes::shutdown_signal()).await?;
    Ok(())
}
