//! Rooms: named groups of connections that a program broadcasts to, with slow-consumer
//! protection and presence, in one process or, with the `redis` feature, across servers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::socket::Sender;
use crate::wire::engine::Encoded;
use crate::wire::{CloseCode, Message};

#[cfg(feature = "redis")]
mod redis;

/// The reason sent with the 1013 close of a member that could not keep up.
const SLOW_REASON: &str = "too slow: outgoing queue full";

/// What a broadcast does to a member whose outgoing queue is full (its client does not read
/// as fast as messages come). Whatever the policy, a broadcast never waits for a member and
/// never queues more than the connection's bound
/// ([`Server::outgoing_queue`](crate::Server::outgoing_queue), 32 messages by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowConsumer {
    /// Close the member with code 1013 (try again later) and the reason "too slow: outgoing
    /// queue full" the first time a broadcast finds its queue full; the queue is the slack.
    /// The default.
    #[default]
    Close,
    /// Skip the message for that member while its queue is full, and close it (as `Close`
    /// does) once its queue has stayed full for this long.
    SkipThenClose(Duration),
    /// Skip the message for that member while its queue is full; never close it. For feeds
    /// where a member only needs the latest state.
    Skip,
}

/// A cheap, cloneable handle on a set of named rooms: connections join and leave them, and
/// any task (a handler, or code outside every connection) broadcasts to them.
///
/// A member is a connection's [`Sender`]. It leaves every room by itself when its connection
/// ends (when the handler returns or the socket is dropped), and when a broadcast finds it
/// closed or too slow (see [`SlowConsumer`]). A broadcast frames its message once and shares
/// the frame between members, whose connections write the same bytes; it queues the frame
/// as `try_send` would, and never waits for a member.
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
/// # async fn run() -> std::io::Result<()> {
/// let rooms = Rooms::new();
/// let server = Server::new(routes![chat]).with_state(rooms.clone()).bind("127.0.0.1:0").await?;
/// // Any task holding the handle broadcasts too.
/// tokio::spawn(async move {
///     rooms.broadcast("lobby", "the server is up");
/// });
/// server.run().await
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
/// servers: broadcasts reach members on every server, and [`count`](Self::count) and
/// [`presence`](Self::presence) add up the members of every server.
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Inner>,
}

struct Inner {
    /// Tells this registry's end-of-connection hooks from another's.
    key: u64,
    policy: SlowConsumer,
    registry: RwLock<Registry>,
    #[cfg(feature = "redis")]
    backplane: OnceLock<redis::Backplane>,
}

#[derive(Default)]
struct Registry {
    /// Room name to its members, by connection id.
    rooms: HashMap<Arc<str>, HashMap<u64, Sender>>,
    members: HashMap<u64, Member>,
}

struct Member {
    sender: Sender,
    rooms: HashSet<Arc<str>>,
    /// When a broadcast first found its queue full, in milliseconds since [`epoch`] plus one;
    /// 0 while it keeps up. Read only under [`SlowConsumer::SkipThenClose`].
    full_since: AtomicU64,
}

/// Numbers registries, for [`Sender::on_end`] keys.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The settings of a [`Rooms`]: the slow-consumer policy and, with the `redis` feature, the
/// backplane.
///
/// ```
/// use std::time::Duration;
/// use ws_routes::{Rooms, SlowConsumer};
///
/// let rooms = Rooms::builder()
///     .slow_consumer(SlowConsumer::SkipThenClose(Duration::from_secs(2)))
///     .build()
///     .unwrap();
/// assert_eq!(rooms.slow_consumer(), SlowConsumer::SkipThenClose(Duration::from_secs(2)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RoomsBuilder {
    policy: SlowConsumer,
    #[cfg(feature = "redis")]
    redis: Option<redis::Settings>,
}

impl RoomsBuilder {
    /// What a broadcast does to a member whose queue is full. Default: [`SlowConsumer::Close`].
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.policy = policy;
        self
    }

    /// Shares the rooms with every server that uses the same Redis (a URL such as
    /// `redis://127.0.0.1:6379/`) and the same [`redis_prefix`](Self::redis_prefix).
    ///
    /// Broadcasts are delivered to this server's members at once and published on a Redis
    /// channel for the others; each server writes its room counts to Redis, refreshed by a
    /// heartbeat and expiring when the server stops, so that presence adds up every server.
    /// The server goes on while Redis is down: it reconnects with backoff, resubscribes, and
    /// logs what other servers may have missed. Needs a Tokio runtime at
    /// [`build`](Self::build).
    #[cfg(feature = "redis")]
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis.get_or_insert_with(Default::default).url = url.into();
        self
    }

    /// The prefix of every Redis key and channel the backplane uses, so that several
    /// applications can share one Redis. Default: `ws-routes`.
    #[cfg(feature = "redis")]
    pub fn redis_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.redis.get_or_insert_with(Default::default).prefix = prefix.into();
        self
    }

    /// How long this server's presence stays in Redis without a heartbeat (a heartbeat runs
    /// every third of it, and after every change); a server that died drops out of the counts
    /// after this. Default: 15 seconds.
    #[cfg(feature = "redis")]
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.redis.get_or_insert_with(Default::default).presence_ttl = ttl;
        self
    }

    /// Builds the rooms. Fails only when the Redis URL is invalid; Redis being down is not an
    /// error (the backplane connects when it can).
    pub fn build(self) -> Result<Rooms, Error> {
        #[cfg(feature = "redis")]
        let prepared = self.redis.map(redis::Prepared::new).transpose()?;
        let rooms = Rooms {
            inner: Arc::new(Inner {
                key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
                policy: self.policy,
                registry: RwLock::default(),
                #[cfg(feature = "redis")]
                backplane: OnceLock::new(),
            }),
        };
        #[cfg(feature = "redis")]
        if let Some(prepared) = prepared {
            let backplane = prepared.start(Arc::downgrade(&rooms.inner));
            let _ = rooms.inner.backplane.set(backplane);
        }
        Ok(rooms)
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

    /// Puts `member` in `room` (created on first join). `false` when it was there already, or
    /// when its connection has ended.
    pub fn join(&self, room: &str, member: &Sender) -> bool {
        if member.is_closed() {
            return false;
        }
        let id = member.id();
        let (joined, first_room) = {
            let mut registry = self.inner.write();
            let registry = &mut *registry;
            let name = match registry.rooms.get_key_value(room) {
                Some((name, _)) => Arc::clone(name),
                None => Arc::from(room),
            };
            let entry = registry.members.entry(id).or_insert_with(|| Member {
                sender: member.clone(),
                rooms: HashSet::new(),
                full_since: AtomicU64::new(0),
            });
            let first_room = entry.rooms.is_empty();
            let joined = entry.rooms.insert(Arc::clone(&name));
            registry
                .rooms
                .entry(name)
                .or_default()
                .insert(id, member.clone());
            (joined, first_room)
        };
        if first_room {
            let inner = Arc::downgrade(&self.inner);
            let hook = move || {
                if let Some(inner) = inner.upgrade() {
                    inner.depart(id);
                }
            };
            if !member.on_end(self.inner.key, hook) {
                // The connection ended while it was joining.
                self.inner.depart(id);
                return false;
            }
        }
        if joined {
            self.inner.changed();
        }
        joined
    }

    /// Takes `member` out of `room`. `false` when it was not there.
    pub fn leave(&self, room: &str, member: &Sender) -> bool {
        let id = member.id();
        let (left, last_room) = {
            let mut registry = self.inner.write();
            let Some(entry) = registry.members.get_mut(&id) else {
                return false;
            };
            let left = entry.rooms.remove(room);
            let last_room = entry.rooms.is_empty();
            if last_room {
                registry.members.remove(&id);
            }
            if let Some(members) = registry.rooms.get_mut(room) {
                members.remove(&id);
                if members.is_empty() {
                    registry.rooms.remove(room);
                }
            }
            (left, last_room)
        };
        if last_room {
            member.cancel_on_end(self.inner.key);
        }
        if left {
            self.inner.changed();
        }
        left
    }

    /// Takes `member` out of every room (which happens by itself when its connection ends).
    pub fn leave_all(&self, member: &Sender) {
        member.cancel_on_end(self.inner.key);
        self.inner.depart(member.id());
    }

    /// Sends `message` to every member of `room`, on every server; returns how many members
    /// of this server it was queued for.
    ///
    /// Never waits: a member whose queue is full is dealt with by the
    /// [slow-consumer policy](SlowConsumer).
    pub fn broadcast(&self, room: &str, message: impl Into<Message>) -> usize {
        self.send(Some(room), message.into(), None)
    }

    /// Sends `message` to every member of `room` but `except` (typically the member who sent
    /// it), on every server; returns how many members of this server it was queued for.
    pub fn broadcast_except(
        &self,
        room: &str,
        message: impl Into<Message>,
        except: &Sender,
    ) -> usize {
        self.send(Some(room), message.into(), Some(except.id()))
    }

    /// Sends `message` once to every connection that is a member of at least one room, on
    /// every server; returns how many of this server's connections it was queued for.
    pub fn broadcast_all(&self, message: impl Into<Message>) -> usize {
        self.send(None, message.into(), None)
    }

    fn send(&self, room: Option<&str>, message: Message, except: Option<u64>) -> usize {
        let queued = self.inner.deliver(room, &message, except);
        #[cfg(feature = "redis")]
        if let Some(backplane) = self.inner.backplane.get() {
            backplane.publish(room, &message);
        }
        queued
    }

    /// How many members `room` has on this server.
    pub fn local_count(&self, room: &str) -> usize {
        self.inner.read().rooms.get(room).map_or(0, HashMap::len)
    }

    /// Every room that has members on this server, with its member count.
    pub fn local_presence(&self) -> BTreeMap<String, usize> {
        self.inner.local_presence()
    }

    /// Whether `member` is in `room`.
    pub fn contains(&self, room: &str, member: &Sender) -> bool {
        self.inner
            .read()
            .rooms
            .get(room)
            .is_some_and(|members| members.contains_key(&member.id()))
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
        #[cfg(feature = "redis")]
        if let Some(backplane) = self.inner.backplane.get() {
            return Ok(local + backplane.remote_count(room).await?);
        }
        Ok(local)
    }

    /// Every room that has members on any server sharing these rooms, with its member count
    /// summed over the servers. Fails only when the backplane cannot reach Redis.
    pub async fn presence(&self) -> Result<BTreeMap<String, usize>, Error> {
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut presence = self.local_presence();
        #[cfg(feature = "redis")]
        if let Some(backplane) = self.inner.backplane.get() {
            for (room, count) in backplane.remote_presence().await? {
                *presence.entry(room).or_default() += count;
            }
        }
        Ok(presence)
    }
}

impl fmt::Debug for Rooms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self.inner.read();
        let mut debug = f.debug_struct("Rooms");
        debug
            .field("rooms", &registry.rooms.len())
            .field("members", &registry.members.len())
            .field("slow_consumer", &self.inner.policy);
        #[cfg(feature = "redis")]
        debug.field("backplane", &self.inner.backplane.get());
        debug.finish()
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

    /// Queues `message` for the members of `room` (every member for `None`) but `except`, on
    /// this server; closes or skips the slow ones and forgets the gone ones.
    fn deliver(&self, room: Option<&str>, message: &Message, except: Option<u64>) -> usize {
        let encoded = Encoded::new(message);
        let mut queued = 0;
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        {
            let registry = self.read();
            let mut offer = |id: u64, sender: &Sender| {
                if except == Some(id) {
                    return;
                }
                match sender.try_send_encoded(encoded.clone()) {
                    Ok(()) => {
                        queued += 1;
                        if let SlowConsumer::SkipThenClose(_) = self.policy {
                            if let Some(member) = registry.members.get(&id) {
                                member.full_since.store(0, Ordering::Relaxed);
                            }
                        }
                    }
                    Err(Error::QueueFull) => {
                        if self.too_slow(&registry, id) {
                            slow.push(sender.clone());
                        }
                    }
                    Err(_) => gone.push(id),
                }
            };
            match room {
                Some(room) => {
                    for (id, sender) in registry.rooms.get(room).into_iter().flatten() {
                        offer(*id, sender);
                    }
                }
                None => {
                    for (id, member) in &registry.members {
                        offer(*id, &member.sender);
                    }
                }
            }
        }
        for sender in slow {
            tracing::warn!(
                connection = sender.id(),
                "closing a member that does not keep up with broadcasts"
            );
            sender.close(CloseCode::TRY_AGAIN_LATER, SLOW_REASON);
            gone.push(sender.id());
        }
        for id in gone {
            self.depart(id);
        }
        queued
    }

    /// Whether the member whose queue a broadcast just found full is to be closed.
    fn too_slow(&self, registry: &Registry, id: u64) -> bool {
        match self.policy {
            SlowConsumer::Close => true,
            SlowConsumer::Skip => false,
            SlowConsumer::SkipThenClose(grace) => {
                let Some(member) = registry.members.get(&id) else {
                    return false;
                };
                let now = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
                match member.full_since.compare_exchange(
                    0,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => false,
                    Err(since) => Duration::from_millis(now - since.min(now)) >= grace,
                }
            }
        }
    }

    /// Forgets a member: out of every room.
    fn depart(&self, id: u64) {
        let left = {
            let mut registry = self.write();
            let Some(member) = registry.members.remove(&id) else {
                return;
            };
            for room in &member.rooms {
                if let Some(members) = registry.rooms.get_mut(room) {
                    members.remove(&id);
                    if members.is_empty() {
                        registry.rooms.remove(room);
                    }
                }
            }
            !member.rooms.is_empty()
        };
        if left {
            self.changed();
        }
    }

    fn local_presence(&self) -> BTreeMap<String, usize> {
        self.read()
            .rooms
            .iter()
            .map(|(room, members)| (room.to_string(), members.len()))
            .collect()
    }

    /// Membership changed: the backplane refreshes this server's presence.
    fn changed(&self) {
        #[cfg(feature = "redis")]
        if let Some(backplane) = self.backplane.get() {
            backplane.presence_changed();
        }
    }
}
