//! Graceful shutdown: the handle a program holds to stop a running server, and the signals
//! that stop one by default.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

use super::Context;
use crate::socket::liveness::shutting_down;

/// A handle on a running server: shut it down gracefully, or read how many connections it
/// holds. Cheap to clone.
///
/// Shutting down stops accepting, answers handshakes in progress with HTTP 503, starts the
/// close handshake (1001, "server shutting down", or the server's
/// [`shutdown_close_code`](crate::Server::shutdown_close_code)) on every connection, and lets
/// handlers finish up to the server's [`shutdown_timeout`](crate::Server::shutdown_timeout), after
/// which the ones still running are cancelled and [`Listening::run`](crate::server::Listening::run)
/// returns.
///
/// ```
/// # use ws_routes::{route, routes, WebSocket};
/// # #[route("/echo")]
/// # async fn echo(mut ws: WebSocket) {
/// #     while let Some(Ok(message)) = ws.recv().await {
/// #         let _ = ws.send(message).await;
/// #     }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let routes = routes![echo];
/// let server = ws_routes::Server::new(routes).bind("127.0.0.1:0").await?;
/// let url = format!("ws://{}/echo", server.local_addr()?);
/// let handle = server.handle();
/// let running = tokio::spawn(server.run());
///
/// let mut client = ws_routes::connect(&url).await?;
/// assert_eq!(handle.connections(), 1);
/// handle.shutdown();
/// assert!(client.recv().await.is_none()); // the server closed it...
/// assert_eq!(client.close_frame().unwrap().code, 1001); // ...going away
/// running.await??; // `run` returns once every connection is closed
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ServerHandle {
    shutdown: Arc<watch::Sender<bool>>,
    connections: Arc<AtomicUsize>,
    /// Told when the last connection closes.
    idle: Arc<Notify>,
}

impl ServerHandle {
    /// A handle, and the connection count and its "none left" notification, which the
    /// server's limits keep.
    pub(crate) fn new() -> (Self, Arc<AtomicUsize>, Arc<Notify>) {
        let connections = Arc::new(AtomicUsize::new(0));
        let idle = Arc::new(Notify::new());
        let handle = ServerHandle {
            shutdown: Arc::new(watch::Sender::new(false)),
            connections: Arc::clone(&connections),
            idle: Arc::clone(&idle),
        };
        (handle, connections, idle)
    }

    /// Starts a graceful shutdown. Calling it again does nothing more.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether a shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// How many connections the server holds now: handshakes in progress and open
    /// WebSockets.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Completes once a shutdown has started and every connection is closed.
    ///
    /// [`Listening::run`](crate::server::Listening::run) returns only then anyway; this is for a route
    /// table mounted in another server (`Server::into_service`, feature `tower`), whose
    /// connections that server does not track: await it after the server's own graceful
    /// shutdown. Handlers still running the [`shutdown_timeout`](crate::Server::shutdown_timeout)
    /// after the shutdown started are cancelled, so it completes within that and the close
    /// timeout.
    ///
    /// ```no_run
    /// # async fn run(routes: ws_routes::Routes) -> std::io::Result<()> {
    /// let server = ws_routes::Server::new(routes).bind("127.0.0.1:0").await?;
    /// let handle = server.handle();
    /// tokio::spawn(server.run());
    /// handle.shutdown();
    /// handle.stopped().await;
    /// assert_eq!(handle.connections(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stopped(&self) {
        shutting_down(&mut self.subscribe()).await;
        loop {
            let notified = self.idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.connections() == 0 {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// Runs one connection's `serving` to its end, or cancels it (dropping its permit) once the
/// [`shutdown_timeout`](crate::Server::shutdown_timeout) has passed after a shutdown started:
/// the grace of a connection that no accept loop holds, on a mounted service or a test
/// server. (A bound server's accept loop holds its connections' tasks and cancels them
/// together, after the same timeout.)
/// (A function returning a future rather than an `async fn`, which would keep `serving` twice.)
pub(crate) fn within_grace(
    shared: &Context,
    serving: impl Future<Output = ()>,
) -> impl Future<Output = ()> {
    let mut shutdown = shared.shutdown.clone();
    let timeout = shared.config.shutdown_timeout;
    async move {
        let grace = async {
            shutting_down(&mut shutdown).await;
            tokio::time::sleep(timeout).await;
        };
        tokio::select! {
            () = serving => {}
            () = grace => tracing::warn!("shutdown timeout: cancelling the handler"),
        }
    }
}

/// Completes when the process receives SIGINT (Ctrl-C) or, on Unix, SIGTERM: give it to
/// [`Listening::run_until`](crate::server::Listening::run_until) to shut down gracefully on either.
/// [`serve`](crate::serve) does this.
///
/// It listens from the call on, not from the first poll, so a signal that arrives in
/// between (say while the program prints where it listens) still shuts down gracefully
/// instead of ending the process. Call it inside a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        let (interrupt, terminate) = (
            received(interrupt, "SIGINT"),
            received(terminate, "SIGTERM"),
        );
        #[cfg(not(unix))]
        let (interrupt, terminate) = (
            async {
                if let Err(error) = tokio::signal::ctrl_c().await {
                    tracing::error!(%error, "cannot listen for SIGINT");
                    std::future::pending::<()>().await;
                }
            },
            std::future::pending::<()>(),
        );
        tokio::select! {
            () = interrupt => tracing::info!("SIGINT received: shutting down"),
            () = terminate => tracing::info!("SIGTERM received: shutting down"),
        }
    }
}

/// Completes when `listener` receives its signal; never when it could not be set up.
#[cfg(unix)]
async fn received(listener: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match listener {
        Ok(mut listener) => drop(listener.recv().await),
        Err(error) => {
            tracing::error!(%error, "cannot listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}
