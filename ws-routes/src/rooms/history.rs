//! Room history in memory: the newest messages of each room that keeps some, numbered, so that
//! a client that reconnects gets what it missed ([`Rooms::join_since`](super::Rooms::join_since)).
//!
//! Which rooms keep a history is settled by name, with no lock and no allocation, so rooms
//! without one pay a prefix comparison per broadcast (nothing when no room has history). A
//! room's [`Log`] is created by its first broadcast or join with positions; appending to it
//! is O(1) (trimming drops from the front), and the message is framed once, in its envelope,
//! for the log and for every member that joined with positions.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::recovery::{Position, Recovery, Unrecoverable, envelope, outcome};
use crate::wire::Message;
use crate::wire::engine::Encoded;

/// What a stored message costs on top of its frame, in bytes.
const ENTRY_COST: usize = 64;

/// Every this many appends, logs whose messages have all aged out are forgotten.
const SWEEP_EVERY: usize = 1024;

/// How much history a room keeps: its newest messages, at most so many, so many bytes and so
/// old; a message leaves the history when any bound is passed. Given to
/// [`RoomsBuilder::history`](crate::rooms::RoomsBuilder::history) or
/// [`RoomsBuilder::history_for`](crate::rooms::RoomsBuilder::history_for).
///
/// ```
/// use std::time::Duration;
/// use ws_routes::rooms::History;
///
/// let history = History::new().max_messages(500).max_age(Duration::from_secs(30));
/// assert_eq!(history.messages(), 500);
/// assert_eq!(history.bytes(), History::DEFAULT_MAX_BYTES);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    max_messages: usize,
    max_bytes: usize,
    max_age: Duration,
}

impl Default for History {
    fn default() -> Self {
        History {
            max_messages: History::DEFAULT_MAX_MESSAGES,
            max_bytes: History::DEFAULT_MAX_BYTES,
            max_age: History::DEFAULT_MAX_AGE,
        }
    }
}

impl History {
    /// The default [`max_messages`](Self::max_messages): 1,000.
    pub const DEFAULT_MAX_MESSAGES: usize = 1000;
    /// The default [`max_bytes`](Self::max_bytes): 1 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 1 << 20;
    /// The default [`max_age`](Self::max_age): two minutes.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(120);

    /// A history with the defaults: 1,000 messages, 1 MiB, two minutes.
    pub fn new() -> Self {
        History::default()
    }

    /// The most messages a room keeps (at least 1).
    pub fn max_messages(mut self, messages: usize) -> Self {
        self.max_messages = messages.max(1);
        self
    }

    /// The most bytes a room's history holds: each message counts its framed size (payload,
    /// envelope and frame header) plus 64 bytes of bookkeeping. The newest message is kept
    /// whatever its size.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// How long a message stays in the history: a client that was away longer cannot be
    /// caught up. A room whose messages have all aged out is forgotten, with its epoch: a
    /// client that comes back after that is told its epoch changed.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// The most messages a room keeps.
    pub fn messages(&self) -> usize {
        self.max_messages
    }

    /// The most bytes a room's history holds.
    pub fn bytes(&self) -> usize {
        self.max_bytes
    }

    /// How long a message stays in the history.
    pub fn age(&self) -> Duration {
        self.max_age
    }
}

/// Which rooms keep a history, and the histories themselves.
#[derive(Default)]
pub(crate) struct Histories {
    /// Room-name prefixes and their settings; `""` matches every room.
    rules: Vec<(String, History)>,
    logs: RwLock<HashMap<Arc<str>, Arc<Mutex<Log>>>>,
    appends: AtomicUsize,
}

impl Histories {
    pub(crate) fn new(rules: Vec<(String, History)>) -> Self {
        Histories {
            rules,
            ..Histories::default()
        }
    }

    /// The history settings of `room` (those of the longest prefix of its name that has
    /// some, the last given among equals), or `None` when it keeps none.
    pub(crate) fn settings(&self, room: &str) -> Option<History> {
        self.rules
            .iter()
            .filter(|(prefix, _)| room.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, settings)| *settings)
    }

    /// The log of `room`, created (with a new epoch) if it has none.
    pub(crate) fn log(&self, room: &str, settings: History) -> Arc<Mutex<Log>> {
        if let Some(log) = self.read().get(room) {
            return Arc::clone(log);
        }
        let mut logs = self.logs.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            logs.entry(Arc::from(room))
                .or_insert_with(|| Arc::new(Mutex::new(Log::new(settings)))),
        )
    }

    /// Counts an append, and every [`SWEEP_EVERY`] of them forgets the logs whose messages
    /// have all aged out (and that nobody is using).
    pub(crate) fn appended(&self, now: Instant) {
        if self.appends.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        let mut logs = self.logs.write().unwrap_or_else(PoisonError::into_inner);
        logs.retain(|_, log| {
            Arc::strong_count(log) > 1 || {
                let mut log = lock(log);
                log.trim(now);
                !log.entries.is_empty()
            }
        });
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Arc<Mutex<Log>>>> {
        self.logs.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Histories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histories")
            .field("rules", &self.rules)
            .field("rooms", &self.read().len())
            .finish()
    }
}

/// Locks a log; a panic while it was held leaves it whole (every update finishes before
/// anything that can panic).
pub(crate) fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One room's history. Its lock is held while a broadcast to the room is numbered, appended
/// and offered to the members, and while a member joins with positions and is sent what it
/// missed: so messages reach every member in offset order, and a joining member gets its
/// replay before any live message.
pub(crate) struct Log {
    epoch: String,
    /// The offset of the next message; the first is 1.
    next: u64,
    entries: VecDeque<Entry>,
    bytes: usize,
    settings: History,
}

/// A message [`Log::append`] kept.
pub(crate) struct Appended {
    /// The message in its envelope, framed.
    pub(crate) frame: Encoded,
    /// When the log started afresh, losing messages: the outcome frame that tells the
    /// members that joined with positions (before the message).
    pub(crate) lost: Option<Encoded>,
}

struct Entry {
    offset: u64,
    at: Instant,
    /// The message in its envelope, framed: what replays write.
    frame: Encoded,
}

impl Log {
    fn new(settings: History) -> Self {
        Log {
            epoch: format!("{:08x}", rand::random::<u32>()),
            next: 1,
            entries: VecDeque::new(),
            bytes: 0,
            settings,
        }
    }

    /// Keeps `message` in its envelope at `position` (or at the next offset, numbering it
    /// here, without one), and returns that envelope framed, for the members that joined with
    /// positions; `None` for a position this log has had already.
    ///
    /// A position in another epoch, or past the next offset (messages this server never
    /// got), starts the log afresh from it: claims from before it are then too old, never
    /// served across the hole. What the members that joined with positions lost then is in
    /// [`Appended::lost`] (nothing, when the log had had no message yet).
    pub(crate) fn append(
        &mut self,
        room: &str,
        position: Option<&Position>,
        message: &Message,
        now: Instant,
    ) -> Option<Appended> {
        let mut lost = None;
        let position = match position {
            None => Position::new(self.epoch.clone(), self.next),
            Some(position) if position.epoch() != self.epoch || position.offset() > self.next => {
                if self.next > 1 {
                    lost = Some(if position.epoch() == self.epoch {
                        Unrecoverable::TooOld
                    } else {
                        Unrecoverable::EpochChanged
                    });
                }
                self.epoch = position.epoch().to_owned();
                self.entries.clear();
                self.bytes = 0;
                position.clone()
            }
            Some(position) if position.offset() < self.next => return None,
            Some(position) => position.clone(),
        };
        let frame = Encoded::new(&envelope(room, &position, message));
        self.bytes += ENTRY_COST + frame.len();
        self.entries.push_back(Entry {
            offset: position.offset(),
            at: now,
            frame: frame.clone(),
        });
        self.next = position.offset() + 1;
        self.trim(now);
        let lost = lost.map(|lost| {
            let before = Position::new(position.epoch(), position.offset().saturating_sub(1));
            Encoded::new(&outcome(room, &Recovery::Lost(lost), &before))
        });
        Some(Appended { frame, lost })
    }

    /// Drops the oldest messages past the bounds, keeping the newest one whatever its size.
    fn trim(&mut self, now: Instant) {
        while let Some(oldest) = self.entries.front() {
            let over = self.entries.len() > self.settings.max_messages
                || (self.bytes > self.settings.max_bytes && self.entries.len() > 1)
                || now.saturating_duration_since(oldest.at) > self.settings.max_age;
            if !over {
                break;
            }
            self.bytes -= ENTRY_COST + oldest.frame.len();
            self.entries.pop_front();
        }
    }

    /// What a client that claims `claim` gets: the outcome, the position the room continues
    /// from for it, and the frames it missed, oldest first.
    pub(crate) fn since(
        &mut self,
        claim: Option<&Position>,
        now: Instant,
    ) -> (Recovery, Position, impl Iterator<Item = &Encoded> + use<'_>) {
        self.trim(now);
        let top = self.next - 1;
        let first = self.entries.front().map_or(self.next, |entry| entry.offset);
        let (recovery, from) = match claim {
            None => (Recovery::New, top),
            Some(claim) if claim.epoch() != self.epoch => {
                (Recovery::Lost(Unrecoverable::EpochChanged), top)
            }
            Some(claim) if claim.offset() > top => {
                (Recovery::Lost(Unrecoverable::UnknownPosition), top)
            }
            Some(claim) if claim.offset() + 1 < first => {
                (Recovery::Lost(Unrecoverable::TooOld), top)
            }
            Some(claim) => (
                Recovery::Recovered {
                    replayed: top - claim.offset(),
                },
                claim.offset(),
            ),
        };
        // Offsets are contiguous: the entry of offset `from + 1` is at `from + 1 - first`.
        let skip = usize::try_from((from + 1).saturating_sub(first)).unwrap_or(usize::MAX);
        let missed = self.entries.iter().skip(skip).map(|entry| &entry.frame);
        (recovery, Position::new(self.epoch.clone(), from), missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(settings: History) -> (Log, Instant) {
        (Log::new(settings), Instant::now())
    }

    fn offsets<'a>(frames: impl Iterator<Item = &'a Encoded>) -> Vec<String> {
        frames
            .map(|frame| {
                let text = std::str::from_utf8(&frame.wire()[2..]).unwrap().to_owned();
                text.split(['.', ' ']).nth(1).unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn a_claim_in_the_history_gets_what_follows_it_and_nothing_before() {
        let (mut log, now) = log(History::new());
        for n in 0..5 {
            log.append("r", None, &Message::text(format!("m{n}")), now)
                .unwrap();
        }
        let claim = Position::new(log.epoch.clone(), 2);
        let (recovery, from, missed) = log.since(Some(&claim), now);
        assert_eq!(offsets(missed), ["3", "4", "5"]);
        assert_eq!(recovery, Recovery::Recovered { replayed: 3 });
        assert_eq!(from, claim);
        let (recovery, from, missed) = log.since(None, now);
        assert_eq!(
            (recovery, from.offset(), missed.count()),
            (Recovery::New, 5, 0)
        );
    }

    #[test]
    fn claims_the_history_cannot_serve_are_lost_with_their_reason() {
        let (mut log, now) = log(History::new().max_messages(3));
        for n in 0..5 {
            log.append("r", None, &Message::text(format!("m{n}")), now)
                .unwrap();
        }
        let epoch = log.epoch.clone();
        // Offsets 3, 4 and 5 are kept: a client at 2 misses nothing that is gone.
        let (recovery, _, _) = log.since(Some(&Position::new(epoch.clone(), 2)), now);
        assert_eq!(recovery, Recovery::Recovered { replayed: 3 });
        for (claim, lost) in [
            (Position::new(epoch.clone(), 1), Unrecoverable::TooOld),
            (
                Position::new(epoch.clone(), 6),
                Unrecoverable::UnknownPosition,
            ),
            (Position::new("other", 4), Unrecoverable::EpochChanged),
        ] {
            let (recovery, from, missed) = log.since(Some(&claim), now);
            assert_eq!(recovery, Recovery::Lost(lost));
            assert_eq!(from, Position::new(epoch.clone(), 5));
            assert_eq!(missed.count(), 0);
        }
    }

    #[test]
    fn positions_from_the_backplane_are_kept_once_and_a_hole_starts_afresh() {
        let (mut log, now) = log(History::new());
        let at = |epoch: &str, offset| Position::new(epoch, offset);
        let message = Message::text("m");
        // The first numbered message adopts its epoch, and tells nobody of a loss.
        let first = log.append("r", Some(&at("e", 5)), &message, now).unwrap();
        assert!(first.lost.is_none());
        assert!(
            log.append("r", Some(&at("e", 6)), &message, now)
                .unwrap()
                .lost
                .is_none()
        );
        assert!(
            log.append("r", Some(&at("e", 6)), &message, now).is_none(),
            "had it"
        );
        // Offsets 7 and 8 never came: claims before them are too old.
        let hole = log.append("r", Some(&at("e", 9)), &message, now).unwrap();
        let told = hole.lost.expect("the loss is told");
        assert!(
            std::str::from_utf8(&told.wire()[2..])
                .unwrap()
                .ends_with("\u{1e}!too-old 0 e.8 r")
        );
        let (recovery, _, _) = log.since(Some(&at("e", 6)), now);
        assert_eq!(recovery, Recovery::Lost(Unrecoverable::TooOld));
        let (recovery, _, missed) = log.since(Some(&at("e", 8)), now);
        assert_eq!(
            (recovery, missed.count()),
            (Recovery::Recovered { replayed: 1 }, 1)
        );
        // Another epoch: the history was lost.
        let restarted = log.append("r", Some(&at("f", 1)), &message, now).unwrap();
        let told = restarted.lost.expect("the loss is told");
        assert!(
            std::str::from_utf8(&told.wire()[2..])
                .unwrap()
                .ends_with("!epoch-changed 0 f.0 r")
        );
    }

    #[test]
    fn rooms_whose_messages_all_aged_out_are_forgotten() {
        let settings = History::new().max_age(Duration::from_secs(1));
        let everything = History::new().max_messages(1);
        let histories = Histories::new(vec![("chat:".into(), settings), ("".into(), everything)]);
        // The longest prefix wins, whatever the order given.
        assert_eq!(histories.settings("chat:a"), Some(settings));
        assert_eq!(histories.settings("news"), Some(everything));
        assert_eq!(Histories::new(Vec::new()).settings("news"), None);
        let now = Instant::now();
        for room in ["chat:idle", "chat:busy"] {
            let log = histories.log(room, settings);
            lock(&log).append(room, None, &Message::text("m"), now);
        }
        let busy = histories.log("chat:busy", settings);
        let later = now + Duration::from_secs(2);
        for _ in 0..SWEEP_EVERY {
            histories.appended(later);
        }
        // The idle room is gone; the busy one is in use, and stays.
        assert_eq!(histories.read().len(), 1);
        assert!(histories.read().contains_key("chat:busy"));
        drop(busy);
    }

    #[test]
    fn bytes_and_age_bound_the_history() {
        let (mut log, now) = log(History::new().max_bytes(1).max_age(Duration::from_secs(1)));
        log.append("r", None, &Message::text("a"), now);
        log.append("r", None, &Message::text("b"), now);
        assert_eq!(log.entries.len(), 1, "the newest stays whatever its size");
        let later = now + Duration::from_secs(2);
        let epoch = log.epoch.clone();
        let (recovery, _, _) = log.since(Some(&Position::new(epoch.clone(), 1)), later);
        assert_eq!(recovery, Recovery::Lost(Unrecoverable::TooOld));
        let (recovery, _, missed) = log.since(Some(&Position::new(epoch, 2)), later);
        assert_eq!(
            (recovery, missed.count()),
            (Recovery::Recovered { replayed: 0 }, 0)
        );
        assert!(log.entries.is_empty());
        assert_eq!(log.bytes, 0);
    }
}
