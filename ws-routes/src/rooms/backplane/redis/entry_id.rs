//! The id Redis gives a stream entry: milliseconds on its clock, and a sequence within them.

use std::fmt;

/// A stream entry's id: milliseconds on Redis's clock, and a sequence within them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct EntryId(u64, u64);

impl EntryId {
    /// Before every entry: where a reader starts to read a stream from its start.
    pub(super) const ZERO: EntryId = EntryId(0, 0);

    /// The id before every entry appended from `millis` on (Redis's clock): reading after it
    /// starts there.
    pub(super) fn at_millis(millis: u64) -> EntryId {
        EntryId(millis, 0)
    }

    /// The time part: when Redis added the entry, in milliseconds since the Unix epoch.
    pub(super) fn millis(self) -> u64 {
        self.0
    }

    pub(super) fn parse(id: &str) -> Option<EntryId> {
        let (ms, seq) = id.split_once('-')?;
        Some(EntryId(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_order_by_time_then_sequence() {
        let id = |s| EntryId::parse(s).unwrap();
        assert!(id("1700000000000-0") < id("1700000000000-1"));
        assert!(id("1700000000000-9") < id("1700000000001-0"));
        assert_eq!(id("5-3").to_string(), "5-3");
        assert_eq!(EntryId::parse("5"), None);
        assert_eq!(EntryId::parse("a-1"), None);
    }
}
