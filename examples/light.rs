//! The light switch of the write-up that started ws-routes, served and driven in Rust.
//!
//! ```text
//! cargo run --example light                      # serve on 127.0.0.1:8765
//! cargo run --example light -- --class           # the same switch as a class-style route
//! cargo run --example light -- client ws://127.0.0.1:8765/light/on
//! ```
//!
//! `/light/on` answers "the light has turned on", `/light/off` "the light has turned off", any
//! other `/light/{status}` "invalid params", each after a simulated switching delay; every other
//! path is closed with code 4040.
//!
//! The light has live state: a client of `/light/watch` is told the light's state ("on",
//! "off" or "unknown") when it connects and the moment any client switches it. `/` serves a
//! page, on the same port, that shows the light and its switch.

mod common;

use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use clap::{Parser, Subcommand};
use ws_routes::server::Pages;
use ws_routes::{CloseCode, Rooms, Server, Session, State, WebSocket, route, routes};

#[derive(Parser)]
#[command(
    about = "A light switch served over WebSockets: /light/on, /light/off and /light/watch, a page at /, and its client"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    addr: String,
    /// How long switching the light pretends to take, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    delay_ms: u64,
    /// Serve the class-style version of the switch (same paths, same answers).
    #[arg(long)]
    class: bool,
    /// Origins whose pages may switch the light (repeat for several). Default: this server's
    /// own page, as `http://ADDR` and `http://localhost:PORT`. Programs that send no `Origin`
    /// (the client below, Python's `websockets`) are allowed too.
    #[arg(long = "origin")]
    origins: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Connect to URL, send MESSAGE, print the reply (or how the connection closed).
    Client {
        url: String,
        /// The light's address.
        #[arg(default_value = "00-12-4b-01")]
        message: String,
    },
}

/// The switching delay, set once from `--delay-ms`.
static DELAY: OnceLock<Duration> = OnceLock::new();

/// The page at `/`, embedded in the binary.
const PAGE: &str = include_str!("pages/light.html");

/// The room of the clients watching the light.
const WATCHERS: &str = "watchers";

/// The light's live state, shared by every connection.
#[derive(Clone)]
struct Light {
    state: Arc<Mutex<&'static str>>,
    rooms: Rooms,
}

impl Light {
    fn new() -> Self {
        Light {
            state: Arc::new(Mutex::new("unknown")),
            rooms: Rooms::new(),
        }
    }

    /// Operates the light at `address` (pretending, with a delay that holds up only this
    /// connection), tells every watcher, and says what happened.
    async fn switch(&self, status: &str, address: &[u8]) -> &'static str {
        tracing::info!(address = %String::from_utf8_lossy(address), status, "switching the light");
        tokio::time::sleep(*DELAY.get_or_init(Duration::default)).await;
        let (state, reply) = match status {
            "on" => ("on", "the light has turned on"),
            "off" => ("off", "the light has turned off"),
            _ => return "invalid params",
        };
        *self.state.lock().expect("light state") = state;
        self.rooms.broadcast(WATCHERS, state);
        reply
    }

    fn state(&self) -> &'static str {
        *self.state.lock().expect("light state")
    }
}

/// The write-up's handler: a function route, one call per connection.
#[route("/light/{status}")]
async fn light(mut ws: WebSocket, status: String, State(light): State<Light>) {
    while let Some(Ok(message)) = ws.recv().await {
        let reply = light.switch(&status, message.as_bytes()).await;
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

/// The same switch as a class-style route: one instance per connection, built from the path.
struct Switch {
    status: String,
    light: Light,
}

#[route("/light/{status}")]
impl Switch {
    fn accept(status: String, State(light): State<Light>) -> Self {
        Switch { status, light }
    }

    async fn on_text(&mut self, session: &mut Session, address: String) {
        let reply = self.light.switch(&self.status, address.as_bytes()).await;
        let _ = session.send(reply).await;
    }

    async fn on_binary(&mut self, session: &mut Session, address: Vec<u8>) {
        let reply = self.light.switch(&self.status, &address).await;
        let _ = session.send(reply).await;
    }
}

/// Live state: the light's state now, then every change, until the client leaves. (A static
/// segment beats `{status}`, so this route wins over `/light/{status}` for `watch`.)
#[route("/light/watch")]
async fn watch(mut ws: WebSocket, State(light): State<Light>) {
    let me = ws.sender();
    light.rooms.join(WATCHERS, &me);
    // Sent through the queue, so that it cannot overtake a change broadcast meanwhile.
    if me.send(light.state()).await.is_err() {
        return;
    }
    while let Some(Ok(_)) = ws.recv().await {}
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    common::init_logging();
    match cli.command {
        Some(Command::Client { url, message }) => client(&url, message).await,
        None => {
            DELAY.get_or_init(|| Duration::from_millis(cli.delay_ms));
            common::exit_status("light", serve(&cli).await)
        }
    }
}

async fn serve(cli: &Cli) -> std::io::Result<()> {
    let routes = if cli.class {
        routes![Switch, watch]
    } else {
        routes![light, watch]
    };
    let listener = tokio::net::TcpListener::bind(&cli.addr).await?;
    let addr = listener.local_addr()?;
    let origins = match cli.origins.as_slice() {
        [] => common::own_origins(addr),
        given => given.to_vec(),
    };
    let server = Server::new(routes)
        .with_state(Light::new())
        .fallback(Pages::new().page("/", "text/html; charset=utf-8", PAGE))
        .allowed_origins(origins)
        .allow_missing_origin(true)
        .listen(listener)?;
    // Listening for SIGINT and SIGTERM before saying where it listens: a signal sent as soon
    // as that line is read still shuts down gracefully.
    let signal = ws_routes::server::shutdown_signal();
    println!("light switch listening on http://{addr}/ and ws://{addr}");
    server.run_until(signal).await
}

/// The light switch's client, as in the Python original: send the light's address, print the
/// reply; on a close, say so.
async fn client(url: &str, message: String) -> ExitCode {
    let mut ws = match ws_routes::connect(url).await {
        Ok(ws) => ws,
        Err(error) => {
            eprintln!("could not connect to {url}: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = ws.send(message).await {
        eprintln!("could not send: {error}");
        return ExitCode::FAILURE;
    }
    match ws.recv().await {
        Some(Ok(reply)) => {
            println!("{}", reply.as_text().unwrap_or("(a binary reply)"));
            let _ = ws.close(CloseCode::NORMAL, "").await;
            while ws.recv().await.is_some() {}
            return ExitCode::SUCCESS;
        }
        Some(Err(error)) => {
            println!("connection closed error: {error}");
            return ExitCode::FAILURE;
        }
        None => {}
    }
    if let Some(frame) = ws.close_frame() {
        println!(
            "connection closed error: code {} ({})",
            frame.code, frame.reason
        );
        return ExitCode::FAILURE;
    }
    println!("connection closed error");
    ExitCode::FAILURE
}
