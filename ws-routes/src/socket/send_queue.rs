//! The send queue of a connection: a bounded queue of messages that [`Sender`]s fill from any task
//! and the connection's [`WebSocket`](crate::WebSocket) writes while it waits in `recv`; plus
//! the close a sender may ask for, and what runs when the connection ends.
//!
//! It costs one small allocation per connection that asks for a sender, and a few message
//! slots once messages have waited: a buffer grown by a burst is given back when the burst is
//! written.
//!
//! A broadcast skips the queue when it can: while the connection writes nothing itself and
//! nothing waits in its queue, the engine opens its plain TCP socket to direct writes
//! ([`DirectWrites`]), and the broadcasting task writes the frame there at once, under the
//! send queue's lock, without waking the connection's task. What the socket does not take (the
//! rest of a frame it took part of) is kept here, and the engine writes it before anything
//! else when it takes the socket back; a broadcast that finds the socket full is queued as
//! usual. The socket is shared ([`SharedTcp`]): the send queue holds it from the first opening
//! until the connection ends, so no write can reach a closed descriptor.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::hash::{Hash, Hasher};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use bytes::Bytes;

use crate::error::Error;
use crate::reply::Table;
use crate::wire::engine::{DirectWrites, Encoded, SharedWrites};
use crate::wire::transport::SharedTcp;
use crate::wire::{CloseCode, CloseFrame, Message};

/// How many message slots an empty queue keeps (a `VecDeque`'s smallest allocation).
const KEPT_SLOTS: usize = 4;

/// Numbers connections for [`Sender::id`]; 0 is never used.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// What a broadcast's offer found, with since when the member's pending output has stayed
/// above the high-water mark (`None` while it is below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Taken: written to the socket (or the part of it the socket took, the rest waiting), or
    /// queued.
    Taken { over_since: Option<Instant> },
    /// The member's pending output is at its byte bound.
    Full { over_since: Option<Instant> },
    /// The connection is gone or closing.
    Closed,
}

/// A message waiting in the send queue.
pub(crate) enum Queued {
    Message(Message),
    /// A broadcast, framed once for every member.
    Encoded(Encoded),
    /// Not in the queue: the rest of a frame a broadcast wrote part of straight to the socket
    /// waits in [`Direct::Rest`], and flushing the engine (which takes the socket back) writes it.
    Rest,
}

/// What a queued message costs: its bytes and the slot that holds it, so that even empty
/// messages count towards the byte bound.
fn cost(queued: &Queued) -> usize {
    SLOT_COST
        + match queued {
            Queued::Message(message) => message.len(),
            Queued::Encoded(encoded) => encoded.len(),
            Queued::Rest => 0,
        }
}

/// Whether broadcasts may write straight to the connection's socket.
#[derive(Default)]
enum Direct {
    #[default]
    Shut,
    /// The engine writes nothing and leaves its socket to broadcasts (compressed as said when
    /// the connection compresses).
    Open(Option<SharedWrites>),
    /// A broadcast wrote part of a frame: the rest, which the engine writes first.
    Rest(Bytes),
}

/// The bookkeeping of one queued message, in bytes.
const SLOT_COST: usize = 64;

/// What the send queue gives the connection.
pub(crate) enum Next {
    /// A queued message to write.
    Message(Queued),
    /// A [`Sender::close`] asked the connection to close with this frame.
    Close(CloseFrame),
}

/// The connection's end of the send queue; dropping it (with the socket) ends the connection for
/// every sender.
pub(crate) struct SendQueue {
    shared: Arc<Queue>,
}

/// What the connection's [`SendQueue`] and its [`Sender`]s share.
struct Queue {
    id: u64,
    capacity: usize,
    state: Mutex<QueueState>,
    /// The connection's task, waiting for a message or a close.
    reader: AtomicWaker,
    /// Senders waiting for room in the queue, or for the end.
    room: Notify,
    /// The requests in flight, once the connection takes replies on.
    replies: OnceLock<Arc<Table>>,
}

/// What the queue's lock guards: the messages, their cost, the close asked for, the direct
/// writes and the hooks that run at the end.
#[derive(Default)]
struct QueueState {
    queue: VecDeque<Queued>,
    /// How many of the queued are [`Sender`]s' own messages, which the queue's capacity bounds
    /// (broadcasts are bounded by their bytes).
    messages: usize,
    /// What the queued messages cost, in bytes (see [`cost`]).
    bytes: usize,
    /// Above this many pending bytes a reader that does not drain them is on its way to being
    /// too slow: the mark the last broadcast offer gave.
    high_water: Option<usize>,
    /// Since when the pending bytes have stayed above `high_water`.
    over_since: Option<Instant>,
    /// The close a [`Sender::close`] asked for; the first one wins.
    close: Option<CloseFrame>,
    direct: Direct,
    /// The connection's socket, from the first time the engine opened it to direct writes
    /// until the connection ends.
    socket: Option<SharedTcp>,
    ended: bool,
    /// What runs when the connection ends (rooms forget the member), keyed by who registered it.
    on_end: Vec<(u64, Box<dyn FnOnce() + Send>)>,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, QueueState> {
        // Nothing panics while holding the lock; should something, the state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SendQueue {
    /// A send queue that holds up to `capacity` messages.
    pub(crate) fn new(capacity: usize) -> Self {
        let shared = Queue {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            capacity: capacity.max(1),
            state: Mutex::default(),
            reader: AtomicWaker::new(),
            room: Notify::new(),
            replies: OnceLock::new(),
        };
        SendQueue {
            shared: Arc::new(shared),
        }
    }

    /// A sender for this send queue.
    pub(crate) fn sender(&self) -> Sender {
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The next message to write, or the close asked for; pending while there is neither (the
    /// task is woken when either comes).
    pub(crate) fn poll_next(&self, context: &mut Context<'_>) -> Poll<Next> {
        self.shared.reader.register(context.waker());
        let state = self.shared.state();
        if let Some(frame) = &state.close {
            return Poll::Ready(Next::Close(frame.clone()));
        }
        if matches!(state.direct, Direct::Rest(_)) {
            return Poll::Ready(Next::Message(Queued::Rest));
        }
        match self.pop(state) {
            Some(message) => Poll::Ready(Next::Message(message)),
            None => Poll::Pending,
        }
    }

    /// [`poll_next`](Self::poll_next) as a future.
    #[cfg(test)]
    async fn next(&self) -> Next {
        poll_fn(|context| self.poll_next(context)).await
    }

    /// The next queued message, without waiting: what the connection writes together with the
    /// one [`poll_next`](Self::poll_next) gave it. `None` when the queue is empty or a close was asked
    /// for.
    pub(crate) fn try_next_message(&self) -> Option<Queued> {
        let state = self.shared.state();
        if state.close.is_some() || matches!(state.direct, Direct::Rest(_)) {
            return None;
        }
        self.pop(state)
    }

    /// Takes the first queued message, for the connection to write.
    fn pop(&self, mut state: MutexGuard<'_, QueueState>) -> Option<Queued> {
        let message = state.queue.pop_front()?;
        if let Queued::Message(_) = message {
            state.messages -= 1;
        }
        // The connection is about to write: a broadcast that found the queue empty now must
        // not go out before this message, on another thread.
        if let Direct::Open(..) = state.direct {
            state.direct = Direct::Shut;
        }
        state.bytes -= cost(&message);
        if state.high_water.is_none_or(|mark| state.bytes <= mark) {
            state.over_since = None;
        }
        // Give back what a burst grew, not the few slots every message would otherwise
        // allocate anew.
        if state.queue.is_empty() && state.queue.capacity() > KEPT_SLOTS {
            state.queue = VecDeque::new();
        }
        drop(state);
        self.shared.room.notify_one();
        Some(message)
    }

    /// Where the engine opens its socket to broadcasts' direct writes, and takes it back.
    pub(crate) fn direct(&self) -> Arc<dyn DirectWrites> {
        Arc::clone(&self.shared) as Arc<dyn DirectWrites>
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

impl SendQueue {
    /// Ends the connection for every sender, as dropping the send queue does, and hands over the
    /// messages still waiting in the queue, to be written before the close frame.
    pub(crate) fn into_unsent(self) -> VecDeque<Queued> {
        self.end()
    }

    /// The connection is over: senders fail from now on, and what waited for the end runs.
    /// Returns what waited in the queue; the rest of a frame a broadcast wrote part of stays
    /// with the direct writes, for the engine to write before anything else. Idempotent.
    fn end(&self) -> VecDeque<Queued> {
        let (unsent, hooks) = {
            let mut state = self.shared.state();
            state.ended = true;
            if let Direct::Open(..) = state.direct {
                state.direct = Direct::Shut;
            }
            state.socket = None;
            state.bytes = 0;
            let unsent = std::mem::take(&mut state.queue);
            state.messages = 0;
            (unsent, std::mem::take(&mut state.on_end))
        };
        self.shared.room.notify_waiters();
        for (_, hook) in hooks {
            hook();
        }
        unsent
    }
}

impl Drop for SendQueue {
    fn drop(&mut self) {
        self.end();
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
    /// Asks the CPU to bring this sender's queue into its cache: a broadcast calls it for the
    /// next member before writing to the current one's socket, so that the next offer does not
    /// wait for memory after the system call.
    pub(crate) fn prefetch(&self) {
        crate::prefetch::prefetch(Arc::as_ptr(&self.shared));
    }

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
            match self.offer(&mut message, 0) {
                Err(Error::QueueFull) => room.await,
                done => return done,
            }
        }
    }

    /// Queues a message without waiting: [`Error::QueueFull`] when the client is not keeping
    /// up, [`Error::Closed`] once the connection is gone.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), Error> {
        self.offer(&mut Some(Queued::Message(message.into())), 0)
    }

    /// Queues the answer to a request of the peer without waiting (an answer must never wait
    /// on a queue only the connection's own task drains), with room for `extra` answers
    /// beyond the queue's capacity: [`Error::QueueFull`] once those are taken too (the peer
    /// asks and does not read).
    pub(crate) fn send_answer(&self, message: Message, extra: usize) -> Result<(), Error> {
        self.offer(&mut Some(Queued::Message(message)), extra)
    }

    /// The connection's table of requests in flight, once it took replies on.
    pub(crate) fn replies(&self) -> Option<&Arc<Table>> {
        self.shared.replies.get()
    }

    /// Makes `table` the one the connection's requests go through; the first one stays.
    pub(crate) fn set_replies(&self, table: &Arc<Table>) {
        let _ = self.shared.replies.set(Arc::clone(table));
    }

    /// Puts `message` in the queue if there is room, `extra` messages beyond its capacity
    /// included, taking it out of the option.
    fn offer(&self, message: &mut Option<Queued>, extra: usize) -> Result<(), Error> {
        let mut state = self.shared.state();
        // Closing drops what waits, so nothing may be queued after it either.
        if state.ended || state.close.is_some() {
            return Err(Error::Closed);
        }
        if state.messages >= self.shared.capacity + extra {
            return Err(Error::QueueFull);
        }
        if let Some(message) = message.take() {
            state.bytes += cost(&message);
            state.queue.push_back(message);
            state.messages += 1;
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
    /// # // On a paused clock, the minute passes once the client waits.
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), ws_routes::Error> {
    /// # let routes = ws_routes::routes![quiz];
    /// # let server = ws_routes::test::TestServer::new(ws_routes::Server::new(routes));
    /// # let mut ws = server.connect("/quiz").await?;
    /// # assert!(ws.recv().await.is_none());
    /// # let closed = ws.close_frame().unwrap();
    /// # assert_eq!((closed.code.as_u16(), &*closed.reason), (4008, "time is up"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) {
        let mut state = self.shared.state();
        if state.close.is_none() {
            state.close = Some(CloseFrame::new(code, reason));
            state.queue.clear();
            state.messages = 0;
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
        let direct = match (&state.direct, &state.socket, state.queue.is_empty()) {
            (Direct::Open(compressed), Some(socket), true) => encoded
                .frame_for(compressed.as_ref())
                .map(|frame| (socket, frame)),
            _ => None,
        };
        if let Some((socket, frame)) = direct {
            match socket.try_write(frame) {
                Ok(written) if written == frame.len() => {
                    return Offered::Taken {
                        over_since: state.over_since,
                    };
                }
                Ok(written) => {
                    let rest = frame.slice(written..);
                    state.bytes += rest.len();
                    state.direct = Direct::Rest(rest);
                    return self.pending_grew(state, high_water, now);
                }
                // A full socket, or a failing one (the connection learns it when it writes):
                // queued, as without direct writes.
                Err(_) => {}
            }
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
        self.pending_grew(state, high_water, now)
    }

    /// A broadcast added to the pending output: notes since when it has stayed above
    /// `high_water`, and wakes the connection to write it.
    fn pending_grew(
        &self,
        mut state: MutexGuard<'_, QueueState>,
        high_water: usize,
        now: impl FnOnce() -> Instant,
    ) -> Offered {
        state.high_water = Some(high_water);
        if state.bytes > high_water && state.over_since.is_none() {
            state.over_since = Some(now());
        }
        let over_since = state.over_since;
        drop(state);
        self.shared.reader.wake();
        Offered::Taken { over_since }
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

impl DirectWrites for Queue {
    fn open(&self, socket: &SharedTcp, compressed: Option<SharedWrites>) {
        let mut state = self.state();
        if !state.ended && state.close.is_none() {
            state.direct = Direct::Open(compressed);
            if state.socket.is_none() {
                state.socket = Some(socket.clone());
            }
        }
    }

    fn stop(&self) -> Option<Bytes> {
        let mut state = self.state();
        match std::mem::take(&mut state.direct) {
            Direct::Rest(rest) => {
                // `Sender::close` may have zeroed the count since.
                state.bytes = state.bytes.saturating_sub(rest.len());
                if state.high_water.is_none_or(|mark| state.bytes <= mark) {
                    state.over_since = None;
                }
                drop(state);
                self.room.notify_one();
                Some(rest)
            }
            Direct::Shut | Direct::Open(..) => None,
        }
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
    use std::io::Read;
    use std::time::Instant;

    use futures_util::FutureExt;

    use super::{Next, Offered, Queued, SLOT_COST, SendQueue};
    use crate::error::Error;
    use crate::wire::Message;
    use crate::wire::engine::Encoded;
    use crate::wire::transport::SharedTcp;

    #[test]
    fn broadcasts_are_bounded_in_bytes_not_messages() {
        let send_queue = SendQueue::new(4);
        let sender = send_queue.sender();
        let small = Encoded::new(&Message::text("hi"));
        // A two-byte text is a four-byte frame.
        let limit = 100 * (4 + SLOT_COST);
        // Far more small messages than the queue's count, all within the byte bound.
        let offer = || sender.offer_broadcast(&small, limit, limit / 4, Instant::now);
        for _ in 0..100 {
            assert!(matches!(offer(), Offered::Taken { .. }));
        }
        assert!(matches!(
            offer(),
            Offered::Full {
                over_since: Some(_)
            }
        ));
        // A user's own messages keep to the count, which broadcasts do not take from: a
        // handler may still send after a burst of broadcasts (or a replay) fills the queue.
        for _ in 0..4 {
            sender.try_send("mine").unwrap();
        }
        assert!(matches!(sender.try_send("mine"), Err(Error::QueueFull)));
    }

    #[test]
    fn a_message_that_finds_the_queue_empty_always_fits() {
        let send_queue = SendQueue::new(4);
        let sender = send_queue.sender();
        let big = Encoded::new(&Message::binary(vec![0; 10_000]));
        let offer = || sender.offer_broadcast(&big, 100, 25, Instant::now);
        assert!(matches!(
            offer(),
            Offered::Taken {
                over_since: Some(_)
            }
        ));
        assert!(matches!(offer(), Offered::Full { .. }));
        drop(send_queue);
        assert_eq!(offer(), Offered::Closed);
    }

    /// A send queue of 4 messages and its sender, open to direct writes on the server's end of a
    /// plain TCP connection; and that end, and the client's, which reads what reached it.
    async fn open_send_queue() -> (SendQueue, super::Sender, SharedTcp, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let server = tokio::net::TcpStream::from_std(server).unwrap();
        // Direct writes go through tokio's readiness, which the runtime learns of first.
        server.writable().await.unwrap();
        let server = SharedTcp::new(server.into_split().1);
        let send_queue = SendQueue::new(4);
        let sender = send_queue.sender();
        send_queue.direct().open(&server, None);
        (send_queue, sender, server, client)
    }

    #[tokio::test]
    async fn an_open_socket_takes_a_broadcast_at_once_and_the_queue_stays_empty() {
        let (send_queue, sender, _server, mut client) = open_send_queue().await;
        let hello = Encoded::new(&Message::text("hello"));
        let offered = sender.offer_broadcast(&hello, 1 << 20, 1 << 18, Instant::now);
        assert_eq!(offered, Offered::Taken { over_since: None });
        let mut frame = vec![0; hello.len()];
        client.read_exact(&mut frame).unwrap();
        assert_eq!(&frame[..], &hello.wire()[..]);
        assert!(
            send_queue.next().now_or_never().is_none(),
            "nothing was queued"
        );
        assert!(send_queue.direct().stop().is_none());
        // Shut again: the next broadcast waits in the queue.
        sender.offer_broadcast(&hello, 1 << 20, 1 << 18, Instant::now);
        assert!(matches!(
            send_queue.next().now_or_never(),
            Some(Next::Message(Queued::Encoded(_)))
        ));
    }

    #[tokio::test]
    async fn the_rest_of_a_frame_the_socket_did_not_take_goes_first() {
        let (send_queue, sender, _server, mut client) = open_send_queue().await;
        // Far more than the socket buffers of both ends hold.
        let big = Encoded::new(&Message::binary(vec![7; 64 << 20]));
        let offer =
            |encoded: &Encoded| sender.offer_broadcast(encoded, 1 << 30, 1 << 20, Instant::now);
        assert!(matches!(
            offer(&big),
            Offered::Taken {
                over_since: Some(_)
            }
        ));
        // The connection is told to write the rest, and nothing is written past it.
        assert!(matches!(
            send_queue.next().now_or_never(),
            Some(Next::Message(Queued::Rest))
        ));
        let small = Encoded::new(&Message::text("after"));
        offer(&small);
        let rest = send_queue.direct().stop().expect("the rest of the frame");
        assert!(!rest.is_empty() && rest.len() < big.len());
        // What the socket took and the rest make the frame.
        let mut taken = vec![0; big.len() - rest.len()];
        client.read_exact(&mut taken).unwrap();
        assert_eq!([&taken[..], &rest[..]].concat(), &big.wire()[..]);
        // The later broadcast waits in the queue, behind the rest.
        assert!(matches!(
            send_queue.next().now_or_never(),
            Some(Next::Message(Queued::Encoded(encoded))) if encoded.wire() == small.wire()
        ));
        assert!(send_queue.direct().stop().is_none());
    }

    #[tokio::test]
    async fn the_end_hands_over_what_waits_and_keeps_the_rest_of_a_frame_for_the_engine() {
        let (send_queue, sender, _server, _client) = open_send_queue().await;
        let direct = send_queue.direct();
        let big = Encoded::new(&Message::binary(vec![7; 64 << 20]));
        sender.offer_broadcast(&big, 1 << 30, 1 << 20, Instant::now);
        sender.try_send("queued").unwrap();
        let unsent = send_queue.into_unsent();
        assert!(matches!(
            &unsent.iter().collect::<Vec<_>>()[..],
            [Queued::Message(message)] if message.as_text() == Some("queued")
        ));
        assert!(matches!(sender.try_send("late"), Err(Error::Closed)));
        // Writing a close frame now without the rest would cut a frame in two.
        assert!(direct.stop().is_some_and(|rest| !rest.is_empty()));
    }

    #[tokio::test]
    async fn a_broadcast_never_overtakes_a_message_the_connection_took_to_write() {
        let (send_queue, sender, _server, mut client) = open_send_queue().await;
        sender.try_send("first").unwrap();
        // The connection takes it (and writes it next); the queue is empty again.
        assert!(matches!(
            send_queue.next().now_or_never(),
            Some(Next::Message(Queued::Message(_)))
        ));
        let second = Encoded::new(&Message::text("second"));
        sender.offer_broadcast(&second, 1 << 20, 1 << 18, Instant::now);
        // Queued behind it, not written at once.
        assert!(matches!(
            send_queue.next().now_or_never(),
            Some(Next::Message(Queued::Encoded(_)))
        ));
        client.set_nonblocking(true).unwrap();
        assert!(client.read(&mut [0; 16]).is_err(), "nothing was written");
    }

    #[tokio::test]
    async fn a_closing_or_ended_connection_takes_no_direct_write() {
        let (send_queue, sender, server, _client) = open_send_queue().await;
        sender.close(4000u16, "bye");
        let hello = Encoded::new(&Message::text("hello"));
        let offer = || sender.offer_broadcast(&hello, 1 << 20, 1 << 18, Instant::now);
        assert_eq!(offer(), Offered::Closed);
        let direct = send_queue.direct();
        drop(send_queue);
        direct.open(&server, None);
        assert_eq!(offer(), Offered::Closed);
        assert!(direct.stop().is_none());
    }

    #[test]
    fn answers_have_room_beyond_the_capacity_and_no_more() {
        let send_queue = SendQueue::new(2);
        let sender = send_queue.sender();
        sender.try_send("one").unwrap();
        sender.try_send("two").unwrap();
        assert!(matches!(sender.try_send("three"), Err(Error::QueueFull)));
        for answer in ["a", "b", "c"] {
            sender.send_answer(Message::from(answer), 3).unwrap();
        }
        let fourth = sender.send_answer(Message::from("d"), 3);
        assert!(matches!(fourth, Err(Error::QueueFull)));
        assert!(matches!(
            send_queue.next().now_or_never(),
            Some(Next::Message(Queued::Message(first))) if first.as_text() == Some("one")
        ));
        sender.send_answer(Message::from("d"), 3).unwrap();
    }

    #[tokio::test]
    async fn after_a_close_nothing_is_queued_and_waiting_senders_give_up() {
        let send_queue = SendQueue::new(1);
        let sender = send_queue.sender();
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
        drop(send_queue);
    }
}
