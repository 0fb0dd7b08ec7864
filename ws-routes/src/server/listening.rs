//! A bound server: the accept loop, connection limits, and graceful shutdown.

use std::future::{Future, pending};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tracing::{Instrument, debug, info, warn};

use super::shutdown::{ServerHandle, shutting_down};
use super::tasks::Tasks;
use super::{Context, connection, handshake};
use crate::extract::Reject;

/// A bound server, ready to [`run`](Self::run).
#[derive(Debug)]
pub struct Listening {
    listener: TcpListener,
    shared: Arc<Context>,
    handle: ServerHandle,
}

impl Listening {
    pub(crate) fn new(listener: TcpListener, shared: Arc<Context>, handle: ServerHandle) -> Self {
        Listening {
            listener,
            shared,
            handle,
        }
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle to shut the server down gracefully and to count its connections.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Accepts connections and serves each on its own task until the [`ServerHandle`] shuts
    /// the server down; then shuts down gracefully and returns. Failing to accept one
    /// connection (too many open files, say) is logged and does not stop the server.
    pub async fn run(self) -> io::Result<()> {
        self.run_until(pending()).await
    }

    /// Like [`run`](Self::run), and also shuts down gracefully when `signal` completes, such
    /// as [`shutdown_signal`](crate::server::shutdown_signal) for SIGINT and SIGTERM.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> io::Result<()> {
        let Listening {
            listener,
            shared,
            handle,
        } = self;
        let mut tasks = Tasks::default();
        let mut shutdown = handle.subscribe();
        let mut signalled = false;
        let mut signal = std::pin::pin!(signal);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => match shared.limits.admit(peer.ip()) {
                        Ok(permit) => {
                            let shared = Arc::clone(&shared);
                            let span = connection::span(peer);
                            tasks.spawn(connection::serve(shared, tcp, peer, permit).instrument(span));
                        }
                        Err(refusal) => refuse_at_once(&shared, tcp, &refusal),
                    },
                    Err(error) => {
                        warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = &mut signal, if !signalled => {
                    signalled = true;
                    handle.shutdown();
                }
                () = shutting_down(&mut shutdown) => break,
            }
        }
        drop(listener);
        info!(connections = tasks.len(), "shutting down");
        let grace = tokio::time::sleep(shared.config.shutdown_timeout);
        tokio::select! {
            () = tasks.all_ended() => {}
            () = grace => {
                warn!(connections = tasks.len(), "shutdown timeout: cancelling the handlers still running");
                tasks.abort_all();
                tasks.all_ended().await;
            }
        }
        info!("shut down");
        Ok(())
    }
}

/// Turns away a connection over a limit without spending a task or a wait on it: the refusal
/// is written only if the socket takes it at once (and never on a TLS port, where it would be
/// gibberish before the TLS handshake), then the connection is closed.
fn refuse_at_once(shared: &Context, tcp: TcpStream, refusal: &Reject) {
    debug!(
        status = refusal.status().as_u16(),
        "connection refused: limit reached"
    );
    crate::metrics::refused(refusal.status());
    if !shared.config.serves_tls() {
        let _ = tcp.try_write(&handshake::refusal_bytes(refusal));
    }
    // Whatever of the request has already arrived is read away, so that closing sends a FIN
    // behind the refusal rather than a reset that could destroy it.
    let mut sink = [0; 1024];
    for _ in 0..8 {
        if !matches!(tcp.try_read(&mut sink), Ok(read) if read > 0) {
            break;
        }
    }
}
