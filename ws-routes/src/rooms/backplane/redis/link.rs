//! A link to Redis that the publisher and the reader each keep up: connection attempts with a
//! timeout, and the backoff between them.

use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::sync::watch;
use tracing::warn;

use super::{REDIS_TIMEOUT, Shared};

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Reconnection waits, doubling up to [`MAX_BACKOFF`]; reset once a connection did work.
pub(super) struct Backoff(Duration);

impl Backoff {
    pub(super) fn new() -> Self {
        Backoff(Duration::ZERO)
    }

    pub(super) fn reset(&mut self) {
        self.0 = Duration::ZERO;
    }

    /// Waits before the next attempt; `false` when told to stop meanwhile.
    async fn wait(&mut self, stop: &mut watch::Receiver<()>) -> bool {
        let wait = self.0;
        self.0 = (self.0 * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            _ = stop.changed() => false,
        }
    }
}

/// Connects, retrying with backoff, until it works or the rooms are dropped (`None`).
pub(super) async fn connect(
    shared: &Shared,
    response_timeout: Duration,
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<()>,
    outage: &mut Option<Instant>,
    role: &str,
) -> Option<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(response_timeout));
    loop {
        if !backoff.wait(stop).await {
            return None;
        }
        let attempt = shared
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let error = tokio::select! {
            attempt = tokio::time::timeout(REDIS_TIMEOUT, attempt) => match attempt {
                Ok(Ok(connection)) => return Some(connection),
                Ok(Err(error)) => error.to_string(),
                Err(_) => "timed out".to_owned(),
            },
            _ = stop.changed() => return None,
        };
        if outage.is_none() {
            warn!(%error, role, "cannot reach Redis; retrying with backoff");
            *outage = Some(Instant::now());
        }
    }
}
