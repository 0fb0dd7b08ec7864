//! The Redis backplane of [`Rooms`](super::Rooms): broadcasts travel between servers on one
//! pub/sub channel, and each server keeps its room counts in a hash that expires without a
//! heartbeat.
//!
//! Keys and channel, under the prefix `P` (default `ws-routes`):
//!
//! | name | what |
//! |---|---|
//! | `P:broadcast` | the channel every server publishes its broadcasts on and listens to |
//! | `P:servers` | a set of server ids; a server re-adds itself on every heartbeat |
//! | `P:presence:ID` | a hash of room name to member count on server `ID`, expiring after the presence TTL |
//!
//! A broadcast is one message on the channel: a version byte, the kind (`T` text, `B` binary),
//! the scope (`R` one room, `A` every member), the origin server's id (8 bytes, big-endian),
//! the room's length (2 bytes, big-endian), the room, then the payload. A server ignores its
//! own broadcasts: it delivered them to its members already, without the round trip.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{debug, info, warn};

use super::Inner;
use crate::error::Error;
use crate::wire::{Message, Utf8Bytes};

/// The envelope format's version.
const VERSION: u8 = 1;
/// Broadcasts waiting to be published; more are dropped (and counted) while Redis is slow or
/// unreachable.
const OUTBOX: usize = 1024;
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long one Redis command or connection attempt may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// The backplane's settings, from [`RoomsBuilder`](super::RoomsBuilder).
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) url: String,
    pub(super) prefix: String,
    pub(super) presence_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            url: "redis://127.0.0.1:6379/".into(),
            prefix: "ws-routes".into(),
            presence_ttl: Duration::from_secs(15),
        }
    }
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
    channel: String,
    servers_key: String,
    prefix: String,
    presence_ttl: Duration,
    /// The publisher's connection while it is up, cloned for presence queries.
    connection: Mutex<Option<MultiplexedConnection>>,
    /// Broadcasts that could not be published since the last report.
    unpublished: AtomicU64,
}

/// The running backplane, owned by the rooms: dropping it stops its tasks.
pub(super) struct Backplane {
    link: Arc<Link>,
    outbox: mpsc::Sender<Bytes>,
    changed: Arc<Notify>,
    /// Dropped with the rooms, which tells the subscriber to stop.
    _stop: watch::Sender<()>,
}

impl Prepared {
    pub(super) fn new(settings: Settings) -> Result<Self, Error> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|error| Error::Backplane(format!("invalid Redis URL: {error}")))?;
        let prefix = settings.prefix;
        let server = RandomState::new().hash_one(Instant::now());
        Ok(Prepared {
            link: Link {
                client,
                server,
                name: format!("{server:016x}"),
                channel: format!("{prefix}:broadcast"),
                servers_key: format!("{prefix}:servers"),
                prefix,
                presence_ttl: settings.presence_ttl.max(Duration::from_millis(30)),
                connection: Mutex::new(None),
                unpublished: AtomicU64::new(0),
            },
        })
    }

    /// Starts the publisher and the subscriber tasks for `rooms`.
    pub(super) fn start(self, rooms: Weak<Inner>) -> Backplane {
        let link = Arc::new(self.link);
        let (outbox, queued) = mpsc::channel(OUTBOX);
        let changed = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(());
        tokio::spawn(publish_loop(
            Arc::clone(&link),
            rooms.clone(),
            queued,
            Arc::clone(&changed),
        ));
        tokio::spawn(subscribe_loop(Arc::clone(&link), rooms, stopped));
        Backplane {
            link,
            outbox,
            changed,
            _stop: stop,
        }
    }
}

impl Backplane {
    /// Hands a broadcast to the publisher, without waiting.
    pub(super) fn publish(&self, room: Option<&str>, message: &Message) {
        let Some(envelope) = encode(self.link.server, room, message) else {
            return;
        };
        if self.outbox.try_send(envelope).is_err()
            && self.link.unpublished.fetch_add(1, Ordering::Relaxed) == 0
        {
            warn!("the Redis outbox is full: broadcasts are not reaching other servers");
        }
    }

    /// Asks the publisher to rewrite this server's presence.
    pub(super) fn presence_changed(&self) {
        self.changed.notify_one();
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
            .expect("connection lock")
            .clone()
            .ok_or_else(|| Error::Backplane("Redis is unreachable".into()))
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
            .field("channel", &self.link.channel)
            .field(
                "connected",
                &self.link.connection.lock().is_ok_and(|c| c.is_some()),
            )
            .finish()
    }
}

impl Link {
    fn presence_key(&self, server: &str) -> String {
        format!("{}:presence:{server}", self.prefix)
    }

    fn config() -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
    }
}

fn backplane_error(error: redis::RedisError) -> Error {
    Error::Backplane(error.to_string())
}

/// Publishes the outbox and keeps this server's presence in Redis, reconnecting as needed,
/// until the rooms are dropped.
async fn publish_loop(
    link: Arc<Link>,
    rooms: Weak<Inner>,
    mut outbox: mpsc::Receiver<Bytes>,
    changed: Arc<Notify>,
) {
    let mut outage: Option<Instant> = None;
    let heartbeat_every = link.presence_ttl / 3;
    loop {
        let mut backoff = FIRST_BACKOFF;
        let mut connection = loop {
            match link
                .client
                .get_multiplexed_async_connection_with_config(&Link::config())
                .await
            {
                Ok(connection) => break connection,
                Err(error) => {
                    if outbox.is_closed() {
                        return;
                    }
                    if outage.is_none() {
                        warn!(%error, "cannot reach Redis; retrying with backoff");
                        outage = Some(Instant::now());
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        match outage.take() {
            Some(since) => warn!(
                down_for = ?since.elapsed(),
                unpublished = link.unpublished.swap(0, Ordering::Relaxed),
                "publishing to Redis again: broadcasts queued meanwhile go out now; the \
                 unpublished ones never reached other servers"
            ),
            None => info!(server = %link.name, "connected to Redis"),
        }
        *link.connection.lock().expect("connection lock") = Some(connection.clone());
        let mut heartbeat = tokio::time::interval(heartbeat_every);
        let failure = loop {
            let result = tokio::select! {
                envelope = outbox.recv() => match envelope {
                    Some(envelope) => publish(&link, &mut connection, envelope).await,
                    None => {
                        // The rooms are gone: so is this server's presence.
                        let _ = remove_presence(&link, &mut connection).await;
                        return;
                    }
                },
                () = changed.notified() => write_presence(&link, &rooms, &mut connection).await,
                _ = heartbeat.tick() => write_presence(&link, &rooms, &mut connection).await,
            };
            if let Err(error) = result {
                break error;
            }
        };
        *link.connection.lock().expect("connection lock") = None;
        warn!(error = %failure, "lost the Redis connection (publisher); reconnecting");
        outage = Some(Instant::now());
    }
}

async fn publish(
    link: &Link,
    connection: &mut MultiplexedConnection,
    envelope: Bytes,
) -> redis::RedisResult<()> {
    let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
        .arg(&link.channel)
        .arg(envelope.as_ref())
        .query_async(connection)
        .await;
    if published.is_err() {
        link.unpublished.fetch_add(1, Ordering::Relaxed);
    }
    published.map(drop)
}

/// Replaces this server's presence hash with its current room counts.
async fn write_presence(
    link: &Link,
    rooms: &Weak<Inner>,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<()> {
    let Some(counts) = rooms.upgrade().map(|rooms| rooms.local_presence()) else {
        return Ok(());
    };
    let name = &link.name;
    let key = link.presence_key(name);
    let counts: Vec<(String, usize)> = counts.into_iter().collect();
    let mut pipe = redis::pipe();
    pipe.atomic().del(&key).ignore();
    if !counts.is_empty() {
        let ttl = i64::try_from(link.presence_ttl.as_millis()).unwrap_or(i64::MAX);
        pipe.hset_multiple(&key, &counts).ignore();
        pipe.pexpire(&key, ttl).ignore();
    }
    pipe.sadd(&link.servers_key, name).ignore();
    pipe.query_async::<()>(connection).await?;
    debug!(rooms = counts.len(), "presence written to Redis");
    Ok(())
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

/// Listens to the broadcast channel and delivers other servers' broadcasts to this server's
/// members, resubscribing after every failure, until the rooms are dropped.
async fn subscribe_loop(link: Arc<Link>, rooms: Weak<Inner>, mut stop: watch::Receiver<()>) {
    let mut outage: Option<Instant> = None;
    loop {
        let mut backoff = FIRST_BACKOFF;
        let mut pubsub = loop {
            let attempt = async {
                let mut pubsub = link.client.get_async_pubsub().await?;
                pubsub.subscribe(&link.channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let failure = tokio::select! {
                attempt = tokio::time::timeout(REDIS_TIMEOUT, attempt) => match attempt {
                    Ok(Ok(pubsub)) => break pubsub,
                    Ok(Err(error)) => error.to_string(),
                    Err(_) => "timed out".to_owned(),
                },
                _ = stop.changed() => return,
            };
            if outage.is_none() {
                warn!(error = %failure, "cannot subscribe to Redis; retrying with backoff");
                outage = Some(Instant::now());
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        match outage.take() {
            Some(since) => warn!(
                down_for = ?since.elapsed(),
                "subscribed to Redis again: broadcasts other servers published while the \
                 subscription was down did not reach this server's members"
            ),
            None => debug!(channel = %link.channel, "subscribed to Redis"),
        }
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { break };
                    let Some(rooms) = rooms.upgrade() else { return };
                    match decode(message.get_payload_bytes()) {
                        Some(envelope) if envelope.server == link.server => {}
                        Some(envelope) => {
                            rooms.deliver(envelope.room.as_deref(), &envelope.message, None);
                        }
                        None => warn!("ignored a malformed broadcast from Redis"),
                    }
                }
                _ = stop.changed() => return,
            }
        }
        warn!("lost the Redis subscription; resubscribing");
        outage = Some(Instant::now());
    }
}

/// A broadcast as it travels between servers.
#[derive(Debug, PartialEq)]
struct Envelope {
    server: u64,
    room: Option<String>,
    message: Message,
}

/// The wire form of a broadcast; `None` for what is not broadcast (control frames, a room
/// name over 64 KiB).
fn encode(server: u64, room: Option<&str>, message: &Message) -> Option<Bytes> {
    let (kind, payload) = match message {
        Message::Text(text) => (b'T', text.as_bytes()),
        Message::Binary(data) => (b'B', &data[..]),
    };
    let room_bytes = room.unwrap_or("").as_bytes();
    let room_len = u16::try_from(room_bytes.len()).ok()?;
    let mut out = BytesMut::with_capacity(13 + room_bytes.len() + payload.len());
    out.put_u8(VERSION);
    out.put_u8(kind);
    out.put_u8(if room.is_some() { b'R' } else { b'A' });
    out.put_u64(server);
    out.put_u16(room_len);
    out.put_slice(room_bytes);
    out.put_slice(payload);
    Some(out.freeze())
}

fn decode(bytes: &[u8]) -> Option<Envelope> {
    let (&[version, kind, scope], rest) = bytes.split_first_chunk::<3>()?;
    if version != VERSION {
        return None;
    }
    let (server, rest) = rest.split_first_chunk::<8>()?;
    let (room_len, rest) = rest.split_first_chunk::<2>()?;
    let room_len = usize::from(u16::from_be_bytes(*room_len));
    if rest.len() < room_len {
        return None;
    }
    let (room, payload) = rest.split_at(room_len);
    let room = match scope {
        b'R' => Some(std::str::from_utf8(room).ok()?.to_owned()),
        b'A' => None,
        _ => return None,
    };
    let payload = Bytes::copy_from_slice(payload);
    let message = match kind {
        b'T' => Message::Text(Utf8Bytes::try_from(payload).ok()?),
        b'B' => Message::Binary(payload),
        _ => return None,
    };
    Some(Envelope {
        server: u64::from_be_bytes(*server),
        room,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_survives_the_trip() {
        for (room, message) in [
            (Some("lobby"), Message::text("héllo")),
            (None, Message::binary(vec![0u8, 1, 2, 255])),
            (Some(""), Message::text("")),
        ] {
            let bytes = encode(42, room, &message).unwrap();
            let envelope = decode(&bytes).unwrap();
            assert_eq!(
                envelope,
                Envelope {
                    server: 42,
                    room: room.map(str::to_owned),
                    message
                }
            );
        }
    }

    #[test]
    fn what_is_not_an_envelope_is_refused() {
        let good = encode(7, Some("room"), &Message::text("hi")).unwrap();
        for cut in 0..13 + 4 {
            assert_eq!(decode(&good[..cut]), None, "cut at {cut}");
        }
        let mut wrong_version = good.to_vec();
        wrong_version[0] = 9;
        assert_eq!(decode(&wrong_version), None);
        let bad_utf8 = encode(7, None, &Message::binary(vec![0xff])).unwrap();
        let mut bad_utf8 = bad_utf8.to_vec();
        bad_utf8[1] = b'T';
        assert_eq!(decode(&bad_utf8), None);
    }
}
