//! What the Redis backplane counts, for the [`BackplaneStats`] it reports, and its repeated
//! warnings, logged at most once a second with the counter's total.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tracing::warn;

use crate::rooms::backplane::stats::BackplaneStats;

/// How often a repeated warning (outbox full, oversized, rejected) is logged at most; the
/// counters count every occurrence, and what a warning left out is logged by the next one, or
/// by the tasks' catch-up (every heartbeat for the publisher, every read for the reader).
const WARN_EVERY: Duration = Duration::from_secs(1);

/// The backplane's counters, and whether each of its links is up.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) publisher_up: AtomicBool,
    /// The readers running (one per stream read), and those connected now.
    pub(super) readers: AtomicUsize,
    pub(super) readers_up: AtomicUsize,
    /// Entries read from the streams, whatever became of them.
    pub(super) read: AtomicU64,
    pub(super) published: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) oversized: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) duplicates: AtomicU64,
    pub(super) lost: AtomicU64,
    pub(super) gaps: AtomicU64,
    pub(super) dropped_warned: Warning,
    pub(super) oversized_warned: Warning,
    pub(super) rejected_warned: Warning,
}

impl Counters {
    /// The counters now, with `waiting` broadcasts in the outbox.
    pub(super) fn snapshot(&self, waiting: usize) -> BackplaneStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BackplaneStats {
            connected: self.publisher_up.load(Ordering::Relaxed)
                && self.readers_up.load(Ordering::Relaxed) == self.readers.load(Ordering::Relaxed),
            streams_read: self.readers.load(Ordering::Relaxed),
            read: load(&self.read),
            waiting,
            published: load(&self.published),
            received: load(&self.received),
            dropped: load(&self.dropped),
            oversized: load(&self.oversized),
            rejected: load(&self.rejected),
            duplicates: load(&self.duplicates),
            lost: load(&self.lost),
            gaps: load(&self.gaps),
        }
    }
}

/// A repeated warning about a counter: logged at once the first time, then at most once per
/// [`WARN_EVERY`], each time with the counter's total.
#[derive(Default)]
pub(super) struct Warning {
    /// When it was last logged, and the counter's total then.
    last: Mutex<Option<(Instant, u64)>>,
}

impl Warning {
    /// Whether to log it now, the counter being at `total`.
    pub(super) fn due(&self, total: u64) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match *last {
            Some((at, _)) if now.duration_since(at) < WARN_EVERY => false,
            Some((_, logged)) => {
                *last = Some((now, logged.max(total)));
                true
            }
            None => {
                *last = Some((now, total));
                true
            }
        }
    }

    /// The total of `counter` when some of it was not logged yet and the warning is due.
    pub(super) fn catch_up(&self, counter: &AtomicU64) -> Option<u64> {
        let total = counter.load(Ordering::Relaxed);
        let logged = self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map_or(0, |(_, logged)| logged);
        (total > logged && self.due(total)).then_some(total)
    }
}

pub(super) fn warn_dropped(budget: usize, total: u64) {
    warn!(
        budget,
        dropped = total,
        "the Redis outbox is full: broadcasts are not reaching other servers"
    );
}

pub(super) fn warn_oversized(max: usize, total: u64) {
    warn!(
        max,
        oversized = total,
        "broadcasts larger than the Redis backplane's maximum message size were delivered on \
         this server only"
    );
}

pub(super) fn warn_rejected(total: u64) {
    warn!(
        rejected = total,
        "dropped Redis stream entries that are malformed or lack the right tag (another \
         application, a server with a different secret, or a forgery)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_comes_at_once_then_at_most_every_second_and_catches_up() {
        let warning = Warning::default();
        let counter = AtomicU64::new(1);
        assert!(warning.due(1));
        counter.store(3, Ordering::Relaxed);
        assert!(!warning.due(2), "within a second of the last one");
        assert_eq!(warning.catch_up(&counter), None);
        // A second later (as if), the catch-up logs the total the last warning left out...
        let a_second_later = |warning: &Warning| {
            let mut last = warning.last.lock().unwrap();
            let (at, logged) = last.unwrap();
            *last = Some((at.checked_sub(WARN_EVERY).unwrap(), logged));
        };
        a_second_later(&warning);
        assert_eq!(warning.catch_up(&counter), Some(3));
        // ...and nothing when nothing is left out.
        a_second_later(&warning);
        assert_eq!(warning.catch_up(&counter), None);
    }
}
