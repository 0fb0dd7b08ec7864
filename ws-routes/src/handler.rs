//! How a connection reaches a handler: the accepted [`Connection`], the arguments taken from
//! it, and what a handler's return value means.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use crate::close::{self, CloseCode, CloseFrame};
use crate::http::HeaderMap;
use crate::path::{ParamError, RoutePath};
use crate::request::{FromRequest, Reject, Request, StateKey};
use crate::socket::WebSocket;

/// A boxed, sendable future, as generated route entry points return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a route is entered.
#[derive(Clone, Copy)]
pub(crate) enum Entry {
    /// A function route: everything happens after the upgrade.
    Upgrade(fn(Connection) -> BoxFuture<Outcome>),
    /// A class-style route: a hook runs on the request before the upgrade and may refuse it.
    Accept(fn(Request) -> BoxFuture<Result<Admitted, Reject>>),
}

/// An upgraded connection on its way to a handler: the socket and the handshake request.
///
/// Handler arguments are taken from it by [`FromConnection`].
pub struct Connection {
    socket: Option<WebSocket>,
    request: Request,
}

impl Connection {
    pub(crate) fn new(socket: WebSocket, request: Request) -> Self {
        Connection {
            socket: Some(socket),
            request,
        }
    }

    /// The handshake request: path, headers, peer address and shared state.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The matched path, its parameters and the query string.
    pub fn path(&self) -> &RoutePath {
        self.request.path()
    }

    /// The headers of the handshake request.
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    /// The address of the client.
    pub fn peer_addr(&self) -> SocketAddr {
        self.request.peer_addr()
    }

    /// Takes the socket; `None` if an argument took it already.
    pub fn take_socket(&mut self) -> Option<WebSocket> {
        self.socket.take()
    }

    /// The socket (if still here) and the request.
    pub(crate) fn into_parts(self) -> (Option<WebSocket>, Request) {
        (self.socket, self.request)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

/// A handler argument that is not a path parameter: the [`WebSocket`] itself, or anything
/// [`FromRequest`] reads from the handshake request.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a path parameter nor an extractor",
    label = "not a parameter of the pattern, and `FromRequest` is not implemented for `{Self}`",
    note = "an argument binds a path parameter when its name is a `{{name}}` of the pattern; any other argument must be the `WebSocket` or implement `FromRequest` (`RoutePath`, `Query`, `State<T>`, ...)"
)]
pub trait FromConnection: Sized {
    /// Takes the argument, or closes the connection with a frame.
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame>;

    /// The state type this argument needs, checked when the server is bound.
    #[doc(hidden)]
    fn __state() -> Option<StateKey> {
        None
    }
}

impl FromConnection for WebSocket {
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame> {
        connection.take_socket().ok_or_else(|| {
            tracing::error!("a handler takes the WebSocket twice; only one argument can own it");
            close::frame(CloseCode::Error, "internal error")
        })
    }
}

impl<T: FromRequest> FromConnection for T {
    /// After the upgrade a refusal can no longer be an HTTP response: it closes with 1008
    /// and the refusal's status as the reason.
    fn from_connection(connection: &mut Connection) -> Result<Self, CloseFrame> {
        T::from_request(&connection.request).map_err(|refusal| {
            let reason = refusal.status().canonical_reason().unwrap_or("refused");
            close::frame(CloseCode::Policy, reason)
        })
    }

    fn __state() -> Option<StateKey> {
        T::__state()
    }
}

/// A class-style route's instance, admitted by its `accept` hook, with what runs it once the
/// connection is upgraded.
#[doc(hidden)]
pub struct Admitted {
    pub(crate) request: Request,
    pub(crate) run: Box<dyn FnOnce(Connection) -> BoxFuture<Outcome> + Send>,
}

impl Admitted {
    /// Runs `instance` with `run` after the upgrade.
    pub fn new<C: Send + 'static>(
        request: Request,
        instance: C,
        run: fn(C, Connection) -> BoxFuture<Outcome>,
    ) -> Self {
        Admitted {
            request,
            run: Box::new(move |connection| run(instance, connection)),
        }
    }

    /// Upgrades, then closes at once with the outcome (a parameter that did not parse).
    pub fn closing(request: Request, outcome: Outcome) -> Self {
        Admitted {
            request,
            run: Box::new(move |_| Box::pin(async move { outcome })),
        }
    }
}

/// How a handler's run ended; decides the close frame the server sends.
#[doc(hidden)]
#[derive(Debug)]
pub enum Outcome {
    /// Returned normally: close with 1000.
    Finished,
    /// Close with this frame.
    Closed(CloseFrame),
    /// Returned an error: logged, close with 1011.
    Failed(String),
}

impl From<ParamError> for Outcome {
    fn from(error: ParamError) -> Self {
        Outcome::Closed(close::frame(close::INVALID_PARAMETER, &error.to_string()))
    }
}

impl From<CloseFrame> for Outcome {
    fn from(frame: CloseFrame) -> Self {
        Outcome::Closed(frame)
    }
}

/// Closes the connection with a code and reason the handler chooses: return
/// `Err(Close::new(4001, "not allowed"))` from a handler or a lifecycle method.
///
/// ```
/// use ws_routes::{route, Close, WebSocket};
///
/// #[route("/vote")]
/// async fn vote(mut ws: WebSocket) -> Result<(), Close> {
///     while let Some(Ok(message)) = ws.recv().await {
///         if message.as_text() == Some("cheat") {
///             return Err(Close::new(4003, "cheating is not allowed"));
///         }
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    frame: CloseFrame,
}

impl Close {
    /// A close with `code` and a short `reason` (cut to 123 bytes).
    pub fn new(code: impl Into<CloseCode>, reason: &str) -> Self {
        Close {
            frame: close::frame(code, reason),
        }
    }

    /// The close frame.
    pub fn frame(&self) -> &CloseFrame {
        &self.frame
    }
}

/// What a route handler or lifecycle method may return: `()`; `Result<(), Close>`, where an
/// `Err` closes with the chosen code and reason; or `Result<(), E>` with `E: Display`, where an
/// `Err` is logged and closes with 1011.
#[diagnostic::on_unimplemented(
    message = "a route handler must return `()`, `Result<(), Close>` or `Result<(), E>` with `E: Display`, not `{Self}`"
)]
pub trait HandlerReturn {
    #[doc(hidden)]
    fn __outcome(self) -> Outcome;
}

impl HandlerReturn for () {
    fn __outcome(self) -> Outcome {
        Outcome::Finished
    }
}

impl HandlerReturn for Result<(), Close> {
    fn __outcome(self) -> Outcome {
        match self {
            Ok(()) => Outcome::Finished,
            Err(close) => Outcome::Closed(close.frame),
        }
    }
}

impl<E: fmt::Display> HandlerReturn for Result<(), E> {
    fn __outcome(self) -> Outcome {
        match self {
            Ok(()) => Outcome::Finished,
            Err(error) => Outcome::Failed(error.to_string()),
        }
    }
}

/// What a class-style route's `accept` hook may return: the instance, or `Result<Self, E>`
/// where `E` converts into a [`Reject`] (an HTTP refusal).
#[diagnostic::on_unimplemented(
    message = "an `accept` hook must return `Self` or `Result<Self, E>` where `E` converts into `Reject`, not `{Self}`",
    label = "not `Self`, nor a `Result` whose error converts into `Reject`",
    note = "refuse with a `Reject` (`Reject::new(StatusCode::FORBIDDEN).body(\"...\")`), a `StatusCode`, or your own error type `E` with `impl From<E> for Reject`"
)]
pub trait AcceptReturn<C> {
    #[doc(hidden)]
    fn __instance(self) -> Result<C, Reject>;
}

#[diagnostic::do_not_recommend]
impl<C: crate::session::ClassRoute> AcceptReturn<C> for C {
    fn __instance(self) -> Result<C, Reject> {
        Ok(self)
    }
}

// Reports a wrong error type as a wrong return type (the message above), not as a missing
// `From<E> for Reject`.
#[diagnostic::do_not_recommend]
impl<C, E: Into<Reject>> AcceptReturn<C> for Result<C, E> {
    fn __instance(self) -> Result<C, Reject> {
        self.map_err(Into::into)
    }
}
