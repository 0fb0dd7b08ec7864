//! Graceful shutdown: the handle a program holds to stop a running server, and the signals
//! that stop one by default.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

/// A handle on a running server: shut it down gracefully, or read how many connections it
/// holds. Cheap to clone.
///
/// Shutting down stops accepting, answers handshakes in progress with HTTP 503, starts the
/// close handshake (1001, "server shutting down") on every connection, and lets handlers
/// finish up to the server's [`shutdown_timeout`](crate::Server::shutdown_timeout), after
/// which the ones still running are cancelled and [`Listening::run`](crate::Listening::run)
/// returns.
///
/// ```no_run
/// # async fn run(routes: ws_routes::Routes) -> std::io::Result<()> {
/// let server = ws_routes::Server::new(routes).bind("127.0.0.1:0").await?;
/// let handle = server.handle();
/// tokio::spawn(async move {
///     tokio::time::sleep(std::time::Duration::from_secs(60)).await;
///     handle.shutdown();
/// });
/// server.run().await // returns once every connection is closed
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
    /// [`Listening::run`](crate::Listening::run) returns only then anyway; this is for a route
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

/// Completes once `shutdown` says the server is shutting down, or its server is gone.
pub(crate) async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: drop it at once.
    drop(shutdown.wait_for(|down| *down).await);
}

/// Completes when the process receives SIGINT (Ctrl-C) or, on Unix, SIGTERM: give it to
/// [`Listening::run_until`](crate::Listening::run_until) to shut down gracefully on either.
/// [`serve`](crate::serve) does this.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => drop(terminate.recv().await),
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
}
