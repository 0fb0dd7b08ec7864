//! What the Redis backplane's handle and its two tasks share: the client, this server's
//! identity and keys, the outbox, the rooms whose presence is due, and the counters.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::{Notify, watch};

use super::counters::Counters;
use super::outbox::Outbox;
use super::settings::RedisSettings;
use super::signing::Signer;
use crate::error::BackplaneError;

/// How long one Redis command or connection attempt may take.
pub(super) const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// What the backplane's handle and its two tasks (the publisher and the reader) share.
pub(super) struct Shared {
    pub(super) client: redis::Client,
    /// This server's id: random, so that restarts and other processes never collide.
    pub(super) server: u64,
    /// The id as Redis keys and the servers set name it.
    pub(super) name: String,
    /// The keys of the stream of broadcasts and of the set of live servers, and the prefix of
    /// the presence hashes' keys.
    pub(super) stream: String,
    pub(super) servers_key: String,
    pub(super) prefix: String,
    /// The settings of [`RedisSettings`] the tasks read.
    pub(super) presence_ttl: Duration,
    pub(super) retention: Duration,
    pub(super) outbox_bytes: usize,
    pub(super) max_message: usize,
    /// Tags the envelopes this server publishes, and checks those it reads.
    pub(super) signer: Signer,
    /// The publisher's connection while it is up, cloned for presence queries.
    pub(super) connection: Mutex<Option<MultiplexedConnection>>,
    /// Broadcasts waiting for the publisher.
    pub(super) outbox: Mutex<Outbox>,
    /// A broadcast entered the outbox.
    pub(super) queued: Notify,
    /// Rooms whose count changed since presence was last written.
    pub(super) dirty: Mutex<HashSet<String>>,
    /// A room's count changed.
    pub(super) changed: Notify,
    /// Room to the connections whose presence entries this server wrote there.
    pub(super) written: Mutex<HashMap<String, HashSet<u64>>>,
    /// What the backplane has done, for [`BackplaneStats`](super::BackplaneStats).
    pub(super) counters: Counters,
    /// Whether the reader knows where it reads from: until then the publisher publishes
    /// nothing, so that the reader does not start past this server's own first broadcasts
    /// (those to rooms with history reach members only when read back).
    pub(super) reading: watch::Sender<bool>,
}

impl Shared {
    /// What the backplane on Redis at `url` shares, with a random id for this server; fails
    /// on a URL Redis's client cannot use.
    pub(super) fn new(url: &str, settings: &RedisSettings) -> Result<Self, BackplaneError> {
        let client = redis::Client::open(url)
            .map_err(|error| BackplaneError::InvalidUrl(Box::new(error)))?;
        let prefix = &settings.prefix;
        let server = RandomState::new().hash_one(Instant::now());
        Ok(Shared {
            client,
            server,
            name: format!("{server:016x}"),
            stream: format!("{prefix}:stream"),
            servers_key: format!("{prefix}:servers"),
            signer: Signer::new(settings.secret.as_ref(), prefix),
            prefix: prefix.clone(),
            presence_ttl: settings.presence_ttl.max(Duration::from_millis(30)),
            retention: settings.retention,
            outbox_bytes: settings.outbox_bytes,
            max_message: settings.max_message,
            connection: Mutex::new(None),
            outbox: Mutex::default(),
            queued: Notify::new(),
            dirty: Mutex::default(),
            changed: Notify::new(),
            written: Mutex::default(),
            counters: Counters::default(),
            reading: watch::Sender::new(false),
        })
    }

    pub(super) fn lock_outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_connection(&self) -> MutexGuard<'_, Option<MultiplexedConnection>> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_dirty(&self) -> MutexGuard<'_, HashSet<String>> {
        self.dirty.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_written(&self) -> MutexGuard<'_, HashMap<String, HashSet<u64>>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key of the hash of `room`'s presence entries, on every server.
    pub(super) fn entries_key(&self, room: &str) -> String {
        format!("{}:who:{room}", self.prefix)
    }

    /// The key of server `server`'s presence hash.
    pub(super) fn presence_key(&self, server: &str) -> String {
        format!("{}:presence:{server}", self.prefix)
    }
}
