//! The outbox of a connection: a bounded queue of messages that [`Sender`]s fill from any task
//! and the connection's [`WebSocket`](crate::WebSocket) writes while it waits in `recv`; plus
//! the close a sender may ask for, and what runs when the connection ends.
//!
//! It costs one small allocation per connection that asks for a sender, and a few message
//! slots once messages have waited: a buffer grown by a burst is given back when the burst is
//! written.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::hash::{Hash, Hasher};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Instant;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use crate::error::Error;
use crate::wire::engine::Encoded;
use crate::wire::{CloseCode, CloseFrame, Message};

/// How many message slots an empty queue keeps (a `VecDeque`'s smallest allocation).
const KEPT_SLOTS: usize = 4;

/// Numbers connections for [`Sender::id`]; 0 is never used.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// What a broadcast's offer found, with since when the member's pending output has stayed
/// above the high-water mark (`None` while it is below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    Queued {
        over_since: Option<Instant>,
    },
    /// The member's pending output is at its byte bound.
    Full {
        over_since: Option<Instant>,
    },
    /// The connection is gone or closing.
    Closed,
}

/// A message waiting in the outbox.
pub(crate) enum Queued {
    Message(Message),
    /// A broadcast, framed once for every member.
    Encoded(Encoded),
}

/// What a queued message costs: its bytes and the slot that holds it, so that even empty
/// messages count towards the byte bound.
fn cost(queued: &Queued) -> usize {
    SLOT_COST
        + match queued {
            Queued::Message(message) => message.len(),
            Queued::Encoded(encoded) => encoded.len(),
        }
}

/// The bookkeeping of one queued message, in bytes.
const SLOT_COST: usize = 64;

/// What the outbox gives the connection.
pub(crate) enum Next {
    /// A queued message to write.
    Message(Queued),
    /// A [`Sender::close`] asked the connection to close with this frame.
    Close(CloseFrame),
}

/// The connection's end of the outbox; dropping it (with the socket) ends the connection for
/// every sender.
pub(crate) struct Outbox {
    shared: Arc<Queue>,
}

struct Queue {
    id: u64,
    capacity: usize,
    state: Mutex<State>,
    /// The connection's task, waiting for a message or a close.
    reader: AtomicWaker,
    /// Senders waiting for room in the queue, or for the end.
    room: Notify,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    /// What the queued messages cost, in bytes (see [`cost`]).
    bytes: usize,
    /// Above this many pending bytes a reader that does not drain them is on its way to being
    /// too slow: the mark the last broadcast offer gave.
    high_water: Option<usize>,
    /// Since when the pending bytes have stayed above `high_water`.
    over_since: Option<Instant>,
    /// The close a [`Sender::close`] asked for; the first one wins.
    close: Option<CloseFrame>,
    ended: bool,
    /// What runs when the connection ends (rooms forget the member), keyed by who registered it.
    on_end: Vec<(u64, Box<dyn FnOnce() + Send>)>,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; should something, the state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Outbox {
    /// An outbox that holds up to `capacity` messages.
    pub(crate) fn new(capacity: usize) -> Self {
        let shared = Queue {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            capacity: capacity.max(1),
            state: Mutex::default(),
            reader: AtomicWaker::new(),
            room: Notify::new(),
        };
        Outbox {
            shared: Arc::new(shared),
        }
    }

    /// A sender for this outbox.
    pub(crate) fn sender(&self) -> Sender {
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The next message to write, or the close asked for; never, while there is neither.
    /// Cancel-safe.
    pub(crate) async fn next(&self) -> Next {
        poll_fn(|context| {
            self.shared.reader.register(context.waker());
            let mut state = self.shared.state();
            if let Some(frame) = &state.close {
                return Poll::Ready(Next::Close(frame.clone()));
            }
            match state.queue.pop_front() {
                Some(message) => {
                    state.bytes -= cost(&message);
                    if state.high_water.is_none_or(|mark| state.bytes <= mark) {
                        state.over_since = None;
                    }
                    // Give back what a burst grew, not the few slots every message would
                    // otherwise allocate anew.
                    if state.queue.is_empty() && state.queue.capacity() > KEPT_SLOTS {
                        state.queue = VecDeque::new();
                    }
                    drop(state);
                    self.shared.room.notify_one();
                    Poll::Ready(Next::Message(message))
                }
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Resolves once a [`Sender::close`] asks the connection to close. Cancel-safe.
    pub(crate) async fn closed(&self) -> CloseFrame {
        poll_fn(|context| {
            self.shared.reader.register(context.waker());
            match &self.shared.state().close {
                Some(frame) => Poll::Ready(frame.clone()),
                None => Poll::Pending,
            }
        })
        .await
    }
}

impl Drop for Outbox {
    /// The connection is over: senders fail from now on, and what waited for the end runs.
    fn drop(&mut self) {
        let hooks = {
            let mut state = self.shared.state();
            state.ended = true;
            state.queue.clear();
            std::mem::take(&mut state.on_end)
        };
        self.shared.room.notify_waiters();
        for (_, hook) in hooks {
            hook();
        }
    }
}

/// A cloneable handle that sends on one connection, from any task; see
/// [`WebSocket::sender`](crate::WebSocket::sender).
///
/// Clones of one connection's sender compare equal and share its [`id`](Self::id), so a
/// sender also names its connection: [`Rooms`](crate::Rooms) use it as the member.
#[derive(Clone)]
pub struct Sender {
    shared: Arc<Queue>,
}

impl Sender {
    /// A number that identifies the connection, unique within the process.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Queues a message, waiting while the connection's queue is full (so a slow client slows
    /// the sender, never memory). Fails with [`Error::Closed`] once the connection is gone.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let mut message = Some(Queued::Message(message.into()));
        loop {
            // Listen for room before looking, so that room made in between is not missed.
            let mut room = pin!(self.shared.room.notified());
            room.as_mut().enable();
            match self.offer(&mut message) {
                Err(Error::QueueFull) => room.await,
                done => return done,
            }
        }
    }

    /// Queues a message without waiting: [`Error::QueueFull`] when the client is not keeping
    /// up, [`Error::Closed`] once the connection is gone.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), Error> {
        self.offer(&mut Some(Queued::Message(message.into())))
    }

    /// Puts `message` in the queue if there is room, taking it out of the option.
    fn offer(&self, message: &mut Option<Queued>) -> Result<(), Error> {
        let mut state = self.shared.state();
        // Closing drops what waits, so nothing may be queued after it either.
        if state.ended || state.close.is_some() {
            return Err(Error::Closed);
        }
        if state.queue.len() >= self.shared.capacity {
            return Err(Error::QueueFull);
        }
        if let Some(message) = message.take() {
            state.bytes += cost(&message);
            state.queue.push_back(message);
        }
        drop(state);
        self.shared.reader.wake();
        Ok(())
    }

    /// Asks the connection to close with `code` and a short `reason` (cut to 123 bytes), even
    /// when its queue is full and its client reads nothing.
    ///
    /// The connection closes at once if it is waiting in [`WebSocket::recv`] (as class-style
    /// routes always are between messages), otherwise the next time it calls `recv`, which
    /// then returns [`Error::Kicked`] and, after it, `None`. Queued messages not yet written
    /// are dropped. The first close asked for wins.
    ///
    /// [`WebSocket::recv`]: crate::WebSocket::recv
    ///
    /// ```
    /// use ws_routes::{route, Sender, WebSocket};
    ///
    /// /// Gives the client a minute, whatever it is doing.
    /// fn time_limit(sender: Sender) {
    ///     tokio::spawn(async move {
    ///         tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    ///         sender.close(4008u16, "time is up");
    ///     });
    /// }
    ///
    /// #[route("/quiz")]
    /// async fn quiz(mut ws: WebSocket) {
    ///     time_limit(ws.sender());
    ///     while let Some(Ok(_answer)) = ws.recv().await {}
    /// }
    /// ```
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) {
        let mut state = self.shared.state();
        if state.close.is_none() {
            state.close = Some(CloseFrame::new(code, reason));
            state.queue.clear();
            state.bytes = 0;
            drop(state);
            self.shared.reader.wake();
            // Senders waiting for room learn that there will be none.
            self.shared.room.notify_waiters();
        }
    }

    /// Queues a broadcast: bounded by what its pending output costs in bytes rather than by
    /// the count, so that a burst of small messages fits; [`Offered::Full`] when it would take
    /// the pending bytes past `limit` (a message that finds the queue empty always fits).
    /// Pending bytes above `high_water` start (or continue) the member's time over the mark,
    /// which comes back with the answer (`now` is read by the caller, once per broadcast).
    pub(crate) fn offer_broadcast(
        &self,
        encoded: &Encoded,
        limit: usize,
        high_water: usize,
        now: impl FnOnce() -> Instant,
    ) -> Offered {
        let mut state = self.shared.state();
        if state.ended || state.close.is_some() {
            return Offered::Closed;
        }
        let queued = Queued::Encoded(encoded.clone());
        let cost = cost(&queued);
        if state.bytes > 0 && state.bytes + cost > limit {
            return Offered::Full {
                over_since: state.over_since,
            };
        }
        state.bytes += cost;
        state.queue.push_back(queued);
        state.high_water = Some(high_water);
        if state.bytes > high_water && state.over_since.is_none() {
            state.over_since = Some(now());
        }
        let over_since = state.over_since;
        drop(state);
        self.shared.reader.wake();
        Offered::Queued { over_since }
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.state().ended
    }

    /// Runs `hook` once when the connection ends, unless a hook with the same `key` is waiting
    /// already. `false` (and `hook` dropped) when the connection has ended.
    pub(crate) fn on_end(&self, key: u64, hook: impl FnOnce() + Send + 'static) -> bool {
        let mut state = self.shared.state();
        if state.ended {
            return false;
        }
        if !state.on_end.iter().any(|(waiting, _)| *waiting == key) {
            state.on_end.push((key, Box::new(hook)));
        }
        true
    }

    /// Drops the hook registered under `key`, if any.
    pub(crate) fn cancel_on_end(&self, key: u64) {
        self.shared
            .state()
            .on_end
            .retain(|(waiting, _)| *waiting != key);
    }
}

impl PartialEq for Sender {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Sender {}

impl Hash for Sender {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("id", &self.id())
            .field("closed", &self.is_closed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::{Offered, Outbox, SLOT_COST};
    use crate::error::Error;
    use crate::wire::Message;
    use crate::wire::engine::Encoded;

    #[test]
    fn broadcasts_are_bounded_in_bytes_not_messages() {
        let outbox = Outbox::new(4);
        let sender = outbox.sender();
        let small = Encoded::new(&Message::text("hi"));
        // A two-byte text is a four-byte frame.
        let limit = 100 * (4 + SLOT_COST);
        // Far more small messages than the queue's count, all within the byte bound.
        let offer = || sender.offer_broadcast(&small, limit, limit / 4, Instant::now);
        for _ in 0..100 {
            assert!(matches!(offer(), Offered::Queued { .. }));
        }
        assert!(matches!(
            offer(),
            Offered::Full {
                over_since: Some(_)
            }
        ));
        // A user's own `try_send` still keeps to the count.
        assert!(sender.try_send("mine").is_err());
    }

    #[test]
    fn a_message_that_finds_the_queue_empty_always_fits() {
        let outbox = Outbox::new(4);
        let sender = outbox.sender();
        let big = Encoded::new(&Message::binary(vec![0; 10_000]));
        let offer = || sender.offer_broadcast(&big, 100, 25, Instant::now);
        assert!(matches!(
            offer(),
            Offered::Queued {
                over_since: Some(_)
            }
        ));
        assert!(matches!(offer(), Offered::Full { .. }));
        drop(outbox);
        assert_eq!(offer(), Offered::Closed);
    }

    #[tokio::test]
    async fn after_a_close_nothing_is_queued_and_waiting_senders_give_up() {
        let outbox = Outbox::new(1);
        let sender = outbox.sender();
        sender.try_send("fills the queue").unwrap();
        let waiting = tokio::spawn({
            let sender = sender.clone();
            async move { sender.send("waits for room").await }
        });
        tokio::task::yield_now().await;
        sender.close(4008u16, "time is up");
        let woken = tokio::time::timeout(std::time::Duration::from_secs(10), waiting).await;
        assert!(matches!(woken, Ok(Ok(Err(Error::Closed)))), "{woken:?}");
        assert!(matches!(sender.try_send("late"), Err(Error::Closed)));
        drop(outbox);
    }
}
