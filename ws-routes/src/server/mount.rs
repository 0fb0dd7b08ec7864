//! The route table mounted in another HTTP server (feature `tower`): [`WsService`], a
//! `tower::Service` that answers the opening handshake itself, lets hyper upgrade the
//! connection, and then serves it exactly as the standalone server does.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tracing::{Instrument, debug};

use super::connection::{self, Accepted};
use super::handshake::{self, RequestHead};
use super::limits::Permit;
use super::shutdown::within_grace;
use super::{Context, Server, ServerHandle};
use crate::extract::Reject;
use crate::http::{Extensions, Request, Response, StatusCode, Version, request};
use crate::metrics::{self, Started};
use crate::routing::Routes;
use crate::wire::transport::Transport;

impl Server {
    /// The route table as a [`WsService`], to mount in a hyper, tower or axum app on the app's
    /// own port, with this builder's states and settings (its listener settings aside: TLS
    /// and [`fallback`](Self::fallback) are the app's business there).
    ///
    /// Fails as [`bind`](Self::bind) does before binding: a route takes a state the server was
    /// not given, or an allowed origin is malformed.
    ///
    /// ```
    /// use ws_routes::{route, routes, Server, WebSocket};
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
    /// let service = Server::new(routes![echo]).max_message_size(64 << 10).into_service()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_service(self) -> io::Result<WsService> {
        self.check()?;
        let (shared, handle) = self.into_context();
        Ok(WsService { shared, handle })
    }
}

/// A route table as a `tower::Service<http::Request<B>>` for any body type `B`: mount it in a
/// hyper, tower or axum app to serve WebSockets on the app's own port. Made by
/// [`Server::into_service`]; cheap to clone, and every clone serves the same connections.
///
/// For a WebSocket upgrade request it does what the standalone server does during its
/// handshake (the same checks, routing, origin allow-list, subprotocols, `accept` hooks and
/// connection limits) and answers `101 Switching Protocols`, or the refusal as an HTTP
/// response with its status, headers and body. Once hyper has upgraded the connection, the
/// route's handler serves it on a task of its own with every standalone guarantee: close
/// codes, message size limit, keepalive, panic isolation, state, rooms and
/// [`Sender`](crate::Sender)s. A request that is not an upgrade gets `426 Upgrade Required`
/// when its path is a route's, `404 Not Found` otherwise; as a [`layer`](Self::layer) around
/// an app's service, such requests go to that service instead.
///
/// One difference: the app's HTTP server has read the request already, so the
/// [`handshake_timeout`](Server::handshake_timeout) bounds the checks and the `accept` hook,
/// and a handshake that overruns it is answered `408 Request Timeout`, where the standalone
/// server drops the connection without an answer.
///
/// The [`Request`](crate::Request) that hooks and extractors see carries the HTTP request's
/// [`extensions`](crate::Request::extensions), where the app's middleware leaves what it
/// found. The peer address is taken from axum's `ConnectInfo<SocketAddr>` (feature `axum`)
/// or a [`SocketAddr`] in the extensions; without either it is `0.0.0.0:0`, which then
/// counts as one client for [`max_connections_per_ip`](Server::max_connections_per_ip).
///
/// HTTP servers do not track upgraded connections in their graceful shutdown: call
/// [`handle().shutdown()`](ServerHandle::shutdown) when the app shuts down, which closes
/// every WebSocket with 1001, and await [`stopped`](ServerHandle::stopped) before leaving
/// `main` (the `ws_routes::axum` module shows this with axum).
///
/// With hyper alone (the connection must be served `with_upgrades`):
///
/// ```
/// use hyper::server::conn::http1;
/// use hyper_util::rt::TokioIo;
/// use tower_service::Service;
/// use ws_routes::{route, routes, Server, WebSocket};
///
/// #[route("/echo")]
/// async fn echo(mut ws: WebSocket) {
///     while let Some(Ok(message)) = ws.recv().await {
///         let _ = ws.send(message).await;
///     }
/// }
///
/// /// Serves the routes on every connection `listener` accepts.
/// async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
///     let service = Server::new(routes![echo]).into_service()?;
///     loop {
///         let (tcp, peer) = listener.accept().await?;
///         let service = service.clone();
///         // The peer address, for hooks, extractors and the per-client limit.
///         let with_peer = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
///             request.extensions_mut().insert(peer);
///             service.clone().call(request)
///         });
///         tokio::spawn(
///             http1::Builder::new()
///                 .serve_connection(TokioIo::new(tcp), with_peer)
///                 .with_upgrades(),
///         );
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let addr = listener.local_addr()?;
/// # tokio::spawn(serve(listener));
/// # let mut ws = ws_routes::connect(&format!("ws://{addr}/echo")).await?;
/// # ws.send("hello").await?;
/// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("hello"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct WsService {
    shared: Arc<Context>,
    handle: ServerHandle,
}

impl WsService {
    /// The handle that shuts the mounted routes down gracefully (every WebSocket is closed
    /// with 1001; handlers still running after the
    /// [`shutdown_timeout`](Server::shutdown_timeout) are cancelled), waits for them to stop
    /// and counts their connections.
    ///
    /// ```
    /// # use ws_routes::{routes, Server};
    /// let service = Server::new(routes![]).into_service()?;
    /// let handle = service.handle();
    /// assert_eq!(handle.connections(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// The route table it serves.
    ///
    /// ```
    /// # use ws_routes::{route, routes, Server, WebSocket};
    /// # #[route("/echo")]
    /// # async fn echo(_ws: WebSocket) {}
    /// let service = Server::new(routes![echo]).into_service()?;
    /// assert_eq!(service.routes().iter().next().unwrap().pattern(), "/echo");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn routes(&self) -> Routes {
        self.shared.matcher.routes()
    }

    /// Whether `path` matches one of the routes.
    pub(super) fn matches(&self, path: &str) -> bool {
        self.shared.matcher.route(path).is_some()
    }
}

impl fmt::Debug for WsService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsService")
            .field("routes", &self.routes())
            .finish_non_exhaustive()
    }
}

impl<B> tower_service::Service<Request<B>> for WsService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<B>) -> ResponseFuture {
        let upgrade = hyper::upgrade::on(&mut request);
        let (parts, _body) = request.into_parts();
        let shared = Arc::clone(&self.shared);
        ResponseFuture(Box::pin(
            async move { Ok(answer(shared, parts, upgrade).await) },
        ))
    }
}

/// The answer to one request; for an accepted upgrade, the connection's task is spawned.
async fn answer(
    shared: Arc<Context>,
    parts: request::Parts,
    upgrade: OnUpgrade,
) -> Response<ResponseBody> {
    let request::Parts {
        method,
        uri,
        version,
        headers,
        extensions,
        ..
    } = parts;
    let version = match version {
        Version::HTTP_11 => 1,
        Version::HTTP_10 => 0,
        // Anything else is refused by the handshake's checks.
        _ => u8::MAX,
    };
    let started = Started::now();
    let head = RequestHead {
        method,
        version,
        uri,
        headers: headers.into(),
        leftover: Vec::new(),
    };
    if !handshake::is_upgrade(&head) {
        return match shared.matcher.route(head.uri.path()) {
            Some(_) => refusal(&handshake::upgrade_required(
                "this endpoint speaks WebSocket only\n",
            )),
            None => refusal(&Reject::new(StatusCode::NOT_FOUND)),
        };
    }
    if let Err(bad) = handshake::check_path(head.uri.path()) {
        return refusal(&bad.into());
    }
    let peer = peer_addr(&extensions);
    let permit = match shared.limits.admit(peer.ip()) {
        Ok(permit) => permit,
        Err(limit) => return refusal(&limit),
    };
    let span = connection::span(peer);
    let admitting = connection::admit(&shared, head, peer, extensions, started);
    let admitting = tokio::time::timeout(shared.config.handshake_timeout, admitting);
    let accepted = match admitting.instrument(span.clone()).await {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(refused)) => {
            debug!(status = refused.status().as_u16(), "handshake refused");
            return refusal(&refused);
        }
        Err(_) => {
            metrics::timed_out();
            let timed_out = Reject::new(StatusCode::REQUEST_TIMEOUT).to_response();
            return timed_out.map(ResponseBody::new);
        }
    };
    let response = accepted
        .switching_response()
        .map(|()| ResponseBody::empty());
    tokio::spawn(serve(shared, upgrade, accepted, permit).instrument(span));
    response
}

/// Serves one upgraded connection to its end, or until the shutdown timeout after a shutdown.
/// `accepted` comes boxed: the task keeps what it captures for as long as the connection
/// lasts, and the handshake's request is only needed until the handler starts.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would keep a second copy of each argument"
)]
fn serve(
    shared: Arc<Context>,
    upgrade: OnUpgrade,
    accepted: Box<Accepted>,
    permit: Permit,
) -> impl Future<Output = ()> {
    async move {
        let upgraded = match upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                drop(permit);
                return debug!(%error, "the HTTP server did not upgrade the connection");
            }
        };
        let transport = Transport::Upgraded(Box::new(TokioIo::new(upgraded)));
        within_grace(&shared, connection::run(&shared, transport, accepted, None)).await;
        drop(permit);
    }
}

/// The peer's address: axum's `ConnectInfo`, a `SocketAddr` in the extensions, or none.
fn peer_addr(extensions: &Extensions) -> SocketAddr {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(peer)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return *peer;
    }
    extensions
        .get::<SocketAddr>()
        .copied()
        .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
}

/// A refusal as an HTTP response (see [`Reject::to_response`]), counted in the metrics.
fn refusal(refusal: &Reject) -> Response<ResponseBody> {
    metrics::refused(refusal.status());
    refusal.to_response().map(ResponseBody::new)
}

/// The body of a [`WsService`] response: empty for the `101`, the refusal's text otherwise.
/// An [`http_body::Body`](https://docs.rs/http-body/1/http_body/trait.Body.html) of [`Bytes`] that never fails.
///
/// ```
/// use tower_service::Service;
/// use ws_routes::http::{Request, StatusCode};
/// use ws_routes::{routes, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mut service = Server::new(routes![]).into_service()?;
/// let response = service.call(Request::new(())).await.unwrap();
/// assert_eq!(response.status(), StatusCode::NOT_FOUND); // not an upgrade, and no route
/// let body = response.into_body();
/// assert_eq!(body.bytes().map(|bytes| &bytes[..]), Some(&b"Not Found\n"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResponseBody {
    data: Option<Bytes>,
}

impl ResponseBody {
    fn new(data: Bytes) -> Self {
        ResponseBody {
            data: (!data.is_empty()).then_some(data),
        }
    }

    fn empty() -> Self {
        ResponseBody::default()
    }

    /// The whole body, unless it has been read as an [`http_body::Body`](https://docs.rs/http-body/1/http_body/trait.Body.html) already or is
    /// empty.
    pub fn bytes(&self) -> Option<&Bytes> {
        self.data.as_ref()
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .data
                .take()
                .map(http_body::Frame::data)
                .map(Ok),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let length = self.data.as_ref().map_or(0, Bytes::len);
        http_body::SizeHint::with_exact(length as u64)
    }
}

/// The future of a [`WsService`] response.
pub struct ResponseFuture(
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>,
);

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
