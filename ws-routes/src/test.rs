//! Testing without a port: [`TestServer`] serves a route table in process, over
//! [`tokio::io::duplex`](https://docs.rs/tokio/1/tokio/io/fn.duplex.html) pipes, with the same handshake, routing, hooks, state, rooms and
//! limits as a bound [`Server`]; its clients are the crate's own [`WebSocket`]s.
//!
//! ```
//! use ws_routes::test::TestServer;
//! use ws_routes::{route, routes, Server, WebSocket};
//!
//! #[route("/light/{status}")]
//! async fn light(mut ws: WebSocket, status: String) {
//!     while let Some(Ok(_)) = ws.recv().await {
//!         let _ = ws.send(format!("the light has turned {status}")).await;
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ws_routes::Error> {
//! let server = TestServer::new(Server::new(routes![light]));
//! let mut ws = server.connect("/light/on").await?;
//! ws.send("00-12-4b-01").await?;
//! let reply = ws.recv().await.unwrap()?;
//! assert_eq!(reply.as_text(), Some("the light has turned on"));
//! # Ok(())
//! # }
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use tokio::sync::oneshot;
use tracing::Instrument;

use crate::client::Client;
use crate::error::{Error, UrlError};
use crate::http::Uri;
use crate::server::shutdown::within_grace;
use crate::server::{Context, Server, ServerHandle, connection, handshake};
use crate::socket::WebSocket;
use crate::wire::transport::Transport;

/// The bytes each direction of a test connection buffers.
const PIPE_CAPACITY: usize = 64 << 10;

/// A server for a route table that runs in the test's own process and takes connections
/// without a port or a socket: each [`connect`](Self::connect) opens an in-process pipe and
/// runs the server's side of it exactly as a bound server runs a TCP connection (the
/// handshake with routing, origin and subprotocol checks, `accept` hooks and their refusals,
/// states, limits, keepalive, shutdown).
///
/// [`connect`](Self::connect) returns once the route's handler has run up to its first wait
/// (usually `recv`), so what it does before that (joining a room, say) is done: tests need no
/// sleeps. A refusal is [`Error::Refused`] with its status, headers and body; a path that no
/// route matches opens and is closed with 4040, which [`WebSocket::close_frame`] shows once
/// `recv` has returned `None`. Every client's address is `127.0.0.1` with a port of its own.
///
/// ```
/// use ws_routes::test::TestServer;
/// use ws_routes::{route, routes, Client, Error, Rooms, Server, State, WebSocket};
///
/// #[route("/chat/{room}")]
/// async fn chat(mut ws: WebSocket, room: String, State(rooms): State<Rooms>) {
///     rooms.join(&room, &ws.sender());
///     while let Some(Ok(message)) = ws.recv().await {
///         rooms.broadcast(&room, message);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let rooms = Rooms::new();
/// let server = TestServer::new(
///     Server::new(routes![chat])
///         .with_state(rooms.clone())
///         .allowed_origins(["https://app.example.com"]),
/// );
/// let app = Client::new().header("origin", "https://app.example.com");
/// let mut alice = server.connect_with(&app, "/chat/lobby").await?;
/// let mut bob = server.connect_with(&app, "/chat/lobby").await?;
/// assert_eq!(rooms.local_count("lobby"), 2); // both handlers have joined: no sleep needed
///
/// alice.send("hi").await?;
/// assert_eq!(bob.recv().await.unwrap()?.as_text(), Some("hi"));
///
/// let stranger = server.connect("/chat/lobby").await; // no Origin: refused before the upgrade
/// assert!(matches!(stranger, Err(Error::Refused { status, .. }) if status == 403));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TestServer {
    shared: Arc<Context>,
    handle: ServerHandle,
    next_port: AtomicU16,
}

impl TestServer {
    /// A test server with `server`'s routes, states and settings (its TLS and its listener
    /// settings aside: the pipes are plain and in process).
    ///
    /// # Panics
    ///
    /// When [`Server::bind`] would fail before binding: a route takes a state the server was
    /// not given, or an allowed origin is malformed. The message says which.
    pub fn new(server: Server) -> Self {
        if let Err(error) = server.check() {
            panic!("TestServer::new: {error}");
        }
        let (shared, handle) = server.into_context();
        TestServer {
            shared,
            handle,
            next_port: AtomicU16::new(1),
        }
    }

    /// Opens a WebSocket on `path` (with its query string, if any) with the default
    /// [`Client`], and returns once the route's handler has run up to its first wait.
    ///
    /// ```
    /// # use ws_routes::{route, routes, Server, test::TestServer, WebSocket};
    /// # #[route("/light/{status}")]
    /// # async fn light(_ws: WebSocket, status: String) {}
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_routes::Error> {
    /// let server = TestServer::new(Server::new(routes![light]));
    /// let mut ws = server.connect("/nowhere").await?;
    /// assert!(ws.recv().await.is_none());
    /// assert_eq!(ws.close_frame().unwrap().code.as_u16(), 4040);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(&self, path: &str) -> Result<WebSocket, Error> {
        self.connect_with(&Client::new(), path).await
    }

    /// Like [`connect`](Self::connect), with `client`'s headers (`Origin`, `Authorization`,
    /// ...), subprotocols and message size limit.
    ///
    /// ```
    /// # use ws_routes::{route, routes, Client, Server, test::TestServer, WebSocket};
    /// #[route("/chat", protocols = ["chat.v2", "chat.v1"])]
    /// async fn chat(_ws: WebSocket) {}
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_routes::Error> {
    /// let server = TestServer::new(Server::new(routes![chat]));
    /// let ws = server.connect_with(&Client::new().protocols(["chat.v1"]), "/chat").await?;
    /// assert_eq!(ws.protocol(), Some("chat.v1"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with(&self, client: &Client, path: &str) -> Result<WebSocket, Error> {
        let uri: Uri = format!("ws://ws-routes.test{path}")
            .parse()
            .map_err(|error| UrlError::InvalidPath {
                path: path.to_owned(),
                source: Box::new(error),
            })?;
        let port = self.next_port.fetch_add(1, Ordering::Relaxed);
        let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let (near, far) = tokio::io::duplex(PIPE_CAPACITY);
        let (started, handler_started) = oneshot::channel();
        match self.shared.limits.admit(peer.ip()) {
            Ok(permit) => {
                let shared = Arc::clone(&self.shared);
                let span = connection::span(peer);
                let serving = async move {
                    let serving = connection::serve_transport(
                        Arc::clone(&shared),
                        Transport::Duplex(far),
                        peer,
                        permit,
                        Some(started),
                    );
                    within_grace(&shared, serving).await;
                };
                tokio::spawn(serving.instrument(span));
            }
            // Refused as a bound server refuses it: the client reads the response.
            Err(refusal) => {
                crate::metrics::refused(refusal.status());
                tokio::spawn(async move {
                    let mut far = far;
                    let _ = handshake::write_refusal(&mut far, &refusal).await;
                });
            }
        }
        let socket = client.open(&uri, Transport::Duplex(near)).await?;
        // An error only says that no handler runs (the path matched no route).
        let _ = handler_started.await;
        Ok(socket)
    }

    /// The handle that shuts the test server down (every connection is closed with 1001;
    /// handlers still running the [`shutdown_timeout`](Server::shutdown_timeout) after are
    /// cancelled) and counts its connections.
    ///
    /// ```
    /// # use ws_routes::{route, routes, Server, test::TestServer, WebSocket};
    /// # #[route("/echo")]
    /// # async fn echo(mut ws: WebSocket) { while let Some(Ok(_)) = ws.recv().await {} }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_routes::Error> {
    /// let server = TestServer::new(Server::new(routes![echo]));
    /// let mut ws = server.connect("/echo").await?;
    /// assert_eq!(server.handle().connections(), 1);
    /// server.handle().shutdown();
    /// assert!(ws.recv().await.is_none());
    /// assert_eq!(ws.close_frame().unwrap().code.as_u16(), 1001);
    /// # Ok(())
    /// # }
    /// ```
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }
}
