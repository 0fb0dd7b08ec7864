//! One connection, from accept to close: limits, TLS, the opening handshake with routing,
//! origin and subprotocol checks and the `accept` hook, then the handler, then the close.

use std::any::Any;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{debug, error, info};

use super::Unmatched;
use super::handshake::{self, ReadError};
use super::listening::Context;
use super::shutdown::shutting_down;
use crate::extract::{Connection, Reject, Request};
use crate::handler::{BoxFuture, Entry, Outcome};
use crate::http::StatusCode;
use crate::routing::{Route, RoutePath};
use crate::socket::liveness::Liveness;
use crate::socket::{Returned, ServerSide, WebSocket};
use crate::wire::engine::Engine;
use crate::wire::transport::Transport;
use crate::wire::{CloseCode, CloseFrame};

/// Serves one accepted TCP connection to its end.
pub(crate) async fn serve(shared: Arc<Context>, tcp: TcpStream, peer: SocketAddr) {
    // Nagle's algorithm only delays small WebSocket frames.
    let _ = tcp.set_nodelay(true);
    let mut transport = Transport::Tcp(tcp);
    let _permit = match shared.limits.admit(peer.ip()) {
        Ok(permit) => permit,
        Err(refusal) => {
            info!(
                status = refusal.status().as_u16(),
                "connection refused: limit reached"
            );
            let _ = timeout(
                shared.config.handshake_timeout,
                handshake::write_refusal(&mut transport, &refusal),
            )
            .await;
            return;
        }
    };
    let mut shutdown = shared.shutdown.clone();
    // Boxed, and gone once the handshake is over: the task stays small for as long as the
    // connection lives.
    let opening = Box::pin(async {
        let mut transport = secure(&shared, transport).await?;
        let accepted = handshake(&shared, &mut transport, peer, &mut shutdown).await?;
        Ok::<_, io::Error>(accepted.map(|accepted| (transport, accepted)))
    });
    let (transport, accepted) = match timeout(shared.config.handshake_timeout, opening).await {
        Ok(Ok(Some(accepted))) => accepted,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => return debug!(%error, "handshake failed"),
        Err(_) => return debug!("handshake timed out"),
    };
    // The stream lives in a box for the connection's life.
    let stream = Box::new(Engine::server(
        transport,
        accepted.leftover,
        shared.config.engine(),
    ));
    let (returned, frame) = match accepted.target {
        Target::Route {
            route,
            request,
            run,
            protocol,
        } => {
            let (running, returned) = start(&shared, route, request, run, stream, protocol);
            let frame = outcome(route, running).await;
            match returned.await {
                Ok(returned) => (returned, frame),
                // Only when the stream was dropped without going home, which `Drop` prevents.
                Err(_) => return,
            }
        }
        Target::NoRoute { path } => {
            info!(path, "no route");
            let frame = CloseFrame::new(CloseCode::NO_ROUTE, &format!("no route for {path}"));
            (
                Returned {
                    stream,
                    close_deadline: None,
                },
                frame,
            )
        }
    };
    let deadline = returned
        .close_deadline
        .unwrap_or_else(|| Instant::now() + shared.config.close_timeout);
    close_stream(returned.stream, frame, deadline).await;
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

/// A handshake answered with `101 Switching Protocols`.
struct Accepted {
    /// Bytes the client sent after its request.
    leftover: Vec<u8>,
    target: Target,
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
) -> io::Result<Option<Accepted>> {
    let read = tokio::select! {
        read = handshake::read_head(transport, shared.config.max_request_head) => read,
        () = shutting_down(shutdown) => return refuse(transport, shutdown_refusal()).await,
    };
    let mut head = match read {
        Ok(head) => head,
        Err(ReadError::Io(error)) => return Err(error),
        Err(ReadError::Refused(refusal)) => return refuse(transport, refusal).await,
    };
    if !handshake::is_upgrade(&head) {
        let Some(fallback) = &shared.fallback else {
            let refusal = handshake::upgrade_required("this endpoint speaks WebSocket only\n");
            return refuse(transport, refusal).await;
        };
        debug!(path = head.uri.path(), "plain HTTP request: fallback");
        fallback.answer(transport, head).await?;
        return Ok(None);
    }
    let accept = match handshake::accept_key(&head) {
        Ok(accept) => accept,
        Err(refusal) => return refuse(transport, refusal).await,
    };
    if let Some(origins) = &shared.config.origins {
        if let Err(refusal) = handshake::check_origin(&head, origins) {
            return refuse(transport, refusal).await;
        }
    }
    let leftover = std::mem::take(&mut head.leftover);
    let (path, query) = head.path_and_query();
    let target = match shared.matcher.route(path) {
        None if shared.config.unmatched == Unmatched::NotFound => {
            info!(path, "no route");
            return refuse(
                transport,
                Reject::new(StatusCode::NOT_FOUND).body("no route for this path\n"),
            )
            .await;
        }
        None => Target::NoRoute {
            path: path.to_owned(),
        },
        Some(route) => {
            let protocol = match handshake::negotiate_protocol(&head, route) {
                Ok(protocol) => protocol,
                Err(refusal) => return refuse(transport, refusal).await,
            };
            let route_path = RoutePath::new(route, path.to_owned(), query.map(str::to_owned));
            let request = Request::new(route_path, head.headers, peer, Arc::clone(&shared.states));
            let (request, run) = match route.entry {
                Entry::Upgrade(entry) => (request, Run::Function(entry)),
                Entry::Accept(accept) => match AssertUnwindSafe(accept(request))
                    .catch_unwind()
                    .await
                {
                    Ok(Ok(admitted)) => (admitted.request, Run::Admitted(admitted.run)),
                    Ok(Err(refusal)) => return refuse(transport, refusal).await,
                    Err(panic) => {
                        error!(
                            handler = route.handler,
                            panic = panic_message(&*panic),
                            "accept hook panicked"
                        );
                        return refuse(transport, Reject::new(StatusCode::INTERNAL_SERVER_ERROR))
                            .await;
                    }
                },
            };
            Target::Route {
                route,
                request,
                run,
                protocol,
            }
        }
    };
    if *shutdown.borrow() {
        return refuse(transport, shutdown_refusal()).await;
    }
    handshake::write_switching(transport, &accept, target.protocol()).await?;
    Ok(Some(Accepted { leftover, target }))
}

fn shutdown_refusal() -> Reject {
    Reject::new(StatusCode::SERVICE_UNAVAILABLE).body("server shutting down\n")
}

async fn refuse<T>(transport: &mut Transport, refusal: Reject) -> io::Result<Option<T>> {
    debug!(status = refusal.status().as_u16(), "handshake refused");
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
        route = route.pattern,
        "websocket opened"
    );
    let (home, returned) = oneshot::channel();
    let side = ServerSide {
        home,
        queue_capacity: shared.config.outgoing_queue,
        liveness: Box::new(Liveness::new(
            shared.config.liveness(),
            shared.shutdown.clone(),
        )),
        protocol,
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
            error!(handler = route.handler, %error, "handler failed");
            CloseFrame::new(CloseCode::INTERNAL, "internal error")
        }
        Err(panic) => {
            error!(
                handler = route.handler,
                panic = panic_message(&*panic),
                "handler panicked"
            );
            CloseFrame::new(CloseCode::INTERNAL, "internal error")
        }
    }
}

/// Sends `frame` (unless the handler closed already) and waits, up to `deadline`, for the
/// client's answer.
async fn close_stream(mut stream: Box<Engine>, frame: CloseFrame, deadline: Instant) {
    let code = u16::from(frame.code);
    let closing = async {
        let _ = stream.close(Some(frame)).await;
        while let Some(Ok(_)) = stream.next().await {}
    };
    if timeout_at(deadline, closing).await.is_err() {
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
