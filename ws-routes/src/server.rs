//! The server: accept loop, handshake, routing, one task per connection, and its settings.

use std::any::Any;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{Instrument, debug, error, info, warn};

use crate::close::{self, CloseCode, CloseFrame};
use crate::fallback::{self, Fallback};
use crate::handler::{BoxFuture, Connection, Entry, Outcome};
use crate::handshake::{self, ReadError};
use crate::http::StatusCode;
use crate::matcher::Matcher;
use crate::path::RoutePath;
use crate::request::{Reject, Request, States};
use crate::route::{Route, Routes};
use crate::socket::{Stream, WebSocket};

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

/// The server's settings; every field has a safe default.
#[derive(Debug, Clone)]
struct Config {
    max_message_size: usize,
    max_frame_size: usize,
    handshake_timeout: Duration,
    close_timeout: Duration,
    max_request_head: usize,
    read_buffer_size: usize,
    outgoing_queue: usize,
    unmatched: Unmatched,
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
        }
    }
}

impl Config {
    fn websocket(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            .write_buffer_size(0)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }
}

/// A WebSocket server for a route table, with its settings.
///
/// ```no_run
/// use std::time::Duration;
/// use ws_routes::{route, routes, Server, Unmatched, WebSocket};
///
/// #[route("/echo")]
/// async fn echo(mut ws: WebSocket) {
///     while let Some(Ok(message)) = ws.recv().await {
///         if message.is_data() && ws.send(message).await.is_err() {
///             break;
///         }
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let server = Server::new(routes![echo])
///     .max_message_size(64 << 10)
///     .handshake_timeout(Duration::from_secs(5))
///     .unmatched(Unmatched::NotFound)
///     .bind("127.0.0.1:0")
///     .await?;
/// println!("listening on ws://{}", server.local_addr()?);
/// server.run().await
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    routes: Routes,
    config: Config,
    states: States,
    fallback: Option<fallback::Shared>,
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
    /// [`Sender`](crate::Sender)s, before senders have to wait. Default: 32.
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

    /// The largest single frame accepted, in bytes. Default: 1 MiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.config.max_frame_size = bytes;
        self
    }

    /// How long a client has to send its handshake request; a slower one is disconnected.
    /// Default: 10 seconds.
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

    /// The size of each connection's read buffer, which grows on demand for larger
    /// messages. Default: 4 KiB.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.config.read_buffer_size = bytes;
        self
    }

    /// What happens to a handshake whose path matches no route. Default:
    /// [`Unmatched::Close4040`].
    pub fn unmatched(mut self, unmatched: Unmatched) -> Self {
        self.config.unmatched = unmatched;
        self
    }

    /// Answers plain HTTP requests (those that do not ask for a WebSocket upgrade) with
    /// `fallback`, such as [`Pages`](crate::Pages) serving the page that opens the
    /// WebSockets, so that one port serves both. Default: none, and such a request gets
    /// `426 Upgrade Required`.
    pub fn fallback(mut self, fallback: impl Fallback) -> Self {
        self.fallback = Some(fallback::Shared::new(fallback));
        self
    }

    /// Binds a TCP listener to `addr`.
    ///
    /// Fails, before binding, when a route takes a [`State<T>`](crate::State) that the server
    /// was not given with [`with_state`](Self::with_state).
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Listening> {
        self.check_states()?;
        self.listen(TcpListener::bind(addr).await?)
    }

    /// Serves on a listener the caller has bound. Fails like [`bind`](Self::bind) on a
    /// missing state.
    pub fn listen(self, listener: TcpListener) -> io::Result<Listening> {
        self.check_states()?;
        let shared = Shared {
            matcher: Matcher::new(&self.routes),
            routes: self.routes,
            config: self.config,
            states: Arc::new(self.states),
            fallback: self.fallback,
        };
        Ok(Listening {
            listener,
            shared: Arc::new(shared),
        })
    }

    fn check_states(&self) -> io::Result<()> {
        for route in self.routes.iter() {
            for key in route.requires.iter().filter_map(|required| required()) {
                if !self.states.contains(key) {
                    let message = format!(
                        "route `{}` (\"{}\") takes `State<{}>`, but the server has none: \
                         add it with `Server::with_state`",
                        route.handler,
                        route.pattern,
                        (key.type_name)()
                    );
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
                }
            }
        }
        Ok(())
    }
}

/// Serves `routes` on `addr` with the default settings until the process ends.
///
/// ```no_run
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
    Server::new(routes).bind(addr).await?.run().await
}

/// A bound server, ready to [`run`](Self::run).
#[derive(Debug)]
pub struct Listening {
    listener: TcpListener,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    matcher: Matcher,
    routes: Routes,
    config: Config,
    states: Arc<States>,
    fallback: Option<fallback::Shared>,
}

impl Listening {
    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections and serves each on its own task, until the future is dropped.
    /// Failing to accept one connection (too many open files, say) is logged and does not stop
    /// the server.
    pub async fn run(self) -> io::Result<()> {
        loop {
            match self.listener.accept().await {
                Ok((tcp, peer)) => {
                    let shared = Arc::clone(&self.shared);
                    let span = tracing::info_span!("connection", %peer);
                    tokio::spawn(serve_connection(shared, tcp, peer).instrument(span));
                }
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn serve_connection(shared: Arc<Shared>, mut tcp: TcpStream, peer: SocketAddr) {
    // Nagle's algorithm only delays small WebSocket frames.
    let _ = tcp.set_nodelay(true);
    let accepted = match timeout(
        shared.config.handshake_timeout,
        handshake(&shared, &mut tcp, peer),
    )
    .await
    {
        Ok(Ok(Some(accepted))) => accepted,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => return debug!(%error, "handshake failed"),
        Err(_) => return debug!("handshake timed out"),
    };
    let config = Some(shared.config.websocket());
    let stream = MaybeTlsStream::Plain(tcp);
    let stream =
        WebSocketStream::from_partially_read(stream, accepted.leftover, Role::Server, config).await;
    let finished = match accepted.target {
        Target::Route {
            route,
            request,
            run,
        } => run_handler(route, request, run, stream, shared.config.outgoing_queue).await,
        Target::NoRoute { path } => {
            info!(path, "no route");
            Some((
                stream,
                close::frame(close::NO_ROUTE, &format!("no route for {path}")),
            ))
        }
    };
    if let Some((stream, frame)) = finished {
        close_stream(stream, frame, shared.config.close_timeout).await;
    }
}

/// A handshake answered with `101 Switching Protocols`.
struct Accepted {
    /// Bytes the client sent after its request.
    leftover: Vec<u8>,
    target: Target,
}

enum Target {
    Route {
        route: &'static Route,
        request: Request,
        run: Run,
    },
    NoRoute {
        path: String,
    },
}

/// What runs the connection once upgraded.
enum Run {
    Function(fn(Connection) -> BoxFuture<Outcome>),
    Admitted(Box<dyn FnOnce(Connection) -> BoxFuture<Outcome> + Send>),
}

/// Reads the handshake request, routes it, runs the route's `accept` hook if it has one, and
/// answers. `Ok(None)` when the answer was an HTTP refusal.
async fn handshake(
    shared: &Shared,
    tcp: &mut TcpStream,
    peer: SocketAddr,
) -> io::Result<Option<Accepted>> {
    let mut head = match handshake::read_head(tcp, shared.config.max_request_head).await {
        Ok(head) => head,
        Err(ReadError::Io(error)) => return Err(error),
        Err(ReadError::Malformed) => {
            return refuse(
                tcp,
                Reject::new(StatusCode::BAD_REQUEST).body("malformed HTTP request\n"),
            )
            .await;
        }
        Err(ReadError::TooLarge) => {
            return refuse(
                tcp,
                Reject::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
            )
            .await;
        }
    };
    if let Some(fallback) = &shared.fallback {
        if !handshake::is_upgrade(&head) {
            debug!(path = %head.target, "plain HTTP request: fallback");
            fallback.answer(tcp, head).await?;
            return Ok(None);
        }
    }
    let accept = match handshake::accept_key(&head) {
        Ok(accept) => accept,
        Err(refusal) => return refuse(tcp, refusal).await,
    };
    let leftover = std::mem::take(&mut head.leftover);
    let (path, query) = head.path_and_query();
    let target = match shared
        .matcher
        .find(path)
        .map(|index| &shared.routes.table()[index])
    {
        None if shared.config.unmatched == Unmatched::NotFound => {
            info!(path, "no route");
            return refuse(
                tcp,
                Reject::new(StatusCode::NOT_FOUND).body("no route for this path\n"),
            )
            .await;
        }
        None => Target::NoRoute {
            path: path.to_owned(),
        },
        Some(route) => {
            let route_path = RoutePath::new(route, path.to_owned(), query.map(str::to_owned));
            let request = Request::new(route_path, head.headers, peer, Arc::clone(&shared.states));
            match route.entry {
                Entry::Upgrade(entry) => Target::Route {
                    route,
                    request,
                    run: Run::Function(entry),
                },
                Entry::Accept(accept) => {
                    match AssertUnwindSafe(accept(request)).catch_unwind().await {
                        Ok(Ok(admitted)) => Target::Route {
                            route,
                            request: admitted.request,
                            run: Run::Admitted(admitted.run),
                        },
                        Ok(Err(refusal)) => return refuse(tcp, refusal).await,
                        Err(panic) => {
                            error!(
                                handler = route.handler,
                                panic = panic_message(&*panic),
                                "accept hook panicked"
                            );
                            return refuse(tcp, Reject::new(StatusCode::INTERNAL_SERVER_ERROR))
                                .await;
                        }
                    }
                }
            }
        }
    };
    handshake::write_switching(tcp, &accept).await?;
    Ok(Some(Accepted { leftover, target }))
}

async fn refuse<T>(tcp: &mut TcpStream, refusal: Reject) -> io::Result<Option<T>> {
    debug!(status = refusal.status().as_u16(), "handshake refused");
    handshake::write_refusal(tcp, &refusal).await?;
    Ok(None)
}

/// Runs the route's handler and returns the stream with the frame to close it with, once the
/// handler (and whatever it handed the socket to) has let go of it.
async fn run_handler(
    route: &'static Route,
    request: Request,
    run: Run,
    stream: Stream,
    queue_capacity: usize,
) -> Option<(Stream, CloseFrame)> {
    info!(
        path = request.path().path(),
        route = route.pattern,
        "websocket opened"
    );
    let (home, returned) = oneshot::channel();
    let connection = Connection::new(WebSocket::server(stream, home, queue_capacity), request);
    let running = match run {
        Run::Function(entry) => entry(connection),
        Run::Admitted(run) => run(connection),
    };
    let frame = match AssertUnwindSafe(running).catch_unwind().await {
        Ok(Outcome::Finished) => close::frame(CloseCode::Normal, ""),
        Ok(Outcome::Closed(frame)) => frame,
        Ok(Outcome::Failed(error)) => {
            error!(handler = route.handler, %error, "handler failed");
            close::frame(CloseCode::Error, "internal error")
        }
        Err(panic) => {
            error!(
                handler = route.handler,
                panic = panic_message(&*panic),
                "handler panicked"
            );
            close::frame(CloseCode::Error, "internal error")
        }
    };
    returned.await.ok().map(|stream| (stream, frame))
}

/// Sends `frame` (unless the handler closed already) and waits, up to `limit`, for the
/// client's answer.
async fn close_stream(mut stream: Stream, frame: CloseFrame, limit: Duration) {
    let code = u16::from(frame.code);
    let closing = async {
        let _ = stream.close(Some(frame)).await;
        while let Some(Ok(_)) = stream.next().await {}
    };
    if timeout(limit, closing).await.is_err() {
        debug!("client did not finish the close handshake in time");
    }
    debug!(code, "websocket closed");
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "opaque panic payload"
    }
}
