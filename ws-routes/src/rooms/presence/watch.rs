//! Watching a room's presence: one task per watched room reads who is present when a change
//! is announced (here, or by another server), at most once per coalescing window, and sends
//! the difference to every subscriber.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};

use super::{Presence, PresenceDiff};
use crate::rooms::{Inner, Rooms};

/// How many changes wait for a subscriber before it falls behind and gets the whole state
/// again.
const BACKLOG: usize = 64;

/// What a subscriber to a room's presence gets from [`PresenceEvents::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceEvent {
    /// Everyone present: first, and again after the subscriber fell behind.
    State(Presence),
    /// What changed since the last event.
    Diff(PresenceDiff),
}

/// A subscription to one room's presence, from
/// [`Rooms::presence_events`](crate::Rooms::presence_events): the whole state first, then
/// coalesced diffs.
#[derive(Debug)]
pub struct PresenceEvents {
    watched: Arc<Watched>,
    changes: broadcast::Receiver<Change>,
    /// The state to give first, when the room's watcher had read it already.
    first: Option<Presence>,
}

impl PresenceEvents {
    /// The next event: the whole state first, then each coalesced diff. A subscriber that
    /// does not keep up (64 diffs behind) gets the whole state again. `None` once the rooms
    /// are dropped.
    ///
    /// Cancel-safe: a `next()` dropped before it completes loses no event.
    pub async fn next(&mut self) -> Option<PresenceEvent> {
        if let Some(state) = self.first.take() {
            return Some(PresenceEvent::State(state));
        }
        loop {
            match self.changes.recv().await {
                Ok(Change::Initial(state)) => return Some(PresenceEvent::State((*state).clone())),
                Ok(Change::Diff(diff)) => return Some(PresenceEvent::Diff((*diff).clone())),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let feed = self.watched.lock();
                    let Some(changes) = &feed.changes else {
                        return None;
                    };
                    self.changes = changes.subscribe();
                    if let Some(last) = &feed.last {
                        return Some(PresenceEvent::State(last.clone()));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for PresenceEvents {
    fn drop(&mut self) {
        // The watcher ends once nobody is subscribed: it looks when poked.
        self.watched.poke.notify_one();
    }
}

/// What the watcher of a room sends its subscribers.
#[derive(Debug, Clone)]
enum Change {
    /// The first state it read (to subscribers that came before it).
    Initial(Arc<Presence>),
    Diff(Arc<PresenceDiff>),
}

/// One watched room: what its watcher last read, the channel to its subscribers, and the
/// nudge that a change was announced.
#[derive(Debug)]
struct Watched {
    feed: Mutex<Feed>,
    poke: Notify,
}

#[derive(Debug)]
struct Feed {
    last: Option<Presence>,
    /// `None` once the watcher ended: subscribers then get `None`.
    changes: Option<broadcast::Sender<Change>>,
}

impl Watched {
    fn lock(&self) -> MutexGuard<'_, Feed> {
        self.feed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The watched rooms of a [`Rooms`], and the coalescing window.
pub(crate) struct Watchers {
    rooms: Mutex<HashMap<String, Arc<Watched>>>,
    /// How many rooms are watched: a change in a room nobody watches costs a load of it.
    watched: AtomicUsize,
    window: Duration,
}

impl Watchers {
    pub(crate) fn new(window: Duration) -> Self {
        Watchers {
            rooms: Mutex::default(),
            watched: AtomicUsize::new(0),
            window,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Watched>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The presence of `room` changed (here, or on another server): its watcher, if any,
    /// reads it again once the window is over.
    pub(crate) fn poke(&self, room: &str) {
        if self.watched.load(Ordering::Acquire) == 0 {
            return;
        }
        if let Some(watched) = self.lock().get(room) {
            watched.poke.notify_one();
        }
    }

    /// Subscribes to `room`'s presence, starting its watcher if nobody watched it.
    pub(crate) fn subscribe(&self, room: &str, inner: &Arc<Inner>) -> PresenceEvents {
        let mut rooms = self.lock();
        if let Some(watched) = rooms.get(room) {
            let feed = watched.lock();
            if let Some(changes) = &feed.changes {
                return PresenceEvents {
                    changes: changes.subscribe(),
                    first: feed.last.clone(),
                    watched: Arc::clone(watched),
                };
            }
        }
        let (changes, subscriber) = broadcast::channel(BACKLOG);
        let watched = Arc::new(Watched {
            feed: Mutex::new(Feed {
                last: None,
                changes: Some(changes),
            }),
            poke: Notify::new(),
        });
        rooms.insert(room.to_owned(), Arc::clone(&watched));
        self.watched.store(rooms.len(), Ordering::Release);
        drop(rooms);
        inner.backplane.watch_changed(room);
        let recheck = inner.backplane.presence_recheck();
        tokio::spawn(watch(
            room.to_owned(),
            Arc::clone(&watched),
            Arc::downgrade(inner),
            self.window,
            recheck,
        ));
        PresenceEvents {
            watched,
            changes: subscriber,
            first: None,
        }
    }

    /// Whether `room`'s presence is watched.
    pub(crate) fn is_watched(&self, room: &str) -> bool {
        self.watched.load(Ordering::Acquire) > 0 && self.lock().contains_key(room)
    }

    /// Forgets `room`'s watcher when nobody subscribes to it any more; `true` when it did.
    fn release(&self, room: &str, watched: &Arc<Watched>) -> bool {
        let mut rooms = self.lock();
        let mut feed = watched.lock();
        if feed
            .changes
            .as_ref()
            .is_some_and(|changes| changes.receiver_count() > 0)
        {
            return false;
        }
        feed.changes = None;
        if rooms
            .get(room)
            .is_some_and(|current| Arc::ptr_eq(current, watched))
        {
            rooms.remove(room);
        }
        self.watched.store(rooms.len(), Ordering::Release);
        true
    }
}

/// The watcher of `room`: reads who is present, sends what changed, and waits for the next
/// announced change (or, with other servers, the next recheck), then for the window to close.
async fn watch(
    room: String,
    watched: Arc<Watched>,
    inner: Weak<Inner>,
    window: Duration,
    recheck: Option<Duration>,
) {
    loop {
        let Some(inner) = inner.upgrade() else {
            // The rooms are gone: subscribers get `None`.
            watched.lock().changes = None;
            return;
        };
        if inner.watchers.release(&room, &watched) {
            inner.backplane.watch_changed(&room);
            return;
        }
        let rooms = Rooms { inner };
        match rooms.present(&room).await {
            Ok(now) => send(&watched, now),
            // Kept as it was; read again on the next change or recheck.
            Err(error) => tracing::debug!(%room, %error, "could not read the room's presence"),
        }
        // Not held while waiting: the rooms may be dropped meanwhile.
        drop(rooms);
        match recheck {
            Some(every) => {
                tokio::select! {
                    () = watched.poke.notified() => {}
                    () = tokio::time::sleep(every) => {}
                }
            }
            None => watched.poke.notified().await,
        }
        tokio::time::sleep(window).await;
    }
}

/// Records `now` as the room's presence and sends subscribers what changed.
fn send(watched: &Watched, now: Presence) {
    let mut feed = watched.lock();
    let change = match &feed.last {
        None => Change::Initial(Arc::new(now.clone())),
        Some(last) => {
            let diff = last.diff(&now);
            if diff.is_empty() {
                return;
            }
            Change::Diff(Arc::new(diff))
        }
    };
    feed.last = Some(now);
    if let Some(changes) = &feed.changes {
        // No subscriber left: the watcher notices and ends.
        let _ = changes.send(change);
    }
}
