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
use crate::handler::{Connection, Outcome};
use crate::handshake::{self, ReadError, RequestHead, Response};
use crate::http::StatusCode;
use crate::matcher::Matcher;
use crate::path::RoutePath;
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
#[derive(Debug, Clone)]
pub struct Server {
    routes: Routes,
    config: Config,
}

impl Server {
    /// A server for `routes` with the default settings.
    pub fn new(routes: Routes) -> Self {
        Server {
            routes,
            config: Config::default(),
        }
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

    /// Binds a TCP listener to `addr`.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Listening> {
        Ok(self.listen(TcpListener::bind(addr).await?))
    }

    /// Serves on a listener the caller has bound.
    pub fn listen(self, listener: TcpListener) -> Listening {
        let matcher = Matcher::new(&self.routes);
        Listening {
            listener,
            shared: Arc::new(Shared {
                matcher,
                routes: self.routes,
                config: self.config,
            }),
        }
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
    let (mut head, route) = match timeout(
        shared.config.handshake_timeout,
        handshake(&shared, &mut tcp),
    )
    .await
    {
        Ok(Ok(Some(accepted))) => accepted,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => return debug!(%error, "handshake failed"),
        Err(_) => return debug!("handshake timed out"),
    };
    let leftover = std::mem::take(&mut head.leftover);
    let config = Some(shared.config.websocket());
    let stream = WebSocketStream::from_partially_read(
        MaybeTlsStream::Plain(tcp),
        leftover,
        Role::Server,
        config,
    )
    .await;
    let (stream, frame) = match route {
        Some(route) => match run_handler(route, stream, head, peer).await {
            Some(finished) => finished,
            None => return,
        },
        None => {
            let (path, _) = head.path_and_query();
            info!(path, "no route");
            (
                stream,
                close::frame(close::NO_ROUTE, &format!("no route for {path}")),
            )
        }
    };
    close_stream(stream, frame, shared.config.close_timeout).await;
}

/// Reads and answers the handshake request. `Ok(None)` when it was refused with an HTTP
/// response.
async fn handshake(
    shared: &Shared,
    tcp: &mut TcpStream,
) -> io::Result<Option<(RequestHead, Option<&'static Route>)>> {
    let head = match handshake::read_head(tcp, shared.config.max_request_head).await {
        Ok(head) => head,
        Err(ReadError::Io(error)) => return Err(error),
        Err(ReadError::Malformed) => {
            return refuse(
                tcp,
                Response::new(StatusCode::BAD_REQUEST, "malformed HTTP request\n"),
            )
            .await;
        }
        Err(ReadError::TooLarge) => {
            let response = Response::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request head too large\n",
            );
            return refuse(tcp, response).await;
        }
    };
    let accept = match handshake::accept_key(&head) {
        Ok(accept) => accept,
        Err(response) => return refuse(tcp, response).await,
    };
    let (path, _) = head.path_and_query();
    let route = shared
        .matcher
        .find(path)
        .map(|index| &shared.routes.table()[index]);
    if route.is_none() && shared.config.unmatched == Unmatched::NotFound {
        info!(path, "no route");
        return refuse(
            tcp,
            Response::new(StatusCode::NOT_FOUND, "no route for this path\n"),
        )
        .await;
    }
    handshake::write_switching(tcp, &accept).await?;
    Ok(Some((head, route)))
}

async fn refuse<T>(tcp: &mut TcpStream, response: Response) -> io::Result<Option<T>> {
    debug!(status = response.status().as_u16(), "handshake refused");
    response.write(tcp).await?;
    Ok(None)
}

/// Runs the route's handler and returns the stream with the frame to close it with, once the
/// handler (and whatever it handed the socket to) has let go of it.
async fn run_handler(
    route: &'static Route,
    stream: Stream,
    head: RequestHead,
    peer: SocketAddr,
) -> Option<(Stream, CloseFrame)> {
    let (path, query) = head.path_and_query();
    info!(path, route = route.pattern, "websocket opened");
    let route_path = RoutePath::new(route, path.to_owned(), query.map(str::to_owned));
    let (home, returned) = oneshot::channel();
    let connection = Connection::new(
        WebSocket::server(stream, home),
        route_path,
        head.headers,
        peer,
    );
    let outcome = AssertUnwindSafe((route.entry)(connection))
        .catch_unwind()
        .await;
    let frame = match outcome {
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
