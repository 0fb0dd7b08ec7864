//! Deduplication by origin: what a reader knows of each server it hears from, the last
//! sequence number it delivered, so that a retried or replayed entry is dropped and a jump in
//! the numbers is counted as lost.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a reader knows of the origins it hears from: the last sequence number of each.
#[derive(Default)]
pub(super) struct Origins {
    seen: HashMap<u64, (u64, Instant)>,
}

/// What to do with an entry, by its origin's sequence number.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    /// Deliver it; the number of broadcasts of that origin skipped before it.
    Deliver { missed: u64 },
    /// Seen already: drop it.
    Duplicate,
}

impl Origins {
    pub(super) fn check(&mut self, server: u64, seq: u64, now: Instant) -> Verdict {
        match self.seen.get_mut(&server) {
            None => {
                self.seen.insert(server, (seq, now));
                Verdict::Deliver { missed: 0 }
            }
            Some((last, _)) if seq <= *last => Verdict::Duplicate,
            Some((last, at)) => {
                let missed = seq - *last - 1;
                *last = seq;
                *at = now;
                Verdict::Deliver { missed }
            }
        }
    }

    /// Forgets the origins not heard from for `after`.
    pub(super) fn forget(&mut self, after: Duration, now: Instant) {
        self.seen
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_drop_duplicates_and_count_gaps() {
        let now = Instant::now();
        let mut origins = Origins::default();
        assert_eq!(origins.check(1, 10, now), Verdict::Deliver { missed: 0 });
        assert_eq!(origins.check(1, 11, now), Verdict::Deliver { missed: 0 });
        assert_eq!(origins.check(1, 11, now), Verdict::Duplicate);
        assert_eq!(origins.check(1, 5, now), Verdict::Duplicate);
        assert_eq!(origins.check(2, 1, now), Verdict::Deliver { missed: 0 });
        assert_eq!(origins.check(1, 15, now), Verdict::Deliver { missed: 3 });
        origins.forget(Duration::from_secs(1), now + Duration::from_secs(2));
        assert_eq!(origins.check(1, 3, now), Verdict::Deliver { missed: 0 });
    }
}
