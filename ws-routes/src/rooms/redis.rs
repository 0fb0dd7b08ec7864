//! The Redis backplane of [`Rooms`](super::Rooms): broadcasts travel between servers on one
//! Redis stream that every server reads from the last entry it saw, and each server keeps its
//! room counts in a hash that expires without a heartbeat.
//!
//! Keys, under the prefix `P` (default `ws-routes`):
//!
//! | name | what |
//! |---|---|
//! | `P:stream` | the stream of broadcasts: every server appends to it and reads all of it |
//! | `P:servers` | a set of server ids; a server re-adds itself on every heartbeat |
//! | `P:presence:ID` | a hash of room name to member count on server `ID`, expiring after the presence TTL |
//!
//! # Delivery
//!
//! A broadcast is delivered to this server's members at once, then queued in a bounded outbox
//! (by bytes: [`redis_outbox_bytes`](super::RoomsBuilder::redis_outbox_bytes)) and appended to
//! the stream with `XADD`, trimmed with `MINID ~` to the retention window
//! ([`redis_retention`](super::RoomsBuilder::redis_retention)) measured on Redis's own clock.
//! The publisher sends the outbox in batches, each in one `MULTI`/`EXEC`, so that entries
//! land in order: a batch that fails stays at the head of the outbox and is retried, from its
//! first entry that did not land, after reconnecting. An `XADD` that keeps failing (Redis out
//! of memory under `maxmemory`, the stream's key holding another type) holds back every
//! broadcast behind it: they wait until the outbox is full, and later ones are dropped.
//!
//! Each server reads the stream with `XREAD BLOCK` from the id of the last entry it read, and
//! after a reconnect goes on from that id, so it does not matter which server reconnects
//! first: what was appended while a server's link to Redis was down is read when it is back,
//! as long as the stream still holds it. A server that starts (or restarts: it is a new server
//! then) reads from the end of the stream.
//!
//! Every broadcast carries its origin server's id and a sequence number that the origin
//! assigns when the broadcast enters its outbox. A reader drops an entry whose number it has
//! seen already from that origin (a retried batch whose first attempt had landed, or a
//! replay), which keeps delivery exactly-once and in order per origin (and so per room), and
//! counts a jump in the numbers as that many lost broadcasts. A server ignores its own
//! entries: it delivered them to its members already, without the round trip.
//!
//! What holds:
//!
//! - While Redis keeps its data (it stays up, or restarts from an append-only file written
//!   with `appendfsync always`), every broadcast that an origin gets into the stream reaches
//!   every server whose link to Redis is up, or back within the retention window, exactly
//!   once, in order per origin.
//! - An origin gets into the stream every broadcast accepted into its outbox while it runs,
//!   retrying through outages. When its rooms are dropped it gives the outbox at most two
//!   seconds, if Redis is reachable then, and drops what is left, with a warning saying how
//!   many.
//! - A broadcast is lost when its outbox is full (counted as `dropped` on the origin), when it
//!   is larger than [`redis_max_message`](super::RoomsBuilder::redis_max_message) (delivered
//!   locally only, counted as `oversized`), when it is still in the outbox as its rooms are
//!   dropped (above), when a server's link is down for longer than the retention window, or
//!   when Redis loses entries a server had not read yet (a restart without persistence, or
//!   with a lossy `appendfsync`): those are gone, there is nothing to catch up on.
//! - The last two are counted as `lost` on the reader, with a warning that says how many, when
//!   a later broadcast from the same origin arrives and its number shows the jump. Only for
//!   an origin the reader has heard from, though: missing broadcasts of an origin it has not
//!   heard from yet, or has forgotten (after an hour without a broadcast from it, or the
//!   retention window if longer), are not counted. That the stream no longer holds the last
//!   entry read is counted as a `gap` and logged at once.
//! - A Redis that comes back empty is detected (the last entry read is gone): the reader goes
//!   on from the same id, which still covers every new entry since stream ids follow Redis's
//!   clock; if the new ids are lower (the clock went back, or another Redis took over), it
//!   reads the stream from its start and the sequence numbers drop what it had seen.
//!
//! # Trust
//!
//! Anyone who can write to the Redis can inject broadcasts to every member of every server,
//! and anyone who can read it sees them. Reach Redis over `rediss://` (TLS; with the `tls`
//! feature) with a password in the URL, and set
//! [`redis_secret`](super::RoomsBuilder::redis_secret) so that every entry carries an
//! HMAC-SHA256 tag: entries with a missing or wrong tag are dropped, counted as `rejected`
//! and logged. A tagged entry replayed into the stream is dropped as a duplicate by every
//! server that has heard from its origin in the last hour (the sequence numbers).
//!
//! # Wire format
//!
//! An entry has the field `m`, the envelope, and with a secret the field `t`, the 32-byte
//! HMAC-SHA256 of the prefix followed by the envelope. The envelope: a version byte (2), the
//! kind (`T` text, `B` binary), the scope (`R` one room, `A` every member), the origin server's
//! id (8 bytes, big-endian), its sequence number (8 bytes, big-endian), the room's length
//! (2 bytes, big-endian), the room, then the payload.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamRangeReply, StreamReadReply};
use sha2::Sha256;
use tokio::sync::{Notify, watch};
use tracing::{Instrument, debug, info, info_span, trace, warn};

use super::Inner;
use crate::error::{BackplaneError, Error};
use crate::wire::{Message, Utf8Bytes};

/// The envelope format's version.
const VERSION: u8 = 2;
/// The envelope's bytes before the room: version, kind, scope, server, sequence, room length.
const HEADER: usize = 3 + 8 + 8 + 2;
/// What an outbox entry costs beyond its envelope, for the byte budget.
const ENTRY_OVERHEAD: usize = 64;
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long one Redis command or connection attempt may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one `XREAD` waits for new entries.
const READ_BLOCK: Duration = Duration::from_secs(1);
/// The most entries one `XREAD` returns.
const READ_COUNT: usize = 64;
/// The most entries, and bytes, one round of `XADD`s carries.
const BATCH_ENTRIES: usize = 64;
const BATCH_BYTES: usize = 1 << 20;
/// How long a reader remembers the sequence number of an origin it no longer hears from (or
/// the retention window, if longer).
const FORGET_ORIGINS: Duration = Duration::from_secs(3600);
/// How often a repeated warning (outbox full, oversized, rejected) is logged at most; the
/// counters count every occurrence, and what a warning left out is logged by the next one, or
/// by the tasks' catch-up (every heartbeat for the publisher, every read for the reader).
const WARN_EVERY: Duration = Duration::from_secs(1);

/// The longest room name an envelope holds (its length takes two bytes).
pub(super) const MAX_ENVELOPE_ROOM: usize = u16::MAX as usize;

/// The backplane's settings but its URL, from [`RoomsBuilder`](super::RoomsBuilder).
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) prefix: String,
    pub(super) presence_ttl: Duration,
    pub(super) retention: Duration,
    pub(super) outbox_bytes: usize,
    pub(super) max_message: usize,
    pub(super) secret: Option<Secret>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prefix: "ws-routes".into(),
            presence_ttl: Duration::from_secs(15),
            retention: Duration::from_secs(60),
            outbox_bytes: 16 << 20,
            max_message: 1 << 20,
            secret: None,
        }
    }
}

/// The shared secret of [`RoomsBuilder::redis_secret`](super::RoomsBuilder::redis_secret);
/// never printed.
#[derive(Clone)]
pub(super) struct Secret(Arc<[u8]>);

impl Secret {
    pub(super) fn new(secret: &[u8]) -> Self {
        Secret(Arc::from(secret))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What the Redis backplane of a [`Rooms`](crate::Rooms) has done since it was built, from
/// [`Rooms::backplane_stats`](crate::Rooms::backplane_stats). Every counter only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackplaneStats {
    /// Whether both the publisher and the reader are connected to Redis now.
    pub connected: bool,
    /// Broadcasts waiting in the outbox for Redis now.
    pub waiting: usize,
    /// Broadcasts this server appended to the stream.
    pub published: u64,
    /// Other servers' broadcasts this server delivered to its members.
    pub received: u64,
    /// Broadcasts never published because the outbox was full (by its byte budget).
    pub dropped: u64,
    /// Broadcasts larger than the maximum message size: delivered on this server only.
    pub oversized: u64,
    /// Entries dropped because their tag was missing or wrong, or they were malformed.
    pub rejected: u64,
    /// Entries dropped because this server had read them already (retried or replayed).
    pub duplicates: u64,
    /// Other servers' broadcasts known to be missed: past the retention window, or lost by
    /// Redis before this server read them. Counted when a later broadcast from the same
    /// origin arrives, and only for origins this server has heard from (and not forgotten
    /// after an hour of silence): losses from others go uncounted.
    pub lost: u64,
    /// Times the stream no longer held the last entry this server read when it came back:
    /// trimmed past the retention window, or Redis restarted without it.
    pub gaps: u64,
}

/// A backplane whose URL parsed, not started yet.
pub(super) struct Prepared {
    link: Link,
}

/// What the backplane's tasks and the handle share.
struct Link {
    client: redis::Client,
    /// This server's id: random, so that restarts and other processes never collide.
    server: u64,
    /// The id as Redis keys and the servers set name it.
    name: String,
    stream: String,
    servers_key: String,
    prefix: String,
    presence_ttl: Duration,
    retention: Duration,
    outbox_bytes: usize,
    max_message: usize,
    /// With a secret: the HMAC keyed with it and fed the prefix, cloned for every tag.
    mac: Option<Hmac<Sha256>>,
    /// The publisher's connection while it is up, cloned for presence queries.
    connection: Mutex<Option<MultiplexedConnection>>,
    outbox: Mutex<Outbox>,
    /// A broadcast entered the outbox.
    queued: Notify,
    /// Rooms whose count changed since presence was last written.
    dirty: Mutex<HashSet<String>>,
    /// A room's count changed.
    changed: Notify,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    publisher_up: AtomicBool,
    reader_up: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    oversized: AtomicU64,
    rejected: AtomicU64,
    duplicates: AtomicU64,
    lost: AtomicU64,
    gaps: AtomicU64,
    dropped_warned: Warning,
    oversized_warned: Warning,
    rejected_warned: Warning,
}

/// Broadcasts waiting for Redis, oldest first, within a byte budget.
#[derive(Default)]
struct Outbox {
    queue: VecDeque<Bytes>,
    /// The budget used: the envelopes plus [`ENTRY_OVERHEAD`] each.
    bytes: usize,
    /// The sequence number of the next broadcast accepted.
    next_seq: u64,
}

impl Outbox {
    /// Numbers `envelope` and queues it, or gives it back when it does not fit in `budget`.
    fn push(&mut self, mut envelope: BytesMut, budget: usize) -> Result<(), BytesMut> {
        let cost = envelope.len() + ENTRY_OVERHEAD;
        if self.bytes + cost > budget {
            return Err(envelope);
        }
        self.next_seq += 1;
        envelope[SEQ_AT..SEQ_AT + 8].copy_from_slice(&self.next_seq.to_be_bytes());
        self.bytes += cost;
        self.queue.push_back(envelope.freeze());
        Ok(())
    }

    /// The oldest broadcasts, within one batch's bounds, without removing them.
    fn batch(&self) -> Vec<Bytes> {
        let mut size = 0;
        let mut batch = Vec::new();
        for envelope in self.queue.iter().take(BATCH_ENTRIES) {
            if !batch.is_empty() && size + envelope.len() > BATCH_BYTES {
                break;
            }
            size += envelope.len();
            batch.push(envelope.clone());
        }
        batch
    }

    /// Removes the `n` oldest broadcasts, once published.
    fn remove(&mut self, n: usize) {
        for envelope in self.queue.drain(..n) {
            self.bytes -= envelope.len() + ENTRY_OVERHEAD;
        }
    }
}

/// Where the sequence number sits in an envelope.
const SEQ_AT: usize = 3 + 8;

/// A repeated warning about a counter: logged at once the first time, then at most once per
/// [`WARN_EVERY`], each time with the counter's total.
#[derive(Default)]
struct Warning {
    /// When it was last logged, and the counter's total then.
    last: Mutex<Option<(Instant, u64)>>,
}

impl Warning {
    /// Whether to log it now, the counter being at `total`.
    fn due(&self, total: u64) -> bool {
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
    fn catch_up(&self, counter: &AtomicU64) -> Option<u64> {
        let total = counter.load(Ordering::Relaxed);
        let logged = self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map_or(0, |(_, logged)| logged);
        (total > logged && self.due(total)).then_some(total)
    }
}

/// The running backplane, owned by the rooms: dropping it stops its tasks (the publisher
/// first flushes its outbox and removes this server's presence, if Redis is up).
pub(super) struct Backplane {
    link: Arc<Link>,
    /// Dropped with the rooms, which tells the tasks to stop.
    _stop: watch::Sender<()>,
}

impl Prepared {
    pub(super) fn new(url: &str, settings: Settings) -> Result<Self, Error> {
        let client = redis::Client::open(url)
            .map_err(|error| BackplaneError::InvalidUrl(Box::new(error)))?;
        let prefix = settings.prefix;
        let server = RandomState::new().hash_one(Instant::now());
        let mac = settings.secret.map(|secret| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes keys of any length");
            mac.update(prefix.as_bytes());
            mac
        });
        Ok(Prepared {
            link: Link {
                client,
                server,
                name: format!("{server:016x}"),
                stream: format!("{prefix}:stream"),
                servers_key: format!("{prefix}:servers"),
                prefix,
                presence_ttl: settings.presence_ttl.max(Duration::from_millis(30)),
                retention: settings.retention,
                outbox_bytes: settings.outbox_bytes,
                max_message: settings.max_message,
                mac,
                connection: Mutex::new(None),
                outbox: Mutex::default(),
                queued: Notify::new(),
                dirty: Mutex::default(),
                changed: Notify::new(),
                counters: Counters::default(),
            },
        })
    }

    /// Starts the publisher and the reader tasks for `rooms`.
    pub(super) fn start(self, rooms: Weak<Inner>) -> Backplane {
        let link = Arc::new(self.link);
        let (stop, stopped) = watch::channel(());
        let span = info_span!("backplane", server = %link.name);
        tokio::spawn(
            publish_loop(Arc::clone(&link), rooms.clone(), stopped.clone())
                .instrument(span.clone()),
        );
        tokio::spawn(read_loop(Arc::clone(&link), rooms, stopped).instrument(span));
        Backplane { link, _stop: stop }
    }
}

impl Backplane {
    /// Hands a broadcast to the publisher, without waiting.
    pub(super) fn publish(&self, room: Option<&str>, message: &Message) {
        let link = &self.link;
        let counters = &link.counters;
        if message.len() > link.max_message {
            let total = counters.oversized.fetch_add(1, Ordering::Relaxed) + 1;
            if counters.oversized_warned.due(total) {
                warn_oversized(link, total);
            }
            return;
        }
        let Some(envelope) = encode(link.server, room, message) else {
            // Never: the rooms cap room names at what an envelope holds.
            return;
        };
        let pushed = link.lock_outbox().push(envelope, link.outbox_bytes);
        match pushed {
            Ok(()) => link.queued.notify_one(),
            Err(envelope) => {
                let total = counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if counters.dropped_warned.due(total) {
                    debug!(size = envelope.len(), "the broadcast that did not fit");
                    warn_dropped(link, total);
                }
            }
        }
    }

    /// Asks the publisher to write `room`'s count on this server to Redis.
    pub(super) fn presence_changed(&self, room: &str) {
        let mut dirty = self.link.dirty.lock().unwrap_or_else(|e| e.into_inner());
        if !dirty.contains(room) {
            dirty.insert(room.to_owned());
        }
        drop(dirty);
        self.link.changed.notify_one();
    }

    /// The backplane's counters.
    pub(super) fn stats(&self) -> BackplaneStats {
        let counters = &self.link.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BackplaneStats {
            connected: counters.publisher_up.load(Ordering::Relaxed)
                && counters.reader_up.load(Ordering::Relaxed),
            waiting: self.link.lock_outbox().queue.len(),
            published: load(&counters.published),
            received: load(&counters.received),
            dropped: load(&counters.dropped),
            oversized: load(&counters.oversized),
            rejected: load(&counters.rejected),
            duplicates: load(&counters.duplicates),
            lost: load(&counters.lost),
            gaps: load(&counters.gaps),
        }
    }

    /// The members of `room` on the other live servers.
    pub(super) async fn remote_count(&self, room: &str) -> Result<usize, Error> {
        let mut connection = self.connection()?;
        let servers = self.other_servers(&mut connection).await?;
        let mut pipe = redis::pipe();
        for server in &servers {
            pipe.hget(self.link.presence_key(server), room);
        }
        let counts: Vec<Option<usize>> = pipe
            .query_async(&mut connection)
            .await
            .map_err(backplane_error)?;
        Ok(counts.into_iter().flatten().sum())
    }

    /// Every room with members on the other live servers, with its count summed over them.
    pub(super) async fn remote_presence(&self) -> Result<BTreeMap<String, usize>, Error> {
        let mut connection = self.connection()?;
        let servers = self.other_servers(&mut connection).await?;
        let mut pipe = redis::pipe();
        for server in &servers {
            pipe.hgetall(self.link.presence_key(server));
        }
        let hashes: Vec<HashMap<String, usize>> = pipe
            .query_async(&mut connection)
            .await
            .map_err(backplane_error)?;
        let mut presence = BTreeMap::new();
        // Expired (or no members): forget them, in one command; a live server adds itself
        // back on its next heartbeat.
        let mut expired = Vec::new();
        for (server, hash) in servers.iter().zip(hashes) {
            if hash.is_empty() {
                expired.push(server);
            }
            for (room, count) in hash {
                *presence.entry(room).or_default() += count;
            }
        }
        if !expired.is_empty() {
            let _: Result<(), _> = redis::cmd("SREM")
                .arg(&self.link.servers_key)
                .arg(&expired)
                .query_async(&mut connection)
                .await;
        }
        Ok(presence)
    }

    fn connection(&self) -> Result<MultiplexedConnection, Error> {
        self.link
            .connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(Error::Backplane(BackplaneError::Unreachable))
    }

    async fn other_servers(
        &self,
        connection: &mut MultiplexedConnection,
    ) -> Result<Vec<String>, Error> {
        let me = &self.link.name;
        let servers: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&self.link.servers_key)
            .query_async(connection)
            .await
            .map_err(backplane_error)?;
        Ok(servers.into_iter().filter(|server| server != me).collect())
    }
}

impl fmt::Debug for Backplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backplane")
            .field("server", &self.link.name)
            .field("stream", &self.link.stream)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Link {
    fn presence_key(&self, server: &str) -> String {
        format!("{}:presence:{server}", self.prefix)
    }

    fn lock_outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn config(response_timeout: Duration) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(response_timeout))
    }

    /// The tag of `envelope`, with a secret.
    fn tag(&self, envelope: &[u8]) -> Option<[u8; 32]> {
        let mut mac = self.mac()?;
        mac.update(envelope);
        let mut tag = [0; 32];
        tag.copy_from_slice(&mac.finalize().into_bytes());
        Some(tag)
    }

    /// Whether `tag` is right for `envelope` (always, without a secret).
    fn verify(&self, envelope: &[u8], tag: Option<&[u8]>) -> bool {
        match (self.mac(), tag) {
            (None, _) => true,
            (Some(mut mac), Some(tag)) => {
                mac.update(envelope);
                mac.verify_slice(tag).is_ok()
            }
            (Some(_), None) => false,
        }
    }

    /// A fresh HMAC for one entry: a clone of the keyed one, without redoing the key schedule.
    fn mac(&self) -> Option<Hmac<Sha256>> {
        self.mac.clone()
    }
}

/// A presence query's Redis error, kept as the source of the backplane's.
fn backplane_error(error: redis::RedisError) -> Error {
    Error::Backplane(BackplaneError::Command(Box::new(error)))
}

fn warn_dropped(link: &Link, total: u64) {
    warn!(
        budget = link.outbox_bytes,
        dropped = total,
        "the Redis outbox is full: broadcasts are not reaching other servers"
    );
}

fn warn_oversized(link: &Link, total: u64) {
    warn!(
        max = link.max_message,
        oversized = total,
        "broadcasts larger than the Redis backplane's maximum message size were delivered on \
         this server only"
    );
}

fn warn_rejected(total: u64) {
    warn!(
        rejected = total,
        "dropped Redis stream entries that are malformed or lack the right tag (another \
         application, a server with a different secret, or a forgery)"
    );
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

/// Connects, retrying with backoff, until it works or the rooms are dropped (`None`).
async fn connect(
    link: &Link,
    response_timeout: Duration,
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<()>,
    outage: &mut Option<Instant>,
    role: &str,
) -> Option<MultiplexedConnection> {
    let config = Link::config(response_timeout);
    loop {
        if !backoff.wait(stop).await {
            return None;
        }
        let attempt = link
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let error = tokio::select! {
            attempt = tokio::time::timeout(REDIS_TIMEOUT, attempt) => match attempt {
                Ok(Ok(connection)) => return Some(connection),
                Ok(Err(error)) => error.to_string(),
                Err(_) => "timed out".to_owned(),
            },
            _ = stop.changed() => return None,
        };
        if outage.is_none() {
            warn!(%error, role, "cannot reach Redis; retrying with backoff");
            *outage = Some(Instant::now());
        }
    }
}

/// Publishes the outbox and keeps this server's presence in Redis, reconnecting as needed,
/// until the rooms are dropped.
async fn publish_loop(link: Arc<Link>, rooms: Weak<Inner>, mut stop: watch::Receiver<()>) {
    let mut outage: Option<Instant> = None;
    let mut backoff = Backoff::new();
    let mut last_id: Option<EntryId> = None;
    loop {
        let Some(mut connection) = connect(
            &link,
            REDIS_TIMEOUT,
            &mut backoff,
            &mut stop,
            &mut outage,
            "publisher",
        )
        .await
        else {
            let waiting = link.lock_outbox().queue.len();
            if waiting > 0 {
                warn!(
                    waiting,
                    "the rooms stopped while Redis was unreachable: their last broadcasts never \
                     reached other servers"
                );
            }
            return;
        };
        *link.connection.lock().unwrap_or_else(|e| e.into_inner()) = Some(connection.clone());
        link.counters.publisher_up.store(true, Ordering::Relaxed);
        match outage.take() {
            Some(since) => warn!(
                down_for = ?since.elapsed(),
                waiting = link.lock_outbox().queue.len(),
                dropped = link.counters.dropped.load(Ordering::Relaxed),
                "publishing to Redis again: the broadcasts waiting in the outbox go out now"
            ),
            None => info!("connected to Redis"),
        }
        let every = link.presence_ttl / 3;
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let failure = 'connected: {
            // Whatever Redis holds of this server's presence may be stale or gone after an
            // outage: written whole once; from then on, changes and heartbeats keep it.
            if let Err(error) = write_presence(&link, &rooms, &mut connection).await {
                break 'connected error;
            }
            loop {
                let busy = !link.lock_outbox().queue.is_empty();
                // Unbiased: publishing and presence take turns when both have work.
                let result = tokio::select! {
                    _ = stop.changed() => {
                        flush(&link, &mut connection, &mut last_id).await;
                        return;
                    }
                    () = std::future::ready(()), if busy => {
                        let published = publish_batch(&link, &mut connection, &mut last_id).await;
                        // The connection works once broadcasts go through: no more backoff.
                        if published.is_ok() {
                            backoff.reset();
                        }
                        published
                    }
                    () = link.queued.notified(), if !busy => Ok(()),
                    () = link.changed.notified() => write_changes(&link, &rooms, &mut connection).await,
                    _ = heartbeat.tick() => {
                        let counters = &link.counters;
                        if let Some(total) = counters.dropped_warned.catch_up(&counters.dropped) {
                            warn_dropped(&link, total);
                        }
                        if let Some(total) = counters.oversized_warned.catch_up(&counters.oversized) {
                            warn_oversized(&link, total);
                        }
                        refresh_presence(&link, &rooms, &mut connection).await
                    }
                };
                if let Err(error) = result {
                    break 'connected error;
                }
                if !busy {
                    backoff.reset();
                }
            }
        };
        *link.connection.lock().unwrap_or_else(|e| e.into_inner()) = None;
        link.counters.publisher_up.store(false, Ordering::Relaxed);
        warn!(error = %failure, "lost the Redis connection (publisher); reconnecting");
        crate::metrics::backplane_reconnect("publisher");
        outage = Some(Instant::now());
    }
}

/// Appends the oldest broadcasts of the outbox to the stream, and removes them from the
/// outbox once Redis has them; on failure, the first that failed and those after it stay, to
/// be retried in order.
///
/// The batch goes in one `MULTI`/`EXEC`, so that entries never land out of order: a command
/// that Redis refuses while queuing it (out of memory, a read-only replica, ...) aborts the
/// whole batch, and an `EXEC` runs every `XADD` of it in one go. (Were a later `XADD` of the
/// batch to land after one that failed, readers would count the failed one as lost and drop
/// it as a duplicate when retried.) When the connection fails, whether the batch landed is
/// unknown: it is retried whole, and readers drop what they had read already.
async fn publish_batch(
    link: &Link,
    connection: &mut MultiplexedConnection,
    last_id: &mut Option<EntryId>,
) -> redis::RedisResult<()> {
    let batch = link.lock_outbox().batch();
    if batch.is_empty() {
        return Ok(());
    }
    // Trim to the retention window on Redis's clock: the time part of the last id it gave.
    let min_id = last_id.map(|id| {
        let retention = u64::try_from(link.retention.as_millis()).unwrap_or(u64::MAX);
        id.0.saturating_sub(retention)
    });
    let mut pipe = redis::pipe();
    pipe.atomic().ignore_errors();
    for (i, envelope) in batch.iter().enumerate() {
        let command = pipe.cmd("XADD").arg(&link.stream);
        // Trimming once per batch is enough: the last entry trims for all of them.
        if let Some(min_id) = min_id.filter(|_| i + 1 == batch.len()) {
            command.arg("MINID").arg("~").arg(min_id);
        }
        command.arg("*").arg("m").arg(envelope.as_ref());
        if let Some(tag) = link.tag(envelope) {
            command.arg("t").arg(&tag[..]);
        }
    }
    let results: Vec<redis::RedisResult<String>> = pipe.query_async(connection).await?;
    let mut landed = 0;
    let mut failure = None;
    for result in results {
        match result {
            Ok(id) => {
                landed += 1;
                if let Some(id) = EntryId::parse(&id) {
                    *last_id = Some(id);
                }
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    trace!(entries = landed, last = ?last_id, "appended to the stream");
    link.lock_outbox().remove(landed);
    link.counters
        .published
        .fetch_add(landed as u64, Ordering::Relaxed);
    crate::metrics::backplane_published(landed);
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// On the way out: publishes what is left in the outbox and removes this server's presence,
/// giving up on the first failure.
async fn flush(link: &Link, connection: &mut MultiplexedConnection, last_id: &mut Option<EntryId>) {
    let flush = async {
        while !link.lock_outbox().queue.is_empty() {
            publish_batch(link, connection, last_id).await?;
        }
        remove_presence(link, connection).await
    };
    let error = match tokio::time::timeout(REDIS_TIMEOUT, flush).await {
        Ok(Ok(())) => return,
        Ok(Err(error)) => error.to_string(),
        Err(_) => "timed out".to_owned(),
    };
    warn!(
        %error,
        waiting = link.lock_outbox().queue.len(),
        "the rooms stopped before their last broadcasts reached Redis"
    );
}

/// Rewrites this server's presence hash with every room's count, and its expiry: after every
/// (re)connect, and when the hash is found gone.
async fn write_presence(
    link: &Link,
    rooms: &Weak<Inner>,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<()> {
    link.dirty.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let Some(counts) = rooms.upgrade().map(|rooms| rooms.local_presence()) else {
        return Ok(());
    };
    let key = link.presence_key(&link.name);
    let counts: Vec<(String, usize)> = counts.into_iter().collect();
    let mut pipe = redis::pipe();
    pipe.atomic().del(&key).ignore();
    if !counts.is_empty() {
        pipe.hset_multiple(&key, &counts).ignore();
        pipe.pexpire(&key, presence_ttl_ms(link)).ignore();
    }
    pipe.sadd(&link.servers_key, &link.name).ignore();
    pipe.query_async::<()>(connection).await?;
    debug!(rooms = counts.len(), "presence written to Redis");
    Ok(())
}

/// The heartbeat: renews the expiry of this server's presence hash (`PEXPIRE`) and its place
/// in the servers set (`SADD`); changes keep the hash current, so it is rewritten whole only
/// when it is found gone (it expired, or Redis evicted or lost it) while rooms have members
/// here.
async fn refresh_presence(
    link: &Link,
    rooms: &Weak<Inner>,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<()> {
    let (held,): (bool,) = redis::pipe()
        .pexpire(link.presence_key(&link.name), presence_ttl_ms(link))
        .sadd(&link.servers_key, &link.name)
        .ignore()
        .query_async(connection)
        .await?;
    if held || !members_here(rooms) {
        return Ok(());
    }
    debug!("this server's presence hash is gone from Redis: writing it whole");
    write_presence(link, rooms, connection).await
}

/// Writes the counts of the rooms that changed since the last write (`HSET`, or `HDEL` for a
/// room with no member left here): absolute counts, so a retry never counts twice. When the
/// hash was gone before this write (no rooms here until now, or it expired), what this wrote
/// is followed by the whole hash.
async fn write_changes(
    link: &Link,
    rooms: &Weak<Inner>,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<()> {
    let changed = std::mem::take(&mut *link.dirty.lock().unwrap_or_else(|e| e.into_inner()));
    let Some(inner) = rooms.upgrade() else {
        return Ok(());
    };
    if changed.is_empty() {
        return Ok(());
    }
    let counts: Vec<(String, usize)> = {
        let registry = inner.read();
        changed
            .into_iter()
            .map(|room| {
                let count = registry.rooms.get(room.as_str()).map_or(0, HashMap::len);
                (room, count)
            })
            .collect()
    };
    drop(inner);
    let key = link.presence_key(&link.name);
    let mut pipe = redis::pipe();
    // Whether the hash was there before this write.
    pipe.pexpire(&key, presence_ttl_ms(link));
    for (room, count) in &counts {
        if *count == 0 {
            pipe.hdel(&key, room).ignore();
        } else {
            pipe.hset(&key, room, count).ignore();
        }
    }
    pipe.pexpire(&key, presence_ttl_ms(link)).ignore();
    pipe.sadd(&link.servers_key, &link.name).ignore();
    match pipe.query_async::<(bool,)>(connection).await {
        Ok((false,)) if members_here(rooms) => write_presence(link, rooms, connection).await,
        Ok(_) => Ok(()),
        Err(error) => {
            // Written in full after reconnecting.
            let mut dirty = link.dirty.lock().unwrap_or_else(|e| e.into_inner());
            dirty.extend(counts.into_iter().map(|(room, _)| room));
            Err(error)
        }
    }
}

/// Whether any room has members on this server.
fn members_here(rooms: &Weak<Inner>) -> bool {
    rooms
        .upgrade()
        .is_some_and(|rooms| !rooms.read().rooms.is_empty())
}

fn presence_ttl_ms(link: &Link) -> i64 {
    i64::try_from(link.presence_ttl.as_millis()).unwrap_or(i64::MAX)
}

async fn remove_presence(
    link: &Link,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<()> {
    redis::pipe()
        .del(link.presence_key(&link.name))
        .ignore()
        .srem(&link.servers_key, &link.name)
        .ignore()
        .query_async(connection)
        .await
}

/// A stream entry's id: milliseconds on Redis's clock, and a sequence within them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EntryId(u64, u64);

impl EntryId {
    const ZERO: EntryId = EntryId(0, 0);

    fn parse(id: &str) -> Option<EntryId> {
        let (ms, seq) = id.split_once('-')?;
        Some(EntryId(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// What a reader knows of the origins it hears from: the last sequence number of each.
#[derive(Default)]
struct Origins {
    seen: HashMap<u64, (u64, Instant)>,
}

/// What to do with an entry, by its origin's sequence number.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Deliver it; the number of broadcasts of that origin skipped before it.
    Deliver { missed: u64 },
    /// Seen already: drop it.
    Duplicate,
}

impl Origins {
    fn check(&mut self, server: u64, seq: u64, now: Instant) -> Verdict {
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
    fn forget(&mut self, after: Duration, now: Instant) {
        self.seen
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < after);
    }
}

/// Reads the stream and delivers other servers' broadcasts to this server's members, going
/// on from the last entry read after every reconnect, until the rooms are dropped.
async fn read_loop(link: Arc<Link>, rooms: Weak<Inner>, mut stop: watch::Receiver<()>) {
    let mut outage: Option<Instant> = None;
    let mut backoff = Backoff::new();
    // `None` until the first connection, which starts at the end of the stream.
    let mut last: Option<EntryId> = None;
    let mut origins = Origins::default();
    let mut forgotten_at = Instant::now();
    let forget_after = FORGET_ORIGINS.max(link.retention);
    loop {
        let Some(mut connection) = connect(
            &link,
            READ_BLOCK + REDIS_TIMEOUT,
            &mut backoff,
            &mut stop,
            &mut outage,
            "reader",
        )
        .await
        else {
            return;
        };
        let resumed = match last {
            None => stream_end(&link, &mut connection).await,
            Some(last) => resume_from(&link, &mut connection, last).await,
        };
        let from = match resumed {
            Ok(from) => last.insert(from),
            Err(error) => {
                warn!(%error, "lost the Redis connection (reader); reconnecting");
                crate::metrics::backplane_reconnect("reader");
                outage.get_or_insert_with(Instant::now);
                continue;
            }
        };
        link.counters.reader_up.store(true, Ordering::Relaxed);
        match outage.take() {
            Some(since) => warn!(
                down_for = ?since.elapsed(),
                from = %from,
                "reading the Redis stream again, from the last entry read"
            ),
            None => debug!(stream = %link.stream, from = %from, "reading the Redis stream"),
        }
        let failure = loop {
            let mut read = redis::cmd("XREAD");
            read.arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(u64::try_from(READ_BLOCK.as_millis()).unwrap_or(u64::MAX))
                .arg("STREAMS")
                .arg(&link.stream)
                .arg(from.to_string());
            let read = read.query_async::<Option<StreamReadReply>>(&mut connection);
            let reply = tokio::select! {
                reply = read => reply,
                _ = stop.changed() => return,
            };
            let reply = match reply {
                Ok(reply) => reply,
                Err(error) => break error,
            };
            backoff.reset();
            let Some(rooms) = rooms.upgrade() else { return };
            let now = Instant::now();
            for entry in reply
                .into_iter()
                .flat_map(|reply| reply.keys)
                .flat_map(|key| key.ids)
            {
                if let Some(id) = EntryId::parse(&entry.id) {
                    *from = id;
                }
                take_entry(&link, &rooms, &mut origins, entry.map, now);
            }
            let counters = &link.counters;
            if let Some(total) = counters.rejected_warned.catch_up(&counters.rejected) {
                warn_rejected(total);
            }
            if now.duration_since(forgotten_at) > forget_after / 60 {
                origins.forget(forget_after, now);
                forgotten_at = now;
            }
        };
        link.counters.reader_up.store(false, Ordering::Relaxed);
        warn!(error = %failure, "lost the Redis connection (reader); reconnecting");
        crate::metrics::backplane_reconnect("reader");
        outage = Some(Instant::now());
    }
}

/// The id of the stream's last entry, where a new reader starts (zero for no stream).
async fn stream_end(
    link: &Link,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<EntryId> {
    let reply: StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(&link.stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(connection)
        .await?;
    Ok(reply
        .ids
        .first()
        .and_then(|entry| EntryId::parse(&entry.id))
        .unwrap_or(EntryId::ZERO))
}

/// Where a reader that last read `last` goes on from, after a reconnect: `last` itself while
/// the stream still holds it; otherwise entries may be gone, which is counted and logged.
async fn resume_from(
    link: &Link,
    connection: &mut MultiplexedConnection,
    last: EntryId,
) -> redis::RedisResult<EntryId> {
    if last == EntryId::ZERO {
        return Ok(last);
    }
    let range = |start: String, end: String| {
        redis::cmd("XRANGE")
            .arg(&link.stream)
            .arg(start)
            .arg(end)
            .arg("COUNT")
            .arg(1)
            .clone()
    };
    let (held, first): (StreamRangeReply, StreamRangeReply) = redis::pipe()
        .add_command(range(last.to_string(), last.to_string()))
        .add_command(range("-".into(), "+".into()))
        .query_async(connection)
        .await?;
    if !held.ids.is_empty() {
        return Ok(last);
    }
    let gaps = link.counters.gaps.fetch_add(1, Ordering::Relaxed) + 1;
    let first = first
        .ids
        .first()
        .and_then(|entry| EntryId::parse(&entry.id));
    Ok(match first {
        Some(first) if first > last => {
            warn!(
                last = %last,
                first = %first,
                gaps,
                "the Redis stream no longer holds the last entry this server read (this \
                 server was away longer than the retention window, or Redis restarted \
                 without it): reading on; broadcasts found missing are counted as lost"
            );
            last
        }
        Some(first) => {
            warn!(
                last = %last,
                first = %first,
                gaps,
                "the Redis stream's ids went back (Redis was replaced, or its clock moved): \
                 reading it from its start, dropping what was delivered already"
            );
            EntryId::ZERO
        }
        None => {
            warn!(
                last = %last,
                gaps,
                "the Redis stream is gone (Redis restarted without persistence, or the key \
                 was deleted): reading it from its start; broadcasts found missing are \
                 counted as lost"
            );
            EntryId::ZERO
        }
    })
}

/// Checks, decodes and delivers one entry of the stream.
fn take_entry(
    link: &Link,
    rooms: &Inner,
    origins: &mut Origins,
    mut fields: HashMap<String, redis::Value>,
    now: Instant,
) {
    let counters = &link.counters;
    let bytes = |value: Option<redis::Value>| match value {
        Some(redis::Value::BulkString(bytes)) => Some(bytes),
        _ => None,
    };
    let envelope = bytes(fields.remove("m"));
    // This server's own entries are skipped before any check or copy: it delivered them to
    // its members already. (One forged with this server's id is skipped as well, uncounted.)
    if envelope.as_deref().and_then(origin) == Some(link.server) {
        return;
    }
    let tag = bytes(fields.remove("t"));
    let envelope = envelope
        .filter(|envelope| link.verify(envelope, tag.as_deref()))
        .and_then(|envelope| decode(Bytes::from(envelope)));
    let Some(envelope) = envelope else {
        let total = counters.rejected.fetch_add(1, Ordering::Relaxed) + 1;
        if counters.rejected_warned.due(total) {
            warn_rejected(total);
        }
        return;
    };
    let verdict = origins.check(envelope.server, envelope.seq, now);
    trace!(
        origin = %format_args!("{:016x}", envelope.server),
        seq = envelope.seq,
        ?verdict,
        "read from the stream"
    );
    match verdict {
        Verdict::Duplicate => {
            counters.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        Verdict::Deliver { missed } => {
            if missed > 0 {
                let total = counters.lost.fetch_add(missed, Ordering::Relaxed) + missed;
                warn!(
                    missed,
                    lost = total,
                    origin = %format_args!("{:016x}", envelope.server),
                    "broadcasts from another server never reached this one (past the \
                     retention window, or lost by Redis)"
                );
            }
            counters.received.fetch_add(1, Ordering::Relaxed);
            rooms.deliver(envelope.room.as_deref(), &envelope.message, None);
        }
    }
}

/// A broadcast as it travels between servers.
#[derive(Debug, PartialEq)]
struct Envelope {
    server: u64,
    seq: u64,
    room: Option<String>,
    message: Message,
}

/// The wire form of a broadcast, with sequence number 0 until the outbox numbers it; `None`
/// for a room name longer than [`MAX_ENVELOPE_ROOM`].
fn encode(server: u64, room: Option<&str>, message: &Message) -> Option<BytesMut> {
    let kind = if message.is_text() { b'T' } else { b'B' };
    let payload = message.as_bytes();
    let room_bytes = room.unwrap_or("").as_bytes();
    let room_len = u16::try_from(room_bytes.len()).ok()?;
    let mut out = BytesMut::with_capacity(HEADER + room_bytes.len() + payload.len());
    out.put_u8(VERSION);
    out.put_u8(kind);
    out.put_u8(if room.is_some() { b'R' } else { b'A' });
    out.put_u64(server);
    out.put_u64(0);
    out.put_u16(room_len);
    out.put_slice(room_bytes);
    out.put_slice(payload);
    Some(out)
}

/// The origin server's id of an envelope, read from its fixed header alone.
fn origin(envelope: &[u8]) -> Option<u64> {
    if envelope.first() != Some(&VERSION) {
        return None;
    }
    let server = envelope.get(3..SEQ_AT)?;
    Some(u64::from_be_bytes(server.try_into().ok()?))
}

/// The broadcast in an envelope; its payload shares the envelope's bytes (no copy).
fn decode(bytes: Bytes) -> Option<Envelope> {
    let (&[version, kind, scope], rest) = bytes.split_first_chunk::<3>()?;
    if version != VERSION {
        return None;
    }
    let (server, rest) = rest.split_first_chunk::<8>()?;
    let (seq, rest) = rest.split_first_chunk::<8>()?;
    let (room_len, rest) = rest.split_first_chunk::<2>()?;
    let room_len = usize::from(u16::from_be_bytes(*room_len));
    let room = rest.get(..room_len)?;
    let room = match scope {
        b'R' => Some(std::str::from_utf8(room).ok()?.to_owned()),
        b'A' => None,
        _ => return None,
    };
    let (server, seq) = (u64::from_be_bytes(*server), u64::from_be_bytes(*seq));
    let payload = bytes.slice(HEADER + room_len..);
    let message = match kind {
        b'T' => Message::text(Utf8Bytes::try_from(payload).ok()?),
        b'B' => Message::binary(payload),
        _ => return None,
    };
    Some(Envelope {
        server,
        seq,
        room,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(server: u64, seq: u64, room: Option<&str>, message: &Message) -> Vec<u8> {
        let mut outbox = Outbox {
            next_seq: seq - 1,
            ..Outbox::default()
        };
        let envelope = encode(server, room, message).unwrap();
        outbox.push(envelope, usize::MAX).unwrap();
        outbox.queue[0].to_vec()
    }

    #[test]
    fn an_envelope_survives_the_trip() {
        for (room, message) in [
            (Some("lobby"), Message::text("héllo")),
            (None, Message::binary(vec![0u8, 1, 2, 255])),
            (Some(""), Message::text("")),
        ] {
            let envelope = decode(numbered(42, 7, room, &message).into()).unwrap();
            assert_eq!(
                envelope,
                Envelope {
                    server: 42,
                    seq: 7,
                    room: room.map(str::to_owned),
                    message
                }
            );
        }
    }

    #[test]
    fn what_is_not_an_envelope_is_refused() {
        let good = numbered(7, 1, Some("room"), &Message::text("hi"));
        for cut in 0..HEADER + 4 {
            assert_eq!(
                decode(Bytes::copy_from_slice(&good[..cut])),
                None,
                "cut at {cut}"
            );
        }
        let mut wrong_version = good.clone();
        wrong_version[0] = 9;
        assert_eq!(decode(wrong_version.into()), None);
        let mut bad_utf8 = numbered(7, 1, None, &Message::binary(vec![0xff]));
        bad_utf8[1] = b'T';
        assert_eq!(decode(bad_utf8.into()), None);
        assert!(encode(7, Some(&"r".repeat(70_000)), &Message::text("hi")).is_none());
    }

    #[test]
    fn the_origin_is_read_from_the_header_alone() {
        let envelope = numbered(0x0102_0304_0506_0708, 1, Some("room"), &Message::text("hi"));
        assert_eq!(origin(&envelope), Some(0x0102_0304_0506_0708));
        assert_eq!(origin(&envelope[..SEQ_AT]), Some(0x0102_0304_0506_0708));
        assert_eq!(origin(&envelope[..SEQ_AT - 1]), None);
        let mut wrong_version = envelope.clone();
        wrong_version[0] = 9;
        assert_eq!(origin(&wrong_version), None);
        assert_eq!(origin(&[]), None);
    }

    #[test]
    fn a_decoded_payload_shares_the_envelope_s_bytes() {
        let envelope = Bytes::from(numbered(1, 1, Some("r"), &Message::binary(vec![7u8; 32])));
        let end = envelope.as_ptr_range().end;
        let Envelope { message, .. } = decode(envelope).unwrap();
        assert_eq!(message.as_bytes().as_ptr_range().end, end);
    }

    #[test]
    fn the_outbox_keeps_to_its_byte_budget_and_numbers_what_it_takes() {
        let message = Message::binary(vec![0u8; 100]);
        let cost = encode(1, Some("r"), &message).unwrap().len() + ENTRY_OVERHEAD;
        let mut outbox = Outbox::default();
        for _ in 0..3 {
            outbox
                .push(encode(1, Some("r"), &message).unwrap(), 3 * cost)
                .unwrap();
        }
        assert!(
            outbox
                .push(encode(1, Some("r"), &message).unwrap(), 3 * cost)
                .is_err()
        );
        assert_eq!(outbox.bytes, 3 * cost);
        let seqs: Vec<u64> = outbox
            .batch()
            .into_iter()
            .map(|envelope| decode(envelope).unwrap().seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        outbox.remove(2);
        assert_eq!(outbox.bytes, cost);
        // A refused broadcast took no number: the next one follows on.
        outbox
            .push(encode(1, Some("r"), &message).unwrap(), 3 * cost)
            .unwrap();
        assert_eq!(decode(outbox.queue[1].clone()).unwrap().seq, 4);
    }

    #[test]
    fn a_batch_keeps_to_its_bounds_but_always_takes_one() {
        let mut outbox = Outbox::default();
        let big = Message::binary(vec![0u8; BATCH_BYTES]);
        for _ in 0..2 {
            outbox
                .push(encode(1, None, &big).unwrap(), usize::MAX)
                .unwrap();
        }
        assert_eq!(outbox.batch().len(), 1);
        let mut outbox = Outbox::default();
        for _ in 0..BATCH_ENTRIES + 5 {
            outbox
                .push(encode(1, None, &Message::text("x")).unwrap(), usize::MAX)
                .unwrap();
        }
        assert_eq!(outbox.batch().len(), BATCH_ENTRIES);
    }

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

    #[test]
    fn entry_ids_order_by_time_then_sequence() {
        let id = |s| EntryId::parse(s).unwrap();
        assert!(id("1700000000000-0") < id("1700000000000-1"));
        assert!(id("1700000000000-9") < id("1700000000001-0"));
        assert_eq!(id("5-3").to_string(), "5-3");
        assert_eq!(EntryId::parse("5"), None);
        assert_eq!(EntryId::parse("a-1"), None);
    }

    fn link(secret: Option<&[u8]>, prefix: &str) -> Link {
        let settings = Settings {
            secret: secret.map(Secret::new),
            prefix: prefix.into(),
            ..Settings::default()
        };
        Prepared::new("redis://127.0.0.1:6379/", settings)
            .unwrap()
            .link
    }

    #[test]
    fn tags_check_the_secret_the_prefix_and_every_byte() {
        let envelope = numbered(1, 1, Some("room"), &Message::text("hi"));
        let signer = link(Some(b"s3cret"), "app");
        let tag = signer.tag(&envelope).unwrap();
        assert!(signer.verify(&envelope, Some(&tag)));
        assert!(!signer.verify(&envelope, None));
        assert!(!link(Some(b"other"), "app").verify(&envelope, Some(&tag)));
        assert!(!link(Some(b"s3cret"), "other-app").verify(&envelope, Some(&tag)));
        let mut tampered = envelope.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(!signer.verify(&tampered, Some(&tag)));
        // Without a secret, nothing is tagged and every entry passes.
        let open = link(None, "app");
        assert_eq!(open.tag(&envelope), None);
        assert!(open.verify(&envelope, None));
    }

    #[test]
    fn the_secret_is_never_printed() {
        let settings = Settings {
            secret: Some(Secret::new(b"hunter2")),
            ..Settings::default()
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
