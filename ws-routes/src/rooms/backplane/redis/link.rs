//! A link to Redis, the publisher's or the reader's, kept up by one loop: it connects with a
//! timeout, waits with backoff between attempts, logs an outage once when it starts and once
//! when it ends, and counts every reconnect in the `link`'s metric.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, warn};

use super::shared::{REDIS_TIMEOUT, Shared};

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What one of the backplane's tasks does with its connection to Redis.
pub(super) trait Link: Send {
    /// Its name in logs, and its `link` label in the reconnect metric.
    const NAME: &'static str;
    /// How long a reply may take on its connection.
    const RESPONSE_TIMEOUT: Duration;
    /// What it works over.
    type Connection: Send;

    /// Opens a connection; `attempt` counts the attempts since the last that worked.
    fn connect(
        &self,
        shared: &Shared,
        attempt: usize,
    ) -> impl Future<Output = redis::RedisResult<Self::Connection>> + Send;

    /// Works over a fresh connection until the connection fails or the rooms stop. Calls
    /// [`Upkeep::recovered`] once the link works again.
    fn serve(
        &mut self,
        shared: &Shared,
        connection: Self::Connection,
        upkeep: &mut Upkeep,
    ) -> impl Future<Output = Ended> + Send;

    /// The connection failed: whatever the link shows of it is taken down.
    fn lost(&mut self, shared: &Shared);

    /// The rooms stopped while the link was not connected.
    fn stopped_unconnected(&mut self, _shared: &Shared) {}
}

/// How a connection's work ended.
pub(super) enum Ended {
    /// The rooms were dropped: the task ends.
    Stopped,
    /// The connection failed: the link reconnects.
    Failed(redis::RedisError),
    /// A cluster sent the link to another node: it connects there at once.
    Redirected,
}

/// What a link's task keeps across its connections: the rooms' stop signal, the backoff, and
/// when the current outage began.
pub(super) struct Upkeep {
    /// Changes (with an error) when the rooms are dropped.
    pub(super) stop: watch::Receiver<()>,
    backoff: Backoff,
    outage: Option<Instant>,
}

impl Upkeep {
    /// The link works again: the outage, if there was one, ends now; how long it lasted.
    pub(super) fn recovered(&mut self) -> Option<Duration> {
        self.outage.take().map(|since| since.elapsed())
    }

    /// The connection did work: the next reconnect waits from the first backoff again.
    pub(super) fn worked(&mut self) {
        self.backoff.reset();
    }
}

/// Keeps `link` connected to Redis, reconnecting with backoff whenever its connection fails,
/// until the rooms are dropped.
pub(super) async fn keep_up<L: Link>(shared: Arc<Shared>, mut link: L, stop: watch::Receiver<()>) {
    let mut upkeep = Upkeep {
        stop,
        backoff: Backoff::new(),
        outage: None,
    };
    loop {
        let Some(connection) = connect(&shared, &link, &mut upkeep).await else {
            link.stopped_unconnected(&shared);
            return;
        };
        let error = match link.serve(&shared, connection, &mut upkeep).await {
            Ended::Stopped => return,
            Ended::Failed(error) => error,
            Ended::Redirected => {
                debug!("redirected to another node of the cluster ({})", L::NAME);
                link.lost(&shared);
                upkeep.backoff.reset();
                continue;
            }
        };
        link.lost(&shared);
        warn!(%error, "lost the Redis connection ({}); reconnecting", L::NAME);
        crate::metrics::backplane_reconnect(L::NAME);
        // An outage that began before the link recovered goes on.
        upkeep.outage.get_or_insert_with(Instant::now);
    }
}

/// Connects, retrying with backoff, until it works or the rooms are dropped (`None`).
async fn connect<L: Link>(shared: &Shared, link: &L, upkeep: &mut Upkeep) -> Option<L::Connection> {
    for attempts in 0.. {
        if !upkeep.backoff.wait(&mut upkeep.stop).await {
            return None;
        }
        let attempt = link.connect(shared, attempts);
        let error = tokio::select! {
            attempt = tokio::time::timeout(REDIS_TIMEOUT, attempt) => match attempt {
                Ok(Ok(connection)) => return Some(connection),
                Ok(Err(error)) => error.to_string(),
                Err(_) => "timed out".to_owned(),
            },
            _ = upkeep.stop.changed() => return None,
        };
        if upkeep.outage.is_none() {
            warn!(%error, role = L::NAME, "cannot reach Redis; retrying with backoff");
            upkeep.outage = Some(Instant::now());
        }
    }
    None
}

/// Reconnection waits, doubling up to [`MAX_BACKOFF`]; reset once a connection did work.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::ZERO)
    }

    fn reset(&mut self) {
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
