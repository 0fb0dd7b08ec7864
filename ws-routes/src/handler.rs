//! What a handler's return value means for the close frame ([`HandlerReturn`], [`Close`]),
//! and how a route is entered.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::extract::{Connection, Reject, Request};
use crate::routing::ParamError;
use crate::wire::{CloseCode, CloseFrame};

/// A boxed, sendable future, as generated route entry points return.
#[doc(hidden)]
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a route is entered.
#[derive(Clone, Copy)]
pub(crate) enum Entry {
    /// A function route: everything happens after the upgrade.
    Upgrade(fn(Connection) -> BoxFuture<Outcome>),
    /// A class-style route: a hook runs on the request before the upgrade and may refuse it.
    Accept(fn(Request) -> BoxFuture<Result<Admitted, Reject>>),
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
        Outcome::Closed(CloseFrame::new(CloseCode::BAD_PARAM, &error.to_string()))
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
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = ws_routes::Server::new(ws_routes::routes![vote]).bind("127.0.0.1:0").await?;
/// # let addr = server.local_addr()?;
/// # tokio::spawn(server.run());
/// # let mut ws = ws_routes::connect(&format!("ws://{addr}/vote")).await?;
/// # ws.send("cheat").await?;
/// # assert!(ws.recv().await.is_none());
/// # let frame = ws.close_frame().unwrap();
/// # assert_eq!((frame.code, frame.reason.as_str()), (4003.into(), "cheating is not allowed"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    frame: CloseFrame,
}

impl Close {
    /// A close with `code` and a short `reason` (cut to 123 bytes).
    pub fn new(code: impl Into<CloseCode>, reason: &str) -> Self {
        Close {
            frame: CloseFrame::new(code, reason),
        }
    }

    /// The close frame.
    pub fn frame(&self) -> &CloseFrame {
        &self.frame
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

/// The boxed future of a function route's handler, its output made an [`Outcome`]: the
/// handler's own future, not an `async` block that awaits it (which would keep the handler's
/// arguments twice for as long as it runs).
#[doc(hidden)]
pub fn handler_future<F>(handler: F) -> BoxFuture<Outcome>
where
    F: Future + Send + 'static,
    F::Output: HandlerReturn,
{
    Box::pin(futures_util::FutureExt::map(
        handler,
        HandlerReturn::__outcome,
    ))
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
