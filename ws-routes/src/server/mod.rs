//! The standalone server: the builder with every setting and its safe default, the accept
//! loop, one connection's life (limits, TLS, the handshake with routing, the handler, the
//! close), HTTP fallback ([`Fallback`], [`Pages`]), and graceful shutdown ([`ServerHandle`],
//! [`shutdown_signal`]). With the `tower` feature, mounting: [`WsService`], [`WsLayer`] and the
//! bodies and futures they answer with.

pub(crate) mod connection;
mod fallback;
pub(crate) mod handshake;
pub(crate) mod headers;
#[cfg(feature = "tower")]
mod layer;
mod limits;
mod listening;
#[cfg(feature = "tower")]
mod mount;
mod origin;
pub(crate) mod shutdown;
mod tasks;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;

pub use fallback::{Fallback, Pages};
#[cfg(feature = "tower")]
pub use layer::{LayeredBody, LayeredFuture, WithWebSockets, WsLayer};
pub use listening::Listening;
#[cfg(feature = "tower")]
pub use mount::{ResponseBody, ResponseFuture, WsService};
pub use shutdown::{ServerHandle, shutdown_signal};

use crate::compression::Compression;
use crate::extract::States;
use crate::rate_limit::RateLimit;
use crate::routing::Routes;
use crate::routing::matcher::Matcher;
use crate::socket::{WebSocket, liveness};
#[cfg(feature = "tls")]
use crate::tls::TlsConfig;
use crate::wire::CloseCode;
use crate::wire::engine;
use limits::Limits;
use origin::OriginPattern;

/// What the server does with a handshake whose path matches no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Unmatched {
    /// Accept the upgrade, then close with code 4040 and a reason naming the path, as
    /// websockets-routes does. A browser can read a close code; it cannot read the status of a
    /// failed handshake. The default.
    #[default]
    Close4040,
    /// Refuse the upgrade with HTTP 404.
    NotFound,
}

/// What every connection task of one server shares.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) matcher: Matcher,
    pub(crate) config: Config,
    pub(crate) states: Arc<States>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// What the open connections' liveness registers with, to hear of the shutdown.
    pub(crate) alarms: Arc<shutdown::Alarms>,
    pub(crate) fallback: Option<fallback::SharedFallback>,
}

/// The server's settings; every field has a safe default.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) max_request_head: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) outgoing_queue: usize,
    pub(crate) unmatched: Unmatched,
    pub(crate) keepalive: Option<(Duration, Duration)>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: Option<usize>,
    pub(crate) ipv6_prefix: u8,
    pub(crate) origins: Option<Arc<[OriginPattern]>>,
    /// The first allowed origin that did not parse: `bind` fails with it.
    pub(crate) origin_error: Option<String>,
    pub(crate) allow_missing_origin: bool,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) shutdown_close_code: CloseCode,
    pub(crate) compression: Compression,
    pub(crate) rate_limit: RateLimit,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<TlsConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            max_request_head: 8 << 10,
            read_buffer_size: 4 << 10,
            outgoing_queue: WebSocket::DEFAULT_QUEUE_CAPACITY,
            unmatched: Unmatched::Close4040,
            keepalive: Some((Duration::from_secs(20), Duration::from_secs(20))),
            idle_timeout: None,
            max_connections: 16_384,
            max_connections_per_ip: None,
            ipv6_prefix: 64,
            origins: None,
            origin_error: None,
            allow_missing_origin: false,
            shutdown_timeout: Duration::from_secs(10),
            shutdown_close_code: CloseCode::GOING_AWAY,
            compression: Compression::default(),
            rate_limit: RateLimit::new(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl Config {
    pub(crate) fn engine(&self) -> engine::EngineSettings {
        engine::EngineSettings {
            read_buffer: self.read_buffer_size,
            max_message: self.max_message_size,
            max_frame: self.max_frame_size,
        }
    }

    /// Whether connections start with a TLS handshake.
    pub(crate) fn serves_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        return false;
    }

    pub(crate) fn liveness(&self) -> liveness::LivenessSettings {
        liveness::LivenessSettings {
            keepalive: self.keepalive,
            idle_timeout: self.idle_timeout,
            close_timeout: self.close_timeout,
            shutdown_code: self.shutdown_close_code,
        }
    }
}

/// A WebSocket server for a route table, with its settings.
///
/// ```
/// use std::time::Duration;
/// use ws_routes::{route, routes, Server, WebSocket};
/// use ws_routes::server::Unmatched;
///
/// #[route("/echo")]
/// async fn echo(mut ws: WebSocket) {
///     while let Some(Ok(message)) = ws.recv().await {
///         if ws.send(message).await.is_err() {
///             break;
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::new(routes![echo])
///     .max_message_size(64 << 10)
///     .handshake_timeout(Duration::from_secs(5))
///     .unmatched(Unmatched::NotFound)
///     .bind("127.0.0.1:0")
///     .await?;
/// println!("listening on ws://{}", server.local_addr()?);
/// # let addr = server.local_addr()?;
/// # let handle = server.handle();
/// # let running = tokio::spawn(server.run());
/// # let mut ws = ws_routes::connect(&format!("ws://{addr}/echo")).await?;
/// # ws.send("hello").await?;
/// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("hello"));
/// # let unmatched = ws_routes::connect(&format!("ws://{addr}/nowhere")).await;
/// # assert!(matches!(unmatched, Err(ws_routes::Error::Refused { status, .. }) if status == 404));
/// # handle.shutdown();
/// # running.await??;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    routes: Routes,
    config: Config,
    states: States,
    fallback: Option<fallback::SharedFallback>,
}

impl Server {
    /// A server for `routes` with the default settings.
    pub fn new(routes: Routes) -> Self {
        Server {
            routes,
            config: Config::default(),
            states: States::default(),
            fallback: None,
        }
    }

    /// Shares `state` with every handler and hook, which take it as a
    /// [`State<T>`](crate::State) argument. Call it once per type; a second value of the same
    /// type replaces the first.
    pub fn with_state<T: Clone + Send + Sync + 'static>(mut self, state: T) -> Self {
        self.states.insert(state);
        self
    }

    /// How many messages may wait in a connection's outgoing queue, behind its
    /// [`Sender`](crate::Sender)s, before `send` has to wait (and `try_send` fails with
    /// [`Error::QueueFull`](crate::Error::QueueFull)). Broadcasts from [`Rooms`](crate::Rooms)
    /// are bounded in bytes instead (see [`SlowConsumer`](crate::rooms::SlowConsumer)). Default: 32.
    pub fn outgoing_queue(mut self, messages: usize) -> Self {
        self.config.outgoing_queue = messages;
        self
    }

    /// The largest message accepted, in bytes; a larger one closes the connection with 1009.
    /// Default: 1 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// permessage-deflate: whether clients that offer it get compressed messages, and with
    /// which settings; [`Compression::disabled()`] turns it off. On by default, with the
    /// settings [`Compression`] documents; a route can turn it off for itself
    /// (`#[route("/feed", compression = false)]`).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.config.compression = compression;
        self
    }

    /// The largest single frame accepted, in bytes. Default: 1 MiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.config.max_frame_size = bytes;
        self
    }

    /// How long a client has to send its handshake request; a slower one is disconnected.
    /// The time covers the TLS handshake and the route's `accept` hook too. Mounted with
    /// [`into_service`](Self::into_service), where the HTTP server reads the request, it
    /// bounds the checks and the hook, and a handshake that overruns it gets
    /// `408 Request Timeout`. Default: 10 seconds.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// How long the server waits for the client to answer its close frame. Default: 5 seconds.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// The largest handshake request head, in bytes; a larger one gets HTTP 431.
    /// Default: 8 KiB.
    pub fn max_request_head(mut self, bytes: usize) -> Self {
        self.config.max_request_head = bytes;
        self
    }

    /// How many bytes a connection reads from its socket at a time. Default: 4 KiB.
    ///
    /// The buffer they are read into is only held while data is arriving: an idle connection
    /// keeps no read buffer, a message's buffer lives while the message arrives, and the rest
    /// of a large frame is read straight into its message.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.config.read_buffer_size = bytes;
        self
    }

    /// Pings every client every `interval` and closes (1011, "keepalive ping timeout") one
    /// that has not answered within `timeout`; [`WebSocket::latency`] reports the round trip.
    /// Pings go out while the handler waits in `recv`. Default: 20 s and 20 s, as Python's
    /// `websockets`.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.config.keepalive = Some((interval, timeout));
        self
    }

    /// Turns keepalive pings off.
    pub fn no_keepalive(mut self) -> Self {
        self.config.keepalive = None;
        self
    }

    /// Limits what each client may send on its connection, in messages and bytes a second;
    /// one that sends past it is closed with 1008 (see [`RateLimit`]). Default: no limit.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.config.rate_limit = limit;
        self
    }

    /// Closes (1000, "idle timeout") a connection on which the client has sent nothing for
    /// `timeout`. Default: none.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = Some(timeout);
        self
    }

    /// The most connections held at once; past it, new ones get HTTP 503. Default: 16,384.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.config.max_connections = connections;
        self
    }

    /// The most connections from one client at once; past it, new ones are refused (HTTP
    /// 429, written without waiting, and closed at once). Default: no limit.
    ///
    /// A client is an IPv4 address (IPv4-mapped IPv6 addresses count as IPv4), or an IPv6
    /// network of [`ipv6_prefix`](Self::ipv6_prefix) bits, since one IPv6 host usually holds a
    /// whole /64. Behind a reverse proxy every client shares the proxy's address: keying by a
    /// forwarded address is not supported (a header any client can forge would let it dodge
    /// the limit), so set the per-client limit at the proxy instead.
    pub fn max_connections_per_ip(mut self, connections: usize) -> Self {
        self.config.max_connections_per_ip = Some(connections);
        self
    }

    /// How many leading bits of an IPv6 address make one client for
    /// [`max_connections_per_ip`](Self::max_connections_per_ip) (at most 128). Default: 64.
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.config.ipv6_prefix = bits.min(128);
        self
    }

    /// Accepts handshakes only from pages on these origins; any other `Origin` gets HTTP 403
    /// before the upgrade. This is the defence against cross-site WebSocket hijacking.
    ///
    /// A pattern is `scheme://host[:port]`: exact (`https://app.example.com`), any subdomain
    /// with a whole leading `*.` label (`https://*.example.com`, which does not match
    /// `https://example.com`), or any port with `:*` (`http://localhost:*`). A malformed
    /// pattern (a path, `*example.com`) makes [`bind`](Self::bind) fail with a message naming
    /// it. Requests without `Origin` come from programs, not browser pages; with an allow-list
    /// they are refused (403) unless [`allow_missing_origin`](Self::allow_missing_origin) says
    /// otherwise, as in Python's `websockets`. Default: any origin.
    pub fn allowed_origins<S: AsRef<str>>(mut self, origins: impl IntoIterator<Item = S>) -> Self {
        let mut patterns = Vec::new();
        for origin in origins {
            match OriginPattern::parse(origin.as_ref()) {
                Ok(pattern) => patterns.push(pattern),
                Err(error) => {
                    self.config.origin_error.get_or_insert(error);
                }
            }
        }
        self.config.origins = Some(patterns.into());
        self
    }

    /// With [`allowed_origins`](Self::allowed_origins), also accepts requests that carry no
    /// `Origin` header (programs such as the crate's own client, not browser pages).
    /// Default: refused.
    pub fn allow_missing_origin(mut self, allow: bool) -> Self {
        self.config.allow_missing_origin = allow;
        self
    }

    /// How long a graceful shutdown lets handlers finish before cancelling them.
    /// Default: 10 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// The close code a graceful shutdown gives the connections. Default:
    /// [`CloseCode::GOING_AWAY`] (1001). In a rolling deploy, where another server takes the
    /// clients over, [`CloseCode::RESTART`] (1012, service restart) tells them to reconnect at
    /// once: [`Client::reconnecting_to`](crate::Client::reconnecting_to) and the browser module
    /// `examples/pages/ws-routes.js` move to their next URL without a wait on either code.
    pub fn shutdown_close_code(mut self, code: CloseCode) -> Self {
        self.config.shutdown_close_code = code;
        self
    }

    /// Serves `wss://`: every connection starts with a TLS handshake (within the handshake
    /// timeout).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// What happens to a handshake whose path matches no route. Default:
    /// [`Unmatched::Close4040`].
    pub fn unmatched(mut self, unmatched: Unmatched) -> Self {
        self.config.unmatched = unmatched;
        self
    }

    /// Answers plain HTTP requests (those that do not ask for a WebSocket upgrade) with
    /// `fallback`, such as [`Pages`] serving the page that opens the
    /// WebSockets, so that one port serves both. Default: none, and such a request gets
    /// `426 Upgrade Required`.
    pub fn fallback(mut self, fallback: impl Fallback) -> Self {
        self.fallback = Some(fallback::SharedFallback::new(fallback));
        self
    }

    /// Binds a TCP listener to `addr`.
    ///
    /// Fails, before binding, when a route takes a [`State<T>`](crate::State) that the server
    /// was not given with [`with_state`](Self::with_state) (a [`MissingState`](crate::error::MissingState)
    /// inside the error), or when an [allowed origin](Self::allowed_origins) is malformed.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Listening> {
        self.check()?;
        Ok(self.serve_on(TcpListener::bind(addr).await?))
    }

    /// Serves on a listener the caller has bound. Fails like [`bind`](Self::bind): when a
    /// route takes a state the server was not given, or an allowed origin is malformed.
    pub fn listen(self, listener: TcpListener) -> io::Result<Listening> {
        self.check()?;
        Ok(self.serve_on(listener))
    }

    /// The bound server, its states checked.
    fn serve_on(self, listener: TcpListener) -> Listening {
        let (shared, handle) = self.into_context();
        Listening::new(listener, shared, handle)
    }

    /// What every connection shares, and the handle that shuts them down: for a bound server,
    /// a mounted route table and the test server alike.
    pub(crate) fn into_context(self) -> (Arc<Context>, ServerHandle) {
        self.config.compression.warn_if_unoptimised();
        let (handle, connections, idle) = ServerHandle::new();
        let limits = Limits::new(
            connections,
            idle,
            self.config.max_connections,
            self.config.max_connections_per_ip,
            self.config.ipv6_prefix,
        );
        let shared = Context {
            matcher: Matcher::new(self.routes),
            states: Arc::new(self.states),
            limits: Arc::new(limits),
            shutdown: handle.subscribe(),
            alarms: handle.alarms(),
            config: self.config,
            fallback: self.fallback,
        };
        (Arc::new(shared), handle)
    }

    /// What `bind` checks before binding: every state the routes take is here, and every
    /// allowed origin parsed.
    pub(crate) fn check(&self) -> io::Result<()> {
        if let Some(missing) = self.states.first_missing(self.routes) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, missing));
        }
        if let Some(error) = &self.config.origin_error {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, error.clone()));
        }
        Ok(())
    }
}

/// Serves `routes` on `addr` with the default settings until SIGINT or SIGTERM, then shuts
/// down gracefully.
///
/// ```no_run
/// # // Not run: it serves the fixed port 8765 until SIGINT or SIGTERM.
/// use ws_routes::{route, routes, WebSocket};
///
/// #[route("/light/{status}")]
/// async fn light(mut ws: WebSocket, status: String) {
///     let _ = ws.send(format!("the light has turned {status}")).await;
/// }
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     ws_routes::serve("127.0.0.1:8765", routes![light]).await
/// }
/// ```
pub async fn serve(addr: impl ToSocketAddrs, routes: Routes) -> io::Result<()> {
    let server = Server::new(routes).bind(addr).await?;
    server.run_until(shutdown_signal()).await
}
