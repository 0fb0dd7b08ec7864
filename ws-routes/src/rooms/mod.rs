//! Rooms: named groups of connections that a program broadcasts to, with slow-consumer
//! protection ([`SlowConsumer`]) and presence, in one process or, with the `redis` feature,
//! across servers; [`RoomsBuilder`] sets them up.

mod backplane;
mod history;
mod members;
mod presence;
pub(crate) mod recovery;
#[cfg(feature = "codec")]
mod typed;
mod users;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use self::backplane::settings::BackplaneSettings;
use self::backplane::{Audience, Backplane, Broadcast, LocalRooms, Numbering};
use self::history::Histories;
use self::members::Members;
use self::presence::Watchers;
use self::recovery::outcome;
use crate::error::Error;
use crate::socket::Sender;
use crate::socket::send_queue::Offered;
use crate::wire::engine::Encoded;
use crate::wire::{CloseCode, Message};

#[cfg(feature = "redis")]
pub use self::backplane::stats::BackplaneStats;
pub use self::history::History;
pub use self::presence::{
    Presence, PresenceDiff, PresenceEntry, PresenceEvent, PresenceEvents, TrackError,
};
pub use self::recovery::{Position, Received, Recovery, Resume, Unrecoverable};

/// The reason sent with the 1013 close of a member that could not keep up.
const SLOW_REASON: &str = "too slow: not reading its messages";
/// The default of [`RoomsBuilder::max_room_name`].
const MAX_ROOM_NAME: usize = 256;
/// The default of [`RoomsBuilder::max_rooms_per_member`].
const MAX_ROOMS_PER_MEMBER: usize = 128;
/// The default of [`RoomsBuilder::max_presence_meta`].
const MAX_PRESENCE_META: usize = 512;
/// The default of [`RoomsBuilder::presence_window`].
const PRESENCE_WINDOW: Duration = Duration::from_millis(100);

/// What rooms do with a member whose client does not read its broadcasts as fast as they
/// come.
///
/// What broadcasts queue for a member is bounded in bytes ([`RoomsBuilder::pending_limit`],
/// 1 MiB by default), not in messages, so a burst of small messages never fills it. A
/// broadcast is refused (and the policy applies) when it would take the member's pending
/// output past the bound, with one exception: a broadcast that finds the member's queue empty
/// is queued whatever its size. Messages the connection sends itself ([`Sender::send`],
/// [`Sender::try_send`]) count toward the pending output, but they are held back by the
/// connection's queue length ([`Server::outgoing_queue`](crate::Server::outgoing_queue)), not
/// by this bound. So a member's pending output stays within the bound plus one broadcast, plus
/// what its own sends queued.
///
/// A member is *slow* when its pending output stays above a quarter of that bound (the
/// high-water mark) for [`RoomsBuilder::stall_timeout`] (1 s by default): a client that
/// drains a burst promptly drops below the mark long before, a stalled reader never does. How
/// long a member has been above the mark is looked at when a broadcast reaches it: a member
/// that no broadcast reaches any more is not closed, however long it stays above the mark.
/// Whatever the policy, a broadcast never waits for a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowConsumer {
    /// Close a slow member with code 1013 (try again later), and a member that a broadcast
    /// would take past the pending limit. The default.
    #[default]
    Close,
    /// Skip the messages that do not fit in a member's pending limit, and close it (as
    /// `Close` does) when a broadcast reaches it after it has stayed above the high-water
    /// mark for this long.
    SkipThenClose(Duration),
    /// Skip the messages that do not fit in a member's pending limit; never close it. For
    /// feeds where a member only needs the latest state.
    Skip,
}

/// A cheap, cloneable handle on a set of named rooms: connections join and leave them, and
/// any task (a handler, or code outside every connection) broadcasts to them.
///
/// A member is a connection's [`Sender`]. It leaves every room by itself when its connection
/// ends (when the handler returns or the socket is dropped), and when a broadcast finds it
/// closed or too slow (see [`SlowConsumer`]). A broadcast frames its message once and shares
/// the frame between members, writes it straight to the socket of each member whose
/// connection is waiting in `recv` with nothing else to write (a plain TCP server connection:
/// TLS ones queue; compressed ones get the frame compressed once per window, unless they keep
/// a compression context), queues it within the member's byte bound for the others, and never
/// waits for a member.
///
/// Share the handle with every handler through
/// [`Server::with_state`](crate::Server::with_state): function routes take it as a
/// `State<Rooms>` argument, class-style routes too, or read it from the request.
///
/// ```
/// use ws_routes::{route, routes, Rooms, Server, State, WebSocket};
///
/// #[route("/rooms/{room}")]
/// async fn chat(mut ws: WebSocket, room: String, State(rooms): State<Rooms>) {
///     let me = ws.sender();
///     rooms.join(&room, &me);
///     while let Some(Ok(message)) = ws.recv().await {
///         if let Some(text) = message.as_text() {
///             rooms.broadcast_except(&room, text, &me);
///         }
///     }
///     // Returning ends the connection, which leaves every room.
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rooms = Rooms::new();
/// let server = Server::new(routes![chat]).with_state(rooms.clone());
/// // Served with `server.bind(addr).await?.run()`; here in process, with two clients in
/// // "lobby".
/// # let server = ws_routes::test::TestServer::new(server);
/// # let mut ada = server.connect("/rooms/lobby").await?;
/// # let mut bob = server.connect("/rooms/lobby").await?;
/// # ada.send("hello, lobby").await?;
/// # assert_eq!(bob.recv().await.unwrap()?.as_text(), Some("hello, lobby"));
/// // Any task holding the handle broadcasts too: here, to both members.
/// assert_eq!(rooms.broadcast("lobby", "the server is up"), 2);
/// # assert_eq!(ada.recv().await.unwrap()?.as_text(), Some("the server is up"));
/// # Ok(())
/// # }
/// ```
///
/// Members come and go with their connections, and presence follows:
///
/// ```
/// use std::time::Duration;
/// use ws_routes::{route, routes, Rooms, Server, State, WebSocket};
///
/// #[route("/watch/{room}")]
/// async fn watch(mut ws: WebSocket, room: String, State(rooms): State<Rooms>) {
///     let me = ws.sender();
///     rooms.join(&room, &me);
///     let _ = me.send("joined").await;
///     while let Some(Ok(_)) = ws.recv().await {}
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rooms = Rooms::new();
/// let server = Server::new(routes![watch]).with_state(rooms.clone()).bind("127.0.0.1:0").await?;
/// let url = format!("ws://{}/watch/news", server.local_addr()?);
/// tokio::spawn(server.run());
///
/// let mut alice = ws_routes::connect(&url).await?;
/// let mut bob = ws_routes::connect(&url).await?;
/// for client in [&mut alice, &mut bob] {
///     assert_eq!(client.recv().await.unwrap()?.as_text(), Some("joined"));
/// }
/// assert_eq!(rooms.local_count("news"), 2);
/// assert_eq!(rooms.broadcast("news", "extra, extra"), 2);
/// assert_eq!(bob.recv().await.unwrap()?.as_text(), Some("extra, extra"));
///
/// drop(alice); // her connection ends: she leaves the room
/// while rooms.local_count("news") != 1 {
///     tokio::time::sleep(Duration::from_millis(5)).await;
/// }
/// assert_eq!(rooms.count("news").await?, 1);
/// # Ok(())
/// # }
/// ```
///
/// With the `redis` feature, [`Rooms::builder`]`().redis(url)` shares the rooms between
/// servers: broadcasts reach members on every server (through a Redis stream, which a server
/// whose link to Redis was down for less than the retention window catches up on), and
/// [`count`](Self::count) and [`presence`](Self::presence) add up the members of every
/// server. See [`RoomsBuilder::redis`] for what can be lost.
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Inner>,
}

struct Inner {
    /// Tells this registry's end-of-connection hooks from another's.
    key: u64,
    policy: SlowConsumer,
    bounds: Bounds,
    max_room_name: usize,
    max_rooms_per_member: usize,
    registry: RwLock<Registry>,
    /// What shares the rooms with other servers: in-process (nothing) by default.
    backplane: Box<dyn Backplane>,
    /// The rooms that keep a history, and their histories.
    histories: Histories,
    /// The rooms whose presence is watched.
    watchers: Watchers,
    max_presence_meta: usize,
}

#[derive(Default)]
struct Registry {
    /// Room name to its members, by connection id.
    rooms: HashMap<Arc<str>, Members>,
    members: HashMap<u64, Member>,
    /// Room name to its members that joined with positions ([`Rooms::join_since`]) and get
    /// its messages in their envelope; only rooms with history have an entry.
    positioned: HashMap<Arc<str>, HashSet<u64>>,
    /// Room name to the presence entries of its members that track it ([`Rooms::track`]).
    tracked: HashMap<Arc<str>, HashMap<u64, Tracked>>,
    /// User to its connections ([`Rooms::bind_user`]).
    users: HashMap<Arc<str>, HashSet<u64>>,
}

/// A connection in at least one room, or bound to a user.
struct Member {
    sender: Sender,
    rooms: HashSet<Arc<str>>,
    user: Option<Arc<str>>,
}

impl Member {
    fn new(sender: &Sender) -> Self {
        Member {
            sender: sender.clone(),
            rooms: HashSet::new(),
            user: None,
        }
    }

    /// Whether the registry has no more reason to know it.
    fn is_idle(&self) -> bool {
        self.rooms.is_empty() && self.user.is_none()
    }
}

/// A member's presence entry in a room: its key and metadata (JSON text).
#[derive(Clone)]
struct Tracked {
    key: Arc<str>,
    meta: Arc<str>,
}

impl Registry {
    /// Forgets that connection `id` is `user`'s.
    fn unbind(&mut self, user: &str, id: u64) {
        if let Some(connections) = self.users.get_mut(user) {
            connections.remove(&id);
            if connections.is_empty() {
                self.users.remove(user);
            }
        }
    }

    /// Takes member `id` out of `room`'s members, and forgets the room once it has none.
    fn remove(&mut self, room: &str, id: u64) {
        if !self.tracked.is_empty()
            && let Some(entries) = self.tracked.get_mut(room)
        {
            entries.remove(&id);
            if entries.is_empty() {
                self.tracked.remove(room);
            }
        }
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(id);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
        if !self.positioned.is_empty()
            && let Some(members) = self.positioned.get_mut(room)
        {
            members.remove(&id);
            if members.is_empty() {
                self.positioned.remove(room);
            }
        }
    }
}

/// Numbers registries, for [`Sender::on_end`] keys.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// How much output may wait for one member, and how long it may stay above the mark.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    pending_limit: usize,
    stall_timeout: Duration,
}

impl Bounds {
    /// Above this, a member that does not drain its output is on its way to being slow.
    fn high_water(&self) -> usize {
        self.pending_limit / 4
    }
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            pending_limit: 1 << 20,
            stall_timeout: Duration::from_secs(1),
        }
    }
}

/// The settings of a [`Rooms`]: the slow-consumer policy, the caps on room names and rooms
/// per member and, with the `redis` feature, the backplane.
///
/// ```
/// use std::time::Duration;
/// use ws_routes::Rooms;
/// use ws_routes::rooms::SlowConsumer;
///
/// let rooms = Rooms::builder()
///     .slow_consumer(SlowConsumer::SkipThenClose(Duration::from_secs(2)))
///     .build()
///     .unwrap();
/// assert_eq!(rooms.slow_consumer(), SlowConsumer::SkipThenClose(Duration::from_secs(2)));
/// ```
#[derive(Debug, Clone)]
pub struct RoomsBuilder {
    policy: SlowConsumer,
    bounds: Bounds,
    max_room_name: usize,
    max_rooms_per_member: usize,
    backplane: BackplaneSettings,
    /// Room-name prefixes that keep a history, with its bounds.
    history: Vec<(String, History)>,
    presence_window: Duration,
    max_presence_meta: usize,
}

impl Default for RoomsBuilder {
    fn default() -> Self {
        RoomsBuilder {
            policy: SlowConsumer::default(),
            bounds: Bounds::default(),
            max_room_name: MAX_ROOM_NAME,
            max_rooms_per_member: MAX_ROOMS_PER_MEMBER,
            backplane: BackplaneSettings::default(),
            history: Vec::new(),
            presence_window: PRESENCE_WINDOW,
            max_presence_meta: MAX_PRESENCE_META,
        }
    }
}

impl RoomsBuilder {
    /// What rooms do with a slow member. Default: [`SlowConsumer::Close`].
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.policy = policy;
        self
    }

    /// The most output, in bytes, that broadcasts may queue for one member (each queued
    /// message counts its payload and 64 bytes of bookkeeping); a quarter of it is the
    /// high-water mark that tells a slow member. Two things pass it: a broadcast that finds
    /// the member's queue empty is queued whatever its size, and the connection's own sends
    /// ([`Sender::send`]) count toward it but are bounded by the connection's queue length
    /// instead (see [`SlowConsumer`]). Default: 1 MiB.
    pub fn pending_limit(mut self, bytes: usize) -> Self {
        self.bounds.pending_limit = bytes.max(1);
        self
    }

    /// How long a member's pending output may stay above the high-water mark before
    /// [`SlowConsumer::Close`] closes it (when the next broadcast reaches it): long enough to
    /// tell a burst that a healthy client drains from a client that stopped reading.
    /// Default: 1 s.
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.bounds.stall_timeout = timeout;
        self
    }

    /// The longest room name, in bytes: [`Rooms::join`] returns `false` for a longer one, and a
    /// broadcast to a longer one delivers nothing (it returns 0, and is not sent to other
    /// servers). Room names often come from clients; with the Redis backplane each one is a
    /// field of this server's presence hash, and names are capped at 65,535 bytes whatever
    /// this says (what a broadcast's envelope holds). Default: 256.
    pub fn max_room_name(mut self, bytes: usize) -> Self {
        self.max_room_name = bytes;
        self
    }

    /// How many rooms one member may be in at once: [`Rooms::join`] returns `false` for one
    /// more. Default: 128.
    pub fn max_rooms_per_member(mut self, rooms: usize) -> Self {
        self.max_rooms_per_member = rooms;
        self
    }

    /// The longest presence metadata, as JSON, that [`Rooms::track`] takes: it is kept for
    /// every entry, on every server that reads the room's presence. Default: 512 bytes.
    pub fn max_presence_meta(mut self, bytes: usize) -> Self {
        self.max_presence_meta = bytes;
        self
    }

    /// How long changes to a room's presence are gathered into one diff for
    /// [`Rooms::presence_events`]: a diff goes out at most once per window, so that a burst of
    /// joins (a server's clients reconnecting after a restart) is one event, not thousands.
    /// Default: 100 ms.
    pub fn presence_window(mut self, window: Duration) -> Self {
        self.presence_window = window;
        self
    }

    /// Keeps a history of every room, within `history`'s bounds (see
    /// [`history_for`](Self::history_for) for some rooms only): each broadcast to a room gets
    /// a [`Position`], and a member that reconnects and joins with
    /// [`Rooms::join_since`] gets what it missed. Default: no room keeps a history.
    pub fn history(self, history: History) -> Self {
        self.history_for("", history)
    }

    /// Keeps a history of the rooms whose name starts with `prefix`, within `history`'s
    /// bounds. A room takes the settings of the longest prefix of its name given here (or to
    /// [`history`](Self::history), the empty prefix); a room that matches none keeps no
    /// history and pays nothing for the others'.
    ///
    /// Each server keeps the histories in memory. With the [Redis backplane](Self::redis),
    /// Redis numbers the broadcasts to rooms with history, and every server keeps the same
    /// history (same epoch, same offsets) from what it reads of the stream, so a client
    /// recovers on whichever server it reconnects to, one that started after the messages it
    /// missed excepted (it is told they are too old, or that the epoch changed). Such a
    /// broadcast reaches members, this server's too, once Redis has numbered it: while Redis
    /// is away, it waits in the outbox. A Redis that comes back empty starts a new epoch.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_routes::rooms::History;
    /// use ws_routes::Rooms;
    ///
    /// let rooms = Rooms::builder()
    ///     .history_for("chat:", History::new().max_age(Duration::from_secs(300)))
    ///     .build()
    ///     .unwrap();
    /// assert!(rooms.has_history("chat:lobby"));
    /// assert!(!rooms.has_history("cursors:lobby"));
    /// ```
    pub fn history_for(mut self, prefix: impl Into<String>, history: History) -> Self {
        self.history.push((prefix.into(), history));
        self
    }

    /// Builds the rooms. Fails only when the Redis URL is invalid (a `rediss://` URL needs the
    /// `tls` feature); Redis being down is not an error (the backplane connects when it can).
    pub fn build(self) -> Result<Rooms, Error> {
        let backplane = self.backplane.build()?;
        let rooms = Rooms {
            inner: Arc::new(Inner {
                key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
                policy: self.policy,
                bounds: self.bounds,
                // Longer names would not reach other servers.
                max_room_name: self.max_room_name.min(backplane.max_room_name()),
                max_rooms_per_member: self.max_rooms_per_member,
                registry: RwLock::default(),
                backplane,
                histories: Histories::new(self.history),
                watchers: Watchers::new(self.presence_window),
                max_presence_meta: self.max_presence_meta,
            }),
        };
        let local: Weak<Inner> = Arc::downgrade(&rooms.inner);
        rooms.inner.backplane.start(local);
        Ok(rooms)
    }
}

/// The Redis backplane's settings (feature `redis`).
#[cfg(feature = "redis")]
impl RoomsBuilder {
    /// Shares the rooms with every server that uses the same Redis (a URL such as
    /// `redis://127.0.0.1:6379/`) and the same [`redis_prefix`](Self::redis_prefix).
    ///
    /// Broadcasts are delivered to this server's members at once and appended to a Redis
    /// stream that every server reads from the last entry it saw, so a server whose link to
    /// Redis was down, or that waited out a Redis restart that kept its data, catches up on
    /// what it missed within the [retention window](Self::redis_retention). The server goes
    /// on while Redis is down: broadcasts wait in a [bounded outbox](Self::redis_outbox_bytes)
    /// and it reconnects with backoff. Each server writes its room counts to Redis, kept alive
    /// by a heartbeat and expiring when the server stops, so that presence adds up every
    /// server. Needs a Tokio runtime at [`build`](Self::build).
    ///
    /// What is lost: broadcasts that do not fit in the outbox (Redis away, or refusing writes:
    /// a refused broadcast is retried and holds back those behind it) or are
    /// [too large](Self::redis_max_message) (they reach this server's members only); what a
    /// server's link missed for longer than the retention window; what Redis loses before a
    /// server read it (a restart without persistence: there is no catching up on it); and
    /// what is still in the outbox when the rooms are dropped, after at most two seconds of
    /// trying (all of it while Redis is unreachable). A server that starts reads from the end
    /// of the stream. A reader counts what it missed in [`BackplaneStats::lost`] and logs it
    /// when a later broadcast from the same origin shows the jump in its sequence numbers,
    /// but only for origins it has heard from: the rest goes uncounted.
    ///
    /// Anyone who can write to this Redis can send broadcasts to every member: use a
    /// `rediss://` URL (TLS, with the `tls` feature) with a password, and
    /// [`redis_secret`](Self::redis_secret).
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.backplane.redis.url = Some(url.into());
        self
    }

    /// Shares the rooms through a Redis Cluster, given some of its nodes (seed URLs such as
    /// `redis://10.0.0.1:7000/`, or `rediss://` with the `tls` feature), in place of one
    /// Redis ([`redis`](Self::redis), whose guarantees hold per room here too).
    ///
    /// The broadcasts are spread over [`redis_partitions`](Self::redis_partitions) streams
    /// (16 unless set), each on the slot its hash tag gives, so they spread over the masters
    /// and adding masters adds capacity; a server reads only the partitions of the rooms and
    /// users it serves, and the shared ones. Each stream a server reads has a connection of
    /// its own to the master that holds it; the publisher and presence go through one cluster
    /// connection. Slots that move (`MOVED`) and masters that fail over are followed.
    ///
    /// What a failover can lose: Redis replicates asynchronously, so the entries a master had
    /// acknowledged but not yet passed to its replica are gone when the replica takes over.
    /// A reader that had read them counts a gap (`gaps`); the others count the broadcasts
    /// missing from each origin as `lost` when the origin's next broadcast arrives. Nothing
    /// published after the failover is lost: the publisher retries what failed on the new
    /// master, and readers drop what they read twice.
    ///
    /// ```no_run
    /// use ws_routes::Rooms;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_routes::Error> {
    /// let rooms = Rooms::builder()
    ///     .redis_cluster(["redis://10.0.0.1:7000/", "redis://10.0.0.2:7000/"])
    ///     .build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn redis_cluster<I>(mut self, nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.backplane.redis.cluster = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// The prefix of every Redis key the backplane uses, so that several
    /// applications can share one Redis. Default: `ws-routes`.
    pub fn redis_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.backplane.redis.prefix = prefix.into();
        self
    }

    /// Spreads the broadcasts over `partitions` streams instead of one (at most 1,024), so
    /// that a server reads only the traffic of the rooms it serves, and, on a Redis Cluster,
    /// the streams spread over the masters. Default: 1, one stream that every server reads
    /// whole.
    ///
    /// With several, broadcasts to a room without history (and to a user, and a room's
    /// presence announcements) go on the room's (user's) *interest* stream, by a hash of its
    /// name, which a server reads only while it has a member in one of its rooms (a
    /// connection of one of its users, a watcher of one of its rooms' presence): from the
    /// first member's join on, so that nothing broadcast after a join is missed, to the last
    /// one's leave. Broadcasts to rooms with [history](Self::history), and to everyone, go on
    /// *shared* streams that every server reads, so that every server keeps every history and
    /// a client recovers on whichever server it reconnects to.
    ///
    /// Every server sharing the rooms must use the same number: the partition of a room is
    /// its hash modulo this. `BackplaneStats::streams_read` and `read` say what a server takes
    /// from Redis.
    pub fn redis_partitions(mut self, partitions: u16) -> Self {
        self.backplane.redis.partitions = Some(partitions.clamp(1, 1024));
        self
    }

    /// How long this server's presence stays in Redis without a heartbeat (a heartbeat runs
    /// every third of it, and after every change); a server that died drops out of the counts
    /// after this. Default: 15 seconds.
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.backplane.redis.presence_ttl = ttl;
        self
    }

    /// How long broadcasts stay in the Redis stream: a server whose link to Redis is down for
    /// less than this catches up, when it is back, on every broadcast Redis still holds; past
    /// it, what was trimmed is lost, counted and logged as [`redis`](Self::redis) says.
    /// Measured on Redis's clock. Redis holds about this long's worth of broadcasts in memory.
    /// Default: 60 seconds.
    pub fn redis_retention(mut self, retention: Duration) -> Self {
        self.backplane.redis.retention = retention;
        self
    }

    /// The byte budget of the outbox, where broadcasts wait for Redis while it is slow or
    /// away (each counts its encoded size plus 64 bytes); a broadcast that does not fit is
    /// delivered on this server only, counted in [`BackplaneStats::dropped`] and logged.
    /// Default: 16 MiB.
    pub fn redis_outbox_bytes(mut self, bytes: usize) -> Self {
        self.backplane.redis.outbox_bytes = bytes;
        self
    }

    /// The largest broadcast payload, in bytes, sent to other servers; a larger one is
    /// delivered on this server only, counted in [`BackplaneStats::oversized`] and logged
    /// (Redis disconnects clients whose buffers pass its limits). Default: 1 MiB.
    pub fn redis_max_message(mut self, bytes: usize) -> Self {
        self.backplane.redis.max_message = bytes;
        self
    }

    /// A secret shared by every server: each broadcast carries an HMAC-SHA256 tag made with
    /// it, and a broadcast whose tag is missing or wrong is dropped, counted in
    /// [`BackplaneStats::rejected`] and logged. Without it, anyone who can write to the Redis
    /// can send broadcasts to every member. Default: none.
    pub fn redis_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.backplane.redis.secret = Some(backplane::redis::Secret::new(secret.as_ref()));
        self
    }
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms::new()
    }
}

impl Rooms {
    /// In-process rooms with the default settings.
    pub fn new() -> Self {
        RoomsBuilder::default()
            .build()
            .expect("rooms without a backplane always build")
    }

    /// Rooms with settings: the slow-consumer policy, the Redis backplane.
    pub fn builder() -> RoomsBuilder {
        RoomsBuilder::default()
    }

    /// The slow-consumer policy.
    pub fn slow_consumer(&self) -> SlowConsumer {
        self.inner.policy
    }

    /// Puts `member` in `room` (created on first join). `false` when it was there already,
    /// when its connection has ended, when the room's name is longer than
    /// [`max_room_name`](RoomsBuilder::max_room_name), or when the member is in
    /// [`max_rooms_per_member`](RoomsBuilder::max_rooms_per_member) rooms already.
    pub fn join(&self, room: &str, member: &Sender) -> bool {
        self.enter(room, member, false, None)
    }

    /// Puts `member` in `room`, as [`join`](Self::join) does, and catches it up from the
    /// position its client claims there (`since`, from the [`Resume`] extractor): before any
    /// live message of the room, the member is sent the join's outcome, then every message of
    /// the room's history after `since`, in order. From then on it gets the room's messages in
    /// their envelope, which tells its client each one's [`Position`] (the README's "Recovery"
    /// section describes the wire).
    ///
    /// Returns what became of the claim (`None` when the member could not join, as `join`
    /// returns `false`): [`Recovery::Recovered`] when the history still holds every message
    /// after `since`; [`Recovery::New`] without a claim; [`Recovery::Lost`] with the reason
    /// when the client cannot be caught up (it joins at the live end and is told so). In a
    /// room without history ([`RoomsBuilder::history`]), it joins as `join` does, and the
    /// outcome says [`Unrecoverable::NoHistory`] when a position was claimed.
    ///
    /// The outcome and the replay wait in the connection's queue, written while the
    /// connection's own task waits in [`recv`](crate::WebSocket::recv). Like every broadcast,
    /// they are bounded by bytes, not by the queue's count of the connection's own messages
    /// ([`Server::outgoing_queue`](crate::Server::outgoing_queue)): a [`Sender::send`] after a
    /// long replay does not wait behind it.
    ///
    /// ```
    /// use ws_routes::rooms::{History, Recovery, Resume};
    /// use ws_routes::{route, routes, Rooms, Server, State, WebSocket};
    ///
    /// #[route("/feed/{room}")]
    /// async fn feed(mut ws: WebSocket, room: String, resume: Resume, State(rooms): State<Rooms>) {
    ///     let me = ws.sender();
    ///     if let Some(Recovery::Lost(why)) = rooms.join_since(&room, &me, resume.since(&room)) {
    ///         // The client was told too; the route may send it the room's state anew.
    ///         println!("{room}: cannot catch up ({why:?})");
    ///     }
    ///     while let Some(Ok(_)) = ws.recv().await {}
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let rooms = Rooms::builder().history(History::new()).build()?;
    /// let server = Server::new(routes![feed]).with_state(rooms.clone()).bind("127.0.0.1:0").await?;
    /// let url = format!("ws://{}/feed/news", server.local_addr()?);
    /// tokio::spawn(server.run());
    ///
    /// // The ws-routes client keeps its positions and presents them when it reconnects.
    /// let mut feed = ws_routes::Client::new().reconnecting(&url);
    /// # use ws_routes::rooms::Received;
    /// assert!(matches!(feed.recv().await, Some(Ok(Received::Connected))));
    /// assert!(matches!(
    ///     feed.recv().await,
    ///     Some(Ok(Received::Joined { recovery: Recovery::New, .. }))
    /// ));
    /// rooms.broadcast("news", "extra, extra");
    /// match feed.recv().await {
    ///     Some(Ok(Received::Room { room, position, message })) => {
    ///         assert_eq!((room.as_str(), position.offset()), ("news", 1));
    ///         assert_eq!(message.as_text(), Some("extra, extra"));
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn join_since(
        &self,
        room: &str,
        member: &Sender,
        since: Option<&Position>,
    ) -> Option<Recovery> {
        if member.is_closed() || room.len() > self.inner.max_room_name {
            return None;
        }
        let Some(settings) = self.inner.histories.settings(room) else {
            if !self.enter(room, member, false, None) {
                return None;
            }
            let recovery = match since {
                Some(_) => Recovery::Lost(Unrecoverable::NoHistory),
                None => Recovery::New,
            };
            let nowhere = Position::new("-", 0);
            self.inner
                .catch_up(member, &outcome(room, &recovery, &nowhere), []);
            return Some(recovery);
        };
        let log = self.inner.histories.log(room, settings);
        // Held until the member has its replay: broadcasts to the room wait for it.
        let mut log = history::lock(&log);
        if !self.enter(room, member, true, None) {
            return None;
        }
        let (recovery, from, missed) = log.since(since, Instant::now());
        self.inner
            .catch_up(member, &outcome(room, &recovery, &from), missed);
        Some(recovery)
    }

    /// Whether `room` keeps a history ([`RoomsBuilder::history`]).
    pub fn has_history(&self, room: &str) -> bool {
        self.inner.histories.settings(room).is_some()
    }

    /// Puts `member` in `room`; `positioned` when it gets the room's messages in their
    /// envelope; with its presence entry when `tracked` (which only updates the entry of a
    /// member that is there already).
    fn enter(
        &self,
        room: &str,
        member: &Sender,
        positioned: bool,
        tracked: Option<Tracked>,
    ) -> bool {
        if member.is_closed() || room.len() > self.inner.max_room_name {
            return false;
        }
        let id = member.id();
        let fresh = {
            let mut guard = self.inner.write();
            let registry = &mut *guard;
            let fresh = match registry.members.get(&id) {
                Some(entry) if entry.rooms.contains(room) => {
                    // There already: only its presence entry changes.
                    let Some(tracked) = &tracked else {
                        return false;
                    };
                    let name = Arc::clone(entry.rooms.get(room).expect("checked above"));
                    registry
                        .tracked
                        .entry(name)
                        .or_default()
                        .insert(id, tracked.clone());
                    None
                }
                Some(entry) if entry.rooms.len() >= self.inner.max_rooms_per_member => {
                    return false;
                }
                Some(_) => Some(false),
                None if self.inner.max_rooms_per_member == 0 => return false,
                None => Some(true),
            };
            let Some(fresh) = fresh else {
                drop(guard);
                self.inner.changed(room);
                return true;
            };
            let name = match registry.rooms.get_key_value(room) {
                Some((name, _)) => Arc::clone(name),
                None => Arc::from(room),
            };
            let entry = registry
                .members
                .entry(id)
                .or_insert_with(|| Member::new(member));
            entry.rooms.insert(Arc::clone(&name));
            if positioned {
                registry
                    .positioned
                    .entry(Arc::clone(&name))
                    .or_default()
                    .insert(id);
            }
            if let Some(tracked) = tracked {
                registry
                    .tracked
                    .entry(Arc::clone(&name))
                    .or_default()
                    .insert(id, tracked);
            }
            registry
                .rooms
                .entry(name)
                .or_default()
                .insert(member.clone());
            fresh
        };
        if fresh && !self.inner.watch_end(member) {
            return false;
        }
        self.inner.changed(room);
        true
    }

    /// Takes `member` out of `room`. `false` when it was not there.
    pub fn leave(&self, room: &str, member: &Sender) -> bool {
        let id = member.id();
        let (left, idle) = {
            let mut registry = self.inner.write();
            let Some(entry) = registry.members.get_mut(&id) else {
                return false;
            };
            let left = entry.rooms.remove(room);
            let idle = entry.is_idle();
            if idle {
                registry.members.remove(&id);
            }
            registry.remove(room, id);
            (left, idle)
        };
        if idle {
            member.cancel_on_end(self.inner.key);
        }
        if left {
            self.inner.changed(room);
        }
        left
    }

    /// Takes `member` out of every room (which happens by itself when its connection ends).
    /// It stays bound to its user ([`bind_user`](Self::bind_user)).
    pub fn leave_all(&self, member: &Sender) {
        for room in self.rooms_of(member) {
            self.leave(&room, member);
        }
    }

    /// Sends `message` to every member of `room`, on every server; returns how many members
    /// of this server it was queued for.
    ///
    /// Never waits: a member whose queue is full is dealt with by the
    /// [slow-consumer policy](SlowConsumer). A room name longer than
    /// [`max_room_name`](RoomsBuilder::max_room_name) has no members: the broadcast delivers
    /// nothing, here or on other servers, and returns 0. So does a broadcast to a room with
    /// [history](RoomsBuilder::history) on the Redis backplane: it reaches every member once
    /// Redis has numbered it (see [`RoomsBuilder::history_for`]).
    pub fn broadcast(&self, room: &str, message: impl Into<Message>) -> usize {
        self.send(Audience::Room(room), message.into(), None)
    }

    /// Sends `message` to every member of `room` but `except` (typically the member who sent
    /// it), on every server; returns how many members of this server it was queued for.
    pub fn broadcast_except(
        &self,
        room: &str,
        message: impl Into<Message>,
        except: &Sender,
    ) -> usize {
        self.send(Audience::Room(room), message.into(), Some(except.id()))
    }

    /// Sends `message` once to every connection that is a member of at least one room, on
    /// every server; returns how many of this server's connections it was queued for.
    pub fn broadcast_all(&self, message: impl Into<Message>) -> usize {
        self.send(Audience::Everyone, message.into(), None)
    }

    fn send(&self, audience: Audience<'_>, message: Message, except: Option<u64>) -> usize {
        if let Audience::Room(room) = audience
            && room.len() > self.inner.max_room_name
        {
            // No member can be in it (`join` refuses the name).
            return 0;
        }
        let mut broadcast = Broadcast {
            audience,
            message: &message,
            except,
            numbering: Numbering::None,
        };
        if let Audience::Room(room) = audience
            && self.inner.histories.settings(room).is_some()
        {
            broadcast.numbering = Numbering::Wanted;
            // One authority numbers the room's broadcasts on every server: the backplane,
            // which delivers them here too once numbered.
            if self.inner.backplane.numbers() {
                if self.inner.backplane.publish(&broadcast) {
                    return 0;
                }
                // Refused: here alone, as it is (not in the history).
                broadcast.numbering = Numbering::None;
                let queued = self.inner.deliver(&broadcast);
                crate::metrics::broadcast(queued);
                return queued;
            }
        }
        let queued = self.inner.deliver(&broadcast);
        crate::metrics::broadcast(queued);
        broadcast.numbering = Numbering::None;
        self.inner.backplane.publish(&broadcast);
        queued
    }

    /// What the Redis backplane has done (published, received, dropped, lost...), or `None`
    /// without one.
    #[cfg(feature = "redis")]
    pub fn backplane_stats(&self) -> Option<BackplaneStats> {
        self.inner.backplane.stats()
    }

    /// How many members `room` has on this server.
    pub fn local_count(&self, room: &str) -> usize {
        self.inner.count(room)
    }

    /// Every room that has members on this server, with its member count.
    pub fn local_presence(&self) -> BTreeMap<String, usize> {
        self.inner.presence()
    }

    /// Whether `member` is in `room`.
    pub fn contains(&self, room: &str, member: &Sender) -> bool {
        self.inner
            .read()
            .rooms
            .get(room)
            .is_some_and(|members| members.contains(member.id()))
    }

    /// The rooms `member` is in, sorted.
    pub fn rooms_of(&self, member: &Sender) -> Vec<String> {
        let registry = self.inner.read();
        let mut rooms: Vec<String> = registry
            .members
            .get(&member.id())
            .map(|entry| entry.rooms.iter().map(|room| room.to_string()).collect())
            .unwrap_or_default();
        rooms.sort();
        rooms
    }

    /// How many members `room` has on every server sharing these rooms (this one alone without
    /// a backplane). Fails only when the backplane cannot reach Redis.
    pub async fn count(&self, room: &str) -> Result<usize, Error> {
        let local = self.local_count(room);
        Ok(local + self.inner.backplane.remote_count(room).await?)
    }

    /// Every room that has members on any server sharing these rooms, with its member count
    /// summed over the servers. Fails only when the backplane cannot reach Redis.
    pub async fn presence(&self) -> Result<BTreeMap<String, usize>, Error> {
        let mut presence = self.local_presence();
        for (room, count) in self.inner.backplane.remote_presence().await? {
            *presence.entry(room).or_default() += count;
        }
        Ok(presence)
    }
}

impl fmt::Debug for Rooms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self.inner.read();
        f.debug_struct("Rooms")
            .field("rooms", &registry.rooms.len())
            .field("members", &registry.members.len())
            .field("slow_consumer", &self.inner.policy)
            .field("backplane", &self.inner.backplane)
            .finish()
    }
}

impl Inner {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        // A panic while the lock is held leaves the maps consistent (every update is done
        // before anything that can panic), so a poisoned lock is still usable.
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes or queues `message` for its audience on this server but `except`; closes or
    /// skips the slow members and forgets the gone ones.
    fn deliver(&self, broadcast: &Broadcast<'_>) -> usize {
        let Broadcast {
            audience,
            message,
            except,
            numbering,
        } = *broadcast;
        if let Audience::Room(room) = audience
            && numbering != Numbering::None
            && let Some(settings) = self.histories.settings(room)
        {
            let position = match numbering {
                Numbering::At(position) => Some(position),
                _ => None,
            };
            return self.deliver_in_history(room, settings, position, message, except);
        }
        // The members, taken out from under the lock: offers write to sockets, and joins and
        // leaves (on other threads) need not wait for them.
        let members: Arc<[(u64, Sender)]> = {
            let registry = self.read();
            match audience {
                Audience::Room(room) => match registry.rooms.get(room) {
                    Some(members) => members.list(),
                    None => return 0,
                },
                Audience::Everyone => registry
                    .members
                    .iter()
                    .filter(|(_, member)| !member.rooms.is_empty())
                    .map(|(id, member)| (*id, member.sender.clone()))
                    .collect(),
                Audience::User(user) | Audience::UserClose(user) => registry
                    .users
                    .get(user)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| Some((*id, registry.members.get(id)?.sender.clone())))
                    .collect(),
                Audience::PresenceOf(room) => {
                    drop(registry);
                    self.watchers.poke(room);
                    return 0;
                }
            }
        };
        if let Audience::UserClose(_) = audience {
            let (code, reason) = users::close_frame(message);
            for (_, sender) in members.iter() {
                sender.close(code, reason);
            }
            return members.len();
        }
        self.offer(&members, except, &mut Frame::Lazy(message, None))
    }

    /// Keeps a broadcast to `room`, which keeps a history, at `position` (or numbers it, when
    /// the backplane did not), and delivers it: in its envelope to the members that joined
    /// with positions, as it is to the others. A position this server has had already is
    /// not delivered again.
    fn deliver_in_history(
        &self,
        room: &str,
        settings: History,
        position: Option<&Position>,
        message: &Message,
        except: Option<u64>,
    ) -> usize {
        let now = Instant::now();
        let log = self.histories.log(room, settings);
        // Held while the members are offered the message, so that every member gets the
        // room's messages in offset order and a joining member gets its replay first.
        let mut log = history::lock(&log);
        let Some(appended) = log.append(room, position, message, now) else {
            return 0;
        };
        let (positioned, plain): (Vec<_>, Vec<_>) = {
            let registry = self.read();
            let marked = registry.positioned.get(room);
            registry
                .rooms
                .get(room)
                .into_iter()
                .flat_map(Members::iter)
                .map(|(id, sender)| (id, sender.clone()))
                .partition(|(id, _)| marked.is_some_and(|marked| marked.contains(id)))
        };
        if let Some(lost) = &appended.lost {
            // Never a silent gap: they are told first that they cannot be caught up.
            self.offer(&positioned, None, &mut Frame::Ready(lost));
        }
        let queued = self.offer(&positioned, except, &mut Frame::Ready(&appended.frame))
            + self.offer(&plain, except, &mut Frame::Lazy(message, None));
        drop(log);
        self.histories.appended(now);
        queued
    }

    /// Sends `member` the outcome of its join, then what it missed: past the pending limit
    /// if need be (the history bounds it), ahead of any live message.
    fn catch_up<'a>(
        &self,
        member: &Sender,
        outcome: &Message,
        missed: impl IntoIterator<Item = &'a Encoded>,
    ) {
        let high_water = self.bounds.high_water();
        let offer = |frame: &Encoded| {
            member.offer_broadcast(frame, usize::MAX, high_water, Instant::now) != Offered::Closed
        };
        // A member that is gone is taken out of its rooms by its end hook.
        if offer(&Encoded::new(outcome)) {
            for frame in missed {
                if !offer(frame) {
                    return;
                }
            }
        }
    }

    /// Offers `frame` to `members` but `except`; closes or skips the slow members and
    /// forgets the gone ones.
    fn offer(
        &self,
        members: &[(u64, Sender)],
        except: Option<u64>,
        frame: &mut Frame<'_>,
    ) -> usize {
        // The clock read once, when first needed.
        let mut now = None;
        let allowed = self.stall_allowed();
        let mut queued = 0;
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        let high_water = self.bounds.high_water();
        for (at, (id, sender)) in members.iter().enumerate() {
            let id = *id;
            if except == Some(id) {
                continue;
            }
            if let Some((_, next)) = members.get(at + 1) {
                next.prefetch();
            }
            let encoded = frame.get();
            let mut clock = || *now.get_or_insert_with(Instant::now);
            let (full, over_since) = match sender.offer_broadcast(
                encoded,
                self.bounds.pending_limit,
                high_water,
                &mut clock,
            ) {
                Offered::Taken { over_since } => {
                    queued += 1;
                    (false, over_since)
                }
                Offered::Full { over_since } => (true, over_since),
                Offered::Closed => {
                    gone.push(id);
                    continue;
                }
            };
            let stalled = match (allowed, over_since) {
                (Some(allowed), Some(since)) => clock().duration_since(since) >= allowed,
                _ => false,
            };
            if stalled || (full && self.policy == SlowConsumer::Close) {
                slow.push(sender.clone());
            } else if full {
                crate::metrics::slow_consumer_skipped();
            }
        }
        for sender in slow {
            tracing::warn!(
                connection = sender.id(),
                "closing a member that does not keep up with broadcasts"
            );
            sender.close(CloseCode::TRY_AGAIN_LATER, SLOW_REASON);
            crate::metrics::slow_consumer_closed();
            gone.push(sender.id());
        }
        for id in gone {
            self.depart(id);
        }
        queued
    }

    /// How long the policy lets a member stay above the high-water mark before closing it;
    /// `None` when it never does.
    fn stall_allowed(&self) -> Option<Duration> {
        match self.policy {
            SlowConsumer::Close => Some(self.bounds.stall_timeout),
            SlowConsumer::SkipThenClose(grace) => Some(grace),
            SlowConsumer::Skip => None,
        }
    }

    /// Forgets a member: out of every room, and no longer its user's.
    fn depart(&self, id: u64) {
        let (left, user) = {
            let mut registry = self.write();
            let Some(member) = registry.members.remove(&id) else {
                return;
            };
            for room in &member.rooms {
                registry.remove(room, id);
            }
            if let Some(user) = &member.user {
                registry.unbind(user, id);
            }
            (member.rooms, member.user)
        };
        for room in &left {
            self.changed(room);
        }
        if let Some(user) = user {
            self.backplane.user_changed(&user);
        }
    }

    /// The membership of `room`, or a presence entry there, changed: the backplane updates
    /// presence, and the room's watcher reads it again.
    fn changed(&self, room: &str) {
        self.backplane.room_changed(room);
        self.watchers.poke(room);
    }

    /// Calls [`depart`](Self::depart) when `member`'s connection ends, which a member needs
    /// once the registry knows it; `false` (and departed) when it has ended already.
    fn watch_end(self: &Arc<Self>, member: &Sender) -> bool {
        let id = member.id();
        let inner = Arc::downgrade(self);
        let hook = move || {
            if let Some(inner) = inner.upgrade() {
                inner.depart(id);
            }
        };
        if member.on_end(self.key, hook) {
            return true;
        }
        self.depart(id);
        false
    }
}

/// The frame a delivery offers its members.
enum Frame<'a> {
    /// The message as it is, framed on the first member that takes it.
    Lazy(&'a Message, Option<Encoded>),
    /// Framed already (a message in its envelope).
    Ready(&'a Encoded),
}

impl Frame<'_> {
    fn get(&mut self) -> &Encoded {
        match self {
            Frame::Lazy(message, encoded) => encoded.get_or_insert_with(|| Encoded::new(message)),
            Frame::Ready(encoded) => encoded,
        }
    }
}

impl LocalRooms for Inner {
    fn receive(&self, broadcast: &Broadcast<'_>) {
        self.deliver(broadcast);
    }

    fn count(&self, room: &str) -> usize {
        self.read().rooms.get(room).map_or(0, Members::len)
    }

    fn presence(&self) -> BTreeMap<String, usize> {
        self.read()
            .rooms
            .iter()
            .map(|(room, members)| (room.to_string(), members.len()))
            .collect()
    }

    fn has_members(&self) -> bool {
        !self.read().rooms.is_empty()
    }

    fn tracked(&self, room: &str) -> Vec<(u64, Arc<str>, Arc<str>)> {
        self.read()
            .tracked
            .get(room)
            .into_iter()
            .flatten()
            .map(|(id, tracked)| (*id, Arc::clone(&tracked.key), Arc::clone(&tracked.meta)))
            .collect()
    }

    fn has_history(&self, room: &str) -> bool {
        self.histories.settings(room).is_some()
    }

    fn user_connections(&self, user: &str) -> usize {
        self.read().users.get(user).map_or(0, HashSet::len)
    }

    fn watched(&self, room: &str) -> bool {
        self.watchers.is_watched(room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broadcast_to_a_room_name_past_the_cap_delivers_nothing() {
        let rooms = Rooms::builder().max_room_name(4).build().unwrap();
        assert_eq!(rooms.broadcast("abcde", "hi"), 0);
        assert_eq!(rooms.broadcast("abcd", "hi"), 0);
    }

    /// The rooms with the Redis backplane's settings (feature `redis`).
    #[cfg(feature = "redis")]
    mod with_redis {
        use super::*;
        use crate::error::BackplaneError;

        #[test]
        fn redis_settings_without_a_url_leave_the_rooms_in_process() {
            // No Tokio runtime here: a backplane would fail to start.
            let rooms = Rooms::builder()
                .redis_secret("s3cret")
                .redis_prefix("app")
                .presence_ttl(Duration::from_secs(1))
                .redis_retention(Duration::from_secs(1))
                .redis_outbox_bytes(1)
                .redis_max_message(1)
                .build()
                .unwrap();
            assert!(rooms.backplane_stats().is_none());
            assert!(format!("{rooms:?}").contains("backplane: None"));
        }

        #[test]
        fn an_invalid_redis_url_fails_the_build_with_redis_s_error_as_its_source() {
            let error = Rooms::builder().redis("not a url").build().unwrap_err();
            assert!(matches!(
                error,
                Error::Backplane(BackplaneError::InvalidUrl(_))
            ));
            assert!(std::error::Error::source(&error).is_some());
        }

        #[tokio::test]
        async fn with_redis_room_names_are_capped_at_what_the_envelope_holds() {
            // Nothing listens on port 1: broadcasts wait in the outbox.
            let unreachable = "redis://127.0.0.1:1/";
            let rooms = Rooms::builder()
                .redis(unreachable)
                .max_room_name(usize::MAX)
                .build()
                .unwrap();
            assert_eq!(rooms.inner.max_room_name, usize::from(u16::MAX));
            let longest = "r".repeat(usize::from(u16::MAX));
            assert_eq!(rooms.broadcast(&longest, "fits"), 0);
            assert_eq!(rooms.backplane_stats().unwrap().waiting, 1);
            assert_eq!(rooms.broadcast(&format!("{longest}r"), "does not"), 0);
            assert_eq!(rooms.backplane_stats().unwrap().waiting, 1);

            let rooms = Rooms::builder()
                .redis(unreachable)
                .max_room_name(4)
                .build()
                .unwrap();
            assert_eq!(rooms.broadcast("abcde", "past the cap"), 0);
            assert_eq!(rooms.backplane_stats().unwrap().waiting, 0);
            rooms.broadcast_all("to every room");
            assert_eq!(rooms.backplane_stats().unwrap().waiting, 1);
            // In-process rooms keep whatever cap they are given.
            let rooms = Rooms::builder().max_room_name(usize::MAX).build().unwrap();
            assert_eq!(rooms.inner.max_room_name, usize::MAX);
        }
    }
}
