//! What the Redis backplane's handle and its two tasks share: the client, this server's
//! identity and keys, the outbox, the rooms whose presence is due, and the counters.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::connection::{Connection, Target};
use tokio::sync::{Notify, watch};

use super::counters::Counters;
use super::interest::Interest;
use super::outbox::Outbox;
use super::settings::RedisSettings;
use super::signing::Signer;
use super::streams::Keys;
use crate::rooms::backplane::LocalRooms;

/// The partitions on a Redis Cluster unless set: enough to spread over the masters of a
/// common cluster.
const CLUSTER_PARTITIONS: u16 = 16;

/// How long one Redis command or connection attempt may take.
pub(super) const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// What the backplane's handle and its two tasks (the publisher and the reader) share.
pub(super) struct Shared {
    /// One Redis, or a cluster.
    pub(super) target: Target,
    /// This server's id: random, so that restarts and other processes never collide.
    pub(super) server: u64,
    /// The id as Redis keys and the servers set name it.
    pub(super) name: String,
    /// The partitions, and the names of the keys.
    pub(super) keys: Keys,
    /// The settings of [`RedisSettings`] the tasks read.
    pub(super) presence_ttl: Duration,
    pub(super) retention: Duration,
    pub(super) outbox_bytes: usize,
    pub(super) max_message: usize,
    /// Tags the envelopes this server publishes, and checks those it reads.
    pub(super) signer: Signer,
    /// The publisher's connection while it is up, cloned for presence queries.
    pub(super) connection: Mutex<Option<Connection>>,
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
    /// How many readers of the shared streams know where they read from: until all do, the
    /// publisher publishes nothing, so that no reader starts past this server's own first
    /// broadcasts (those to rooms with history reach members only when read back).
    pub(super) reading: watch::Sender<usize>,
    /// The rooms this backplane serves, once started.
    pub(super) rooms: OnceLock<Weak<dyn LocalRooms>>,
    /// The interest streams this server has a reason to read, and the nudge when that changes.
    pub(super) interest: Mutex<Interest>,
    pub(super) interest_changed: Notify,
}

impl Shared {
    /// What the backplane on `target` shares, with a random id for this server.
    pub(super) fn new(target: Target, settings: &RedisSettings) -> Self {
        let prefix = &settings.prefix;
        let server = RandomState::new().hash_one(Instant::now());
        let partitions = settings.partitions.unwrap_or(if target.is_cluster() {
            CLUSTER_PARTITIONS
        } else {
            1
        });
        Shared {
            target,
            server,
            name: format!("{server:016x}"),
            keys: Keys::new(prefix, partitions),
            signer: Signer::new(settings.secret.as_ref(), prefix),
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
            reading: watch::Sender::new(0),
            rooms: OnceLock::new(),
            interest: Mutex::default(),
            interest_changed: Notify::new(),
        }
    }

    pub(super) fn lock_outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_connection(&self) -> MutexGuard<'_, Option<Connection>> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_dirty(&self) -> MutexGuard<'_, HashSet<String>> {
        self.dirty.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `read` says of the rooms this backplane serves; `false` once they are gone.
    pub(super) fn local(&self, read: impl FnOnce(&dyn LocalRooms) -> bool) -> bool {
        self.rooms
            .get()
            .and_then(Weak::upgrade)
            .is_some_and(|local| read(&*local))
    }

    pub(super) fn lock_interest(&self) -> MutexGuard<'_, Interest> {
        self.interest.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_written(&self) -> MutexGuard<'_, HashMap<String, HashSet<u64>>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }
}
