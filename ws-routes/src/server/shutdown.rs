//! Graceful shutdown: the handle a program holds to stop a running server, and the signals
//! that stop one by default.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use slab::Slab;
use tokio::sync::{Notify, watch};

use super::Context;

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
    shutdown: Arc<Trigger>,
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
        let trigger = Trigger {
            signal: watch::Sender::new(false),
            alarms: Arc::default(),
        };
        let handle = ServerHandle {
            shutdown: Arc::new(trigger),
            connections: Arc::clone(&connections),
            idle: Arc::clone(&idle),
        };
        (handle, connections, idle)
    }

    /// Starts a graceful shutdown. Calling it again does nothing more.
    pub fn shutdown(&self) {
        self.shutdown.signal.send_replace(true);
        self.shutdown.alarms.ring();
    }

    /// Whether a shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.signal.borrow()
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
        self.shutdown.signal.subscribe()
    }

    /// The alarms the server's open connections register to hear of the shutdown.
    pub(crate) fn alarms(&self) -> Arc<Alarms> {
        Arc::clone(&self.shutdown.alarms)
    }
}

/// What a shutdown starts: the signal that the accept loop, the handshakes and the grace
/// periods wait on, and the alarms of the open connections. Dropped with the last handle, the
/// server gone, it ends them as a shutdown would.
#[derive(Debug)]
struct Trigger {
    /// Its receivers also complete once it is dropped.
    signal: watch::Sender<bool>,
    alarms: Arc<Alarms>,
}

impl Drop for Trigger {
    fn drop(&mut self) {
        self.alarms.ring();
    }
}

/// The wakers of the server's open connections, each called once when the server shuts down.
///
/// One list for the server: a future waiting on the shutdown signal in each connection cost
/// each an allocation of about 200 bytes, kept while it lasted, and a registration with the
/// signal as it opened and closed; the list costs a handshake cycle about 750 instructions
/// less (`scripts/callgrind --handshakes 200`).
#[derive(Debug, Default)]
pub(crate) struct Alarms {
    /// Set once, before the wakers are taken to be called.
    rung: AtomicBool,
    wakers: Mutex<Slab<Waker>>,
}

impl Alarms {
    /// Calls `waker` when the server shuts down (or is gone), at once if it has already, unless
    /// the returned registration is dropped first.
    pub(crate) fn register(self: &Arc<Self>, waker: Waker) -> AlarmRegistration {
        let mut wakers = self.wakers();
        // Read under the lock: a ring sets it before it takes the lock, so a registration
        // after the ring took the list sees it, and one before is in the list it takes.
        let key = if self.rung.load(Ordering::Acquire) {
            drop(wakers);
            waker.wake();
            None
        } else {
            Some(wakers.insert(waker))
        };
        AlarmRegistration {
            alarms: Arc::clone(self),
            key,
        }
    }

    /// Rings every registered alarm, once.
    fn ring(&self) {
        if self.rung.swap(true, Ordering::AcqRel) {
            return;
        }
        // Taken whole, and no key is given out after: a registration dropped later finds its
        // key gone, never another's.
        let wakers = std::mem::take(&mut *self.wakers());
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    fn wakers(&self) -> MutexGuard<'_, Slab<Waker>> {
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's place on the [`Alarms`]; dropping it takes the waker off.
#[derive(Debug)]
pub(crate) struct AlarmRegistration {
    alarms: Arc<Alarms>,
    key: Option<usize>,
}

impl AlarmRegistration {
    /// Whether the server started shutting down, or is gone.
    pub(crate) fn rung(&self) -> bool {
        self.alarms.rung.load(Ordering::Acquire)
    }
}

impl Drop for AlarmRegistration {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.alarms.wakers().try_remove(key);
        }
    }
}

/// Completes once `shutdown` says the server is shutting down, or its server is gone.
pub(crate) async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: drop it at once.
    drop(shutdown.wait_for(|down| *down).await);
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::test_wakers::counted;

    #[test]
    fn a_shutdown_rings_each_registered_alarm_once() {
        let (handle, _, _) = ServerHandle::new();
        let alarms = handle.alarms();
        let (first, waker) = counted();
        let first_place = alarms.register(waker);
        let (second, waker) = counted();
        let second_place = alarms.register(waker);
        let (gone, waker) = counted();
        drop(alarms.register(waker));
        assert!(!first_place.rung());
        assert!(!handle.is_shutting_down());

        handle.shutdown();
        handle.shutdown();
        assert_eq!((first.count(), second.count(), gone.count()), (1, 1, 0));
        assert!(first_place.rung() && second_place.rung());
        assert!(handle.is_shutting_down());
    }

    #[test]
    fn an_alarm_registered_after_the_shutdown_rings_at_once() {
        let (handle, _, _) = ServerHandle::new();
        handle.shutdown();
        let (wakes, waker) = counted();
        let place = handle.alarms().register(waker);
        assert_eq!(wakes.count(), 1);
        assert!(place.rung());
    }

    #[test]
    fn the_last_handle_dropped_rings_the_alarms_as_a_shutdown() {
        let (handle, _, _) = ServerHandle::new();
        let alarms = handle.alarms();
        let (wakes, waker) = counted();
        let place = alarms.register(waker);
        let kept = handle.clone();
        drop(handle);
        assert_eq!(wakes.count(), 0, "a handle is left");
        drop(kept);
        assert_eq!(wakes.count(), 1);
        assert!(place.rung());
    }

    /// Sends this test process SIGTERM: `shutdown_signal` replaced its default action (ending
    /// the process) when it was called, for the rest of the process's life.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_shutdown_signal_completes_on_sigterm_and_not_before() {
        let mut signal = std::pin::pin!(shutdown_signal());
        let early = tokio::time::timeout(Duration::from_millis(100), signal.as_mut()).await;
        assert!(early.is_err(), "completed without a signal");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(5), signal)
            .await
            .expect("completes once SIGTERM arrives");
    }
}
