//! One connection, from accept to close: limits, TLS, the opening handshake with routing,
//! origin and subprotocol checks and the `accept` hook, then the handler, then the close.

use std::any::Any;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{Span, debug, error, info};

use super::handshake::{self, ReadError, RequestHead};
use super::limits::Permit;
use super::shutdown::shutting_down;
use super::{Context, Unmatched};
use crate::extract::{Connection, Reject, Request};
use crate::handler::{Admitted, BoxFuture, Entry, Outcome};
use crate::http::{Extensions, HeaderValue, StatusCode};
use crate::metrics::{self, ActiveConnection, Started, Traffic};
use crate::rate_limit::Allowance;
use crate::routing::{Route, RoutePath};
use crate::socket::liveness::{self, Liveness};
use crate::socket::{Returned, ServerSide, Unsent, WebSocket};
use crate::wire::deflate::negotiation::Negotiated;
use crate::wire::engine::Engine;
use crate::wire::handshake::AcceptKey;
use crate::wire::transport::Transport;
use crate::wire::{CloseCode, CloseFrame};

/// Numbers connections for their tracing spans, across every server of the process.
static NEXT_SPAN_ID: AtomicU64 = AtomicU64::new(1);

/// The span a connection runs in, from its handshake to its close: its number `id` (one
/// counter for the process), the peer address, and the route pattern once routed.
pub(crate) fn span(peer: SocketAddr) -> Span {
    let id = NEXT_SPAN_ID.fetch_add(1, Ordering::Relaxed);
    tracing::info_span!("connection", id, %peer, route = tracing::field::Empty)
}

/// Serves one accepted TCP connection to its end; `permit` holds its place under the limits
/// until then.
pub(crate) fn serve(
    shared: Arc<Context>,
    tcp: TcpStream,
    peer: SocketAddr,
    permit: Permit,
) -> impl Future<Output = ()> {
    serve_transport(shared, Transport::Tcp(tcp), peer, permit, None)
}

/// Serves one connection over `transport` to its end, from the opening handshake on;
/// `started` is told once the handler has run up to its first wait.
///
/// A function returning a future, as [`run`] is, rather than an `async fn`: an `async fn`
/// keeps a copy of each argument beside the one it works with, for as long as it runs.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would keep a second copy of each argument"
)]
pub(crate) fn serve_transport(
    shared: Arc<Context>,
    transport: Transport,
    peer: SocketAddr,
    permit: Permit,
    started: Option<oneshot::Sender<()>>,
) -> impl Future<Output = ()> {
    async move {
        // Boxed, and gone once the handshake is over: the task stays small for as long as the
        // connection lives.
        let Some((transport, accepted)) = Box::pin(open(&shared, transport, peer)).await else {
            return drop(permit);
        };
        run(&shared, transport, accepted, started).await;
        drop(permit);
    }
}

/// The TLS and WebSocket handshakes, within the handshake timeout: the upgraded transport and
/// what the handshake accepted, or `None` when the connection ends there (answered with an
/// HTTP status, failed, or timed out).
async fn open(
    shared: &Context,
    transport: Transport,
    peer: SocketAddr,
) -> Option<(Transport, Box<Accepted>)> {
    let began = Started::now();
    // Nagle's algorithm only delays small WebSocket frames. Set here, in the connection's own
    // task, not by the accept loop that spawns it.
    if let Transport::Tcp(tcp) = &transport {
        let _ = tcp.set_nodelay(true);
    }
    let mut shutdown = shared.shutdown.clone();
    let opening = async {
        let mut transport = secure(shared, transport).await?;
        let accepted = handshake(shared, &mut transport, peer, &mut shutdown, began).await?;
        Ok::<_, io::Error>(accepted.map(|accepted| (transport, accepted)))
    };
    match timeout(shared.config.handshake_timeout, opening).await {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(error)) => {
            metrics::failed();
            debug!(%error, "handshake failed");
            None
        }
        Err(_) => {
            metrics::timed_out();
            debug!("handshake timed out");
            None
        }
    }
}

/// Serves an upgraded connection: the framing engine over `transport`, the handler, the
/// close. `started` as for [`serve_transport`].
///
/// The engine is made and the handler started here, before the future: the future keeps only
/// what the connection needs while it lasts. (An `async fn` keeps its arguments for its whole
/// life, the handshake's request among them, and a connection's task is as large as its
/// future: 1.2 KiB more for each connection, idle ones included, copied at every move of the
/// task's future as it is spawned.)
pub(crate) fn run(
    shared: &Context,
    transport: Transport,
    accepted: Box<Accepted>,
    started: Option<oneshot::Sender<()>>,
) -> impl Future<Output = ()> + use<> {
    let Accepted {
        leftover,
        target,
        deflate,
        started: began,
        ..
    } = *accepted;
    let mut opened = ActiveConnection::new(target.label(), began);
    // The stream lives in a box for the connection's life.
    let deflate = deflate.map(|(negotiated, _)| negotiated);
    let config = shared.config.compression.config();
    let stream = Box::new(Engine::server(
        transport,
        leftover,
        shared.config.engine(),
        deflate.zip(config),
    ));
    let close_timeout = shared.config.close_timeout;
    let serving = match target {
        Target::Route {
            route,
            request,
            run,
            protocol,
        } => {
            let (running, returned) = start(shared, route, request, run, stream, protocol);
            let running = match started {
                Some(started) => announcing(running, started),
                None => running,
            };
            Serving::Handler {
                route,
                running,
                returned,
            }
        }
        Target::NoRoute { path } => {
            drop(started);
            info!(path, "no route");
            let frame = CloseFrame::new(CloseCode::NO_ROUTE, &format!("no route for {path}"));
            let returned = Returned {
                stream,
                close_deadline: None,
                unsent: None,
            };
            Serving::NoRoute(Box::new(returned), frame)
        }
    };
    async move {
        let (returned, frame) = match serving {
            Serving::Handler {
                route,
                running,
                returned,
            } => {
                let frame = outcome(route, running).await;
                match returned.await {
                    Ok(returned) => (returned, frame),
                    // Only when the stream was dropped without being given back, which `Drop`
                    // prevents.
                    Err(_) => return,
                }
            }
            Serving::NoRoute(returned, frame) => (*returned, frame),
        };
        let deadline = returned
            .close_deadline
            .unwrap_or_else(|| liveness::after(Instant::now(), close_timeout));
        // Boxed: the close's state would otherwise take room in every connection's task for
        // as long as the connection lives.
        let closing = Box::pin(close_stream(
            returned.stream,
            returned.unsent,
            frame,
            deadline,
        ));
        opened.closed(closing.await);
    }
}

/// What an upgraded connection runs until its close: its route's handler, or, for a path no
/// route matched, nothing (the stream, to close with 4040 at once).
enum Serving {
    Handler {
        route: &'static Route,
        running: BoxFuture<Outcome>,
        returned: oneshot::Receiver<Returned>,
    },
    NoRoute(Box<Returned>, CloseFrame),
}

/// The TLS handshake, when the server has TLS.
#[cfg(feature = "tls")]
async fn secure(shared: &Context, transport: Transport) -> io::Result<Transport> {
    match (&shared.config.tls, transport) {
        (Some(tls), Transport::Tcp(tcp)) => {
            Ok(Transport::Tls(Box::new(tls.acceptor.accept(tcp).await?)))
        }
        (_, transport) => Ok(transport),
    }
}

#[cfg(not(feature = "tls"))]
async fn secure(_shared: &Context, transport: Transport) -> io::Result<Transport> {
    Ok(transport)
}

/// A handshake to answer with `101 Switching Protocols`. Boxed from where it is decided
/// (`conclude`) to where the handler starts (`run`): the handshake's futures and results then
/// move a pointer rather than its 350 bytes.
pub(crate) struct Accepted {
    /// The `Sec-WebSocket-Accept` value.
    accept: AcceptKey,
    /// Bytes the client sent after its request.
    leftover: Vec<u8>,
    target: Target,
    /// permessage-deflate, when agreed: its parameters and the response header's value.
    deflate: Option<(Negotiated, HeaderValue)>,
    started: Started,
}

impl Accepted {
    /// The `101 Switching Protocols` that accepts it, naming the subprotocol and the
    /// extension agreed on: what a mounted route table answers through its HTTP server.
    #[cfg(feature = "tower")]
    pub(crate) fn switching_response(&self) -> crate::http::Response<()> {
        let extension = self.deflate.as_ref().map(|(_, header)| header.clone());
        handshake::switching_response(&self.accept, self.target.protocol(), extension)
    }

    /// The same response as the bytes the standalone server writes.
    pub(crate) fn switching_bytes(&self) -> Vec<u8> {
        let extension = self.deflate.as_ref().map(|(_, header)| header);
        handshake::switching_bytes(&self.accept, self.target.protocol(), extension)
    }
}

// The common variant is the large one; boxing it would cost an allocation per connection.
#[expect(clippy::large_enum_variant)]
enum Target {
    Route {
        route: &'static Route,
        request: Request,
        run: Run,
        protocol: Option<&'static str>,
    },
    NoRoute {
        path: String,
    },
}

impl Target {
    /// The route pattern, for metrics.
    fn label(&self) -> &'static str {
        match self {
            Target::Route { route, .. } => route.parts.pattern,
            Target::NoRoute { .. } => metrics::UNMATCHED,
        }
    }

    /// The subprotocol agreed on, to name in the `101`.
    fn protocol(&self) -> Option<&'static str> {
        match self {
            Target::Route { protocol, .. } => *protocol,
            Target::NoRoute { .. } => None,
        }
    }
}

/// What runs the connection once upgraded.
enum Run {
    Function(fn(Connection) -> BoxFuture<Outcome>),
    Admitted(Box<dyn FnOnce(Connection) -> BoxFuture<Outcome> + Send>),
}

/// Reads the handshake request, checks it, routes it, runs the route's `accept` hook if it has
/// one, and answers. `Ok(None)` when the answer was an HTTP refusal.
async fn handshake(
    shared: &Context,
    transport: &mut Transport,
    peer: SocketAddr,
    shutdown: &mut watch::Receiver<bool>,
    started: Started,
) -> Answered {
    // Every connection allocates and copies this future; it holds the common path only, the
    // head's read and the `101`'s write. What only some handshakes wait for (a refusal, a plain
    // HTTP answer, an `accept` hook) waits in a boxed future, and what the head calls for is
    // decided without waiting, so that the compiler keeps nothing of it across either wait.
    let accepted = {
        let step = {
            let read = tokio::select! {
                // The head first, without drawing a random order at each poll: a head that is
                // there already is read without registering with the shutdown signal (and
                // letting go of it again). A shutdown that began meanwhile refuses it all the
                // same, in `conclude`.
                biased;
                read = handshake::read_head(transport, shared.config.max_request_head) => read,
                () = shutting_down(shutdown) => Err(ReadError::Refused(shutdown_refusal())),
            };
            match read {
                Ok(head) => upgrade_or(shared, head, peer, started),
                Err(ReadError::Io(error)) => return Err(error),
                Err(ReadError::Refused(refusal)) => Err(Other::Refuse(refusal)),
            }
        };
        match step {
            Ok(accepted) => accepted,
            Err(other) => return answer_other(shared, transport, other).await,
        }
    };
    switch(transport, accepted).await
}

/// How a handshake ends: the upgrade to serve, `None` when it was answered with an HTTP
/// response instead, or an I/O error.
type Answered = io::Result<Option<Box<Accepted>>>;

/// What a request head calls for besides an upgrade accepted at once.
enum Other {
    /// An HTTP status.
    Refuse(Reject),
    /// The fallback's answer, or `426` (see [`not_upgrade`]). The head is boxed: it is large,
    /// and a plain HTTP request is the rare case.
    NotUpgrade(Box<RequestHead>),
    /// The route's `accept` hook, then the upgrade or its refusal.
    Hook(Box<Hook>),
}

/// The upgrade a request head asks for, when it can be accepted without waiting; what else
/// it calls for otherwise.
fn upgrade_or(
    shared: &Context,
    head: RequestHead,
    peer: SocketAddr,
    started: Started,
) -> Result<Box<Accepted>, Other> {
    if !handshake::is_upgrade(&head) {
        return Err(Other::NotUpgrade(Box::new(head)));
    }
    match decide(shared, head, peer, Extensions::new(), started) {
        Ok(Decided::Accepted(accepted)) => Ok(accepted),
        Ok(Decided::Hook(hook)) => Err(Other::Hook(hook)),
        Err(refusal) => Err(Other::Refuse(refusal)),
    }
}

/// Answers `101 Switching Protocols` for `accepted`. Not an `async fn`, which would keep a
/// second copy of `accepted` in its future.
fn switch(
    transport: &mut Transport,
    accepted: Box<Accepted>,
) -> impl Future<Output = Answered> + '_ {
    let response = accepted.switching_bytes();
    async move {
        handshake::write_switching(transport, &response).await?;
        Ok(Some(accepted))
    }
}

/// Acts on what a request head called for besides an upgrade accepted at once, in a future
/// boxed at the size of what it does.
fn answer_other<'a>(
    shared: &'a Context,
    transport: &'a mut Transport,
    other: Other,
) -> Pin<Box<dyn Future<Output = Answered> + Send + 'a>> {
    match other {
        Other::Refuse(refusal) => Box::pin(refuse(transport, refusal)),
        Other::NotUpgrade(head) => Box::pin(not_upgrade(shared, transport, *head)),
        Other::Hook(hook) => Box::pin(async move {
            match hook.run(shared).await {
                Ok(accepted) => switch(transport, accepted).await,
                Err(refusal) => refuse(transport, refusal).await,
            }
        }),
    }
}

/// Answers a request that asks for no upgrade: the fallback's answer, or `426`.
async fn not_upgrade(shared: &Context, transport: &mut Transport, head: RequestHead) -> Answered {
    let Some(fallback) = &shared.fallback else {
        let refusal = handshake::upgrade_required("this endpoint speaks WebSocket only\n");
        return refuse(transport, refusal).await;
    };
    debug!(path = head.uri.path(), "plain HTTP request: fallback");
    fallback.answer(transport, head).await?;
    Ok(None)
}

/// Decides on an upgrade request (see [`handshake::is_upgrade`]), wherever it was read: checks
/// it, routes it, and runs the route's `accept` hook if it has one. The request's
/// `extensions` reach the hook and the extractors. `started` is when the handshake began.
#[cfg(feature = "tower")]
pub(crate) async fn admit(
    shared: &Context,
    head: RequestHead,
    peer: SocketAddr,
    extensions: Extensions,
    started: Started,
) -> Result<Box<Accepted>, Reject> {
    match decide(shared, head, peer, extensions, started)? {
        Decided::Accepted(accepted) => Ok(accepted),
        Decided::Hook(hook) => hook.run(shared).await,
    }
}

/// What [`decide`] accepted without waiting, or left to a route's `accept` hook.
enum Decided {
    Accepted(Box<Accepted>),
    Hook(Box<Hook>),
}

/// The checks and the routing of an upgrade request, all but the route's `accept` hook, which
/// is left to run in [`Decided::Hook`].
fn decide(
    shared: &Context,
    mut head: RequestHead,
    peer: SocketAddr,
    extensions: Extensions,
    started: Started,
) -> Result<Decided, Reject> {
    let accept = handshake::accept_key(&head)?;
    if let Some(origins) = &shared.config.origins {
        handshake::check_origin(&head, origins, shared.config.allow_missing_origin)?;
    }
    let leftover = std::mem::take(&mut head.leftover);
    let path = head.uri.path();
    let target = match shared.matcher.route(path) {
        None if shared.config.unmatched == Unmatched::NotFound => {
            info!(path, "no route");
            return Err(Reject::new(StatusCode::NOT_FOUND).body("no route for this path\n"));
        }
        None => Target::NoRoute {
            path: path.to_owned(),
        },
        Some(route) => {
            Span::current().record("route", route.parts.pattern);
            let protocol = handshake::negotiate_protocol(&head, route)?;
            let route_path = RoutePath::new(route, &head.uri);
            let states = Arc::clone(&shared.states);
            let request = Request::new(route_path, head.headers, peer, states, extensions);
            match route.entry {
                Entry::Upgrade(entry) => Target::Route {
                    route,
                    request,
                    run: Run::Function(entry),
                    protocol,
                },
                Entry::Accept(hook) => {
                    return Ok(Decided::Hook(Box::new(Hook {
                        route,
                        hook,
                        request,
                        protocol,
                        accept,
                        leftover,
                        started,
                    })));
                }
            }
        }
    };
    conclude(shared, accept, leftover, target, started).map(Decided::Accepted)
}

/// A route's `accept` hook, to run on the request before the upgrade, and what the upgrade
/// needs once it has.
struct Hook {
    route: &'static Route,
    hook: fn(Request) -> BoxFuture<Result<Admitted, Reject>>,
    request: Request,
    protocol: Option<&'static str>,
    accept: AcceptKey,
    leftover: Vec<u8>,
    started: Started,
}

impl Hook {
    /// Runs the hook: the upgrade it admits, or its refusal (`500` when it panicked).
    async fn run(self, shared: &Context) -> Result<Box<Accepted>, Reject> {
        let (request, run) = match AssertUnwindSafe((self.hook)(self.request))
            .catch_unwind()
            .await
        {
            Ok(Ok(admitted)) => (admitted.request, Run::Admitted(admitted.run)),
            Ok(Err(refusal)) => return Err(refusal),
            Err(panic) => {
                error!(
                    handler = self.route.parts.handler,
                    panic = panic_message(&*panic),
                    "accept hook panicked"
                );
                return Err(Reject::new(StatusCode::INTERNAL_SERVER_ERROR));
            }
        };
        let target = Target::Route {
            route: self.route,
            request,
            run,
            protocol: self.protocol,
        };
        conclude(shared, self.accept, self.leftover, target, self.started)
    }
}

/// The last checks of an upgrade request that will be accepted: refused if the server started
/// shutting down meanwhile; permessage-deflate agreed on for a route that allows it.
fn conclude(
    shared: &Context,
    accept: AcceptKey,
    leftover: Vec<u8>,
    target: Target,
    started: Started,
) -> Result<Box<Accepted>, Reject> {
    if *shared.shutdown.borrow() {
        return Err(shutdown_refusal());
    }
    let deflate = match (&target, shared.config.compression.config()) {
        (Target::Route { route, request, .. }, Some(config)) if route.parts.compression => {
            handshake::negotiate_deflate(request.header_values(), config)
        }
        _ => None,
    };
    Ok(Box::new(Accepted {
        accept,
        leftover,
        target,
        deflate,
        started,
    }))
}

fn shutdown_refusal() -> Reject {
    Reject::new(StatusCode::SERVICE_UNAVAILABLE).body("server shutting down\n")
}

async fn refuse<T>(transport: &mut Transport, refusal: Reject) -> io::Result<Option<T>> {
    debug!(status = refusal.status().as_u16(), "handshake refused");
    metrics::refused(refusal.status());
    handshake::write_refusal(transport, &refusal).await?;
    Ok(None)
}

/// Hands the upgraded connection to the route's handler: the handler's future, and where the
/// stream comes back once the handler (and whatever it handed the socket to) lets go of it.
/// Not `async`, so that none of what it moves into the handler is kept in the task.
fn start(
    shared: &Context,
    route: &'static Route,
    request: Request,
    run: Run,
    stream: Box<Engine>,
    protocol: Option<&'static str>,
) -> (BoxFuture<Outcome>, oneshot::Receiver<Returned>) {
    info!(
        path = request.path().path(),
        route = route.parts.pattern,
        "websocket opened"
    );
    let (give_back, returned) = oneshot::channel();
    let side = ServerSide {
        give_back,
        queue_capacity: shared.config.outgoing_queue,
        liveness: Box::new(Liveness::new(shared.config.liveness(), &shared.alarms)),
        protocol,
        traffic: Traffic::new(route.parts.pattern),
        allowance: Allowance::new(shared.config.rate_limit, route.parts.pattern),
    };
    let connection = Connection::new(WebSocket::server(stream, side), request);
    let running = match run {
        Run::Function(entry) => entry(connection),
        Run::Admitted(run) => run(connection),
    };
    (running, returned)
}

/// Runs the handler to its end and says how to close: 1000 when it returned, its own frame, or
/// 1011 (logged) when it failed or panicked.
async fn outcome(route: &'static Route, running: BoxFuture<Outcome>) -> CloseFrame {
    match AssertUnwindSafe(running).catch_unwind().await {
        Ok(Outcome::Finished) => CloseFrame::new(CloseCode::NORMAL, ""),
        Ok(Outcome::Closed(frame)) => frame,
        Ok(Outcome::Failed(error)) => {
            error!(handler = route.parts.handler, %error, "handler failed");
            CloseFrame::new(CloseCode::INTERNAL, "internal error")
        }
        Err(panic) => {
            error!(
                handler = route.parts.handler,
                panic = panic_message(&*panic),
                "handler panicked"
            );
            CloseFrame::new(CloseCode::INTERNAL, "internal error")
        }
    }
}

/// Writes what senders queued and the handler left unsent, then sends `frame`, unless a close
/// frame went out already (the handler's, a kick's 1013, or the answer to the client's), and
/// waits, up to `deadline`, for the client's answer. Returns the code of the close frame this
/// side sent, if one went out.
async fn close_stream(
    mut stream: Box<Engine>,
    unsent: Option<Box<Unsent>>,
    frame: CloseFrame,
    deadline: Instant,
) -> Option<CloseCode> {
    let closing = async {
        if let Some(unsent) = unsent {
            Box::pin(unsent.write(&mut stream)).await;
        }
        let _ = stream.close(Some(frame)).await;
        while let Some(Ok(_)) = stream.next().await {}
    };
    if timeout_at(deadline, closing).await.is_err() {
        debug!("client did not finish the close handshake in time");
    }
    let code = stream.close_code();
    debug!(code = code.map(CloseCode::as_u16), "websocket closed");
    code
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

/// `running`, telling `started` once its first poll returns: the handler has run up to its
/// first wait, or to its end.
fn announcing(mut running: BoxFuture<Outcome>, started: oneshot::Sender<()>) -> BoxFuture<Outcome> {
    let mut started = Some(started);
    Box::pin(poll_fn(move |cx| {
        let poll = running.as_mut().poll(cx);
        if let Some(started) = started.take() {
            let _ = started.send(());
        }
        poll
    }))
}
