//! The Redis backplane of [`Rooms`](crate::Rooms): broadcasts travel between servers on Redis
//! streams that each server reads from the last entry it saw (one stream that every server
//! reads whole by default; with [partitions](crate::rooms::RoomsBuilder::redis_partitions),
//! shared streams that every server reads and interest streams that a server reads while it
//! serves one of their rooms or users: [`streams`]), and each server keeps its room counts in
//! a hash that expires without a heartbeat.
//!
//! Keys, under the prefix `P` (default `ws-routes`):
//!
//! | name | what |
//! |---|---|
//! | `P:stream` | the stream of broadcasts: every server appends to it and reads all of it (with partitions, `{P:sI}:stream` and `{P:iI}:stream`, and the other keys under `{P}`, [`streams`]) |
//! | `P:servers` | a set of server ids; a server re-adds itself on every heartbeat |
//! | `P:presence:ID` | a hash of room name to member count on server `ID`, expiring after the presence TTL |
//! | `P:who:ROOM` | a hash of the presence entries in a room, field `ID:CONNECTION` ([`presence`]) |
//! | `P:history:ROOM` | a room with history's epoch, last offset and, per origin, last numbered sequence number ([`numbering`]) |
//!
//! One concern a file: the [`envelope`] a broadcast travels in and its [`signing`]; the
//! [`outbox`] where broadcasts wait for Redis; the [`publisher`] that appends them to the
//! stream (whose [`entry_id`]s trim it), [`numbering`] those to rooms with history, and keeps
//! this server's [`presence`]; a [`reader`] per stream read,
//! which drops what it saw already ([`origins`]), kept for the interest streams by
//! [`interest`]; the [`link`] each of those tasks keeps to Redis; the [`counters`] behind
//! [`BackplaneStats`]; the [`settings`] from the builder; and
//! what the tasks and the handle [`shared`].
//!
//! # Delivery
//!
//! A broadcast is delivered to this server's members at once, then queued in a bounded outbox
//! (by bytes: [`redis_outbox_bytes`](crate::rooms::RoomsBuilder::redis_outbox_bytes)) and appended to
//! the stream with `XADD`, trimmed with `MINID ~` to the retention window
//! ([`redis_retention`](crate::rooms::RoomsBuilder::redis_retention)) measured on Redis's own clock.
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
//! then) reads from the end of the stream, and publishes nothing before its reader knows where
//! that end is, so that it reads back its own first broadcasts to rooms with history.
//!
//! Every broadcast carries its origin server's id and a sequence number that the origin
//! assigns when the broadcast enters its outbox, one sequence per stream. A reader drops an
//! entry whose number it has seen already from that origin (a retried batch whose first
//! attempt had landed, or a replay), which keeps delivery exactly-once and in order per
//! origin and stream (and so per room), and
//! counts a jump in the numbers as that many lost broadcasts. A server ignores its own
//! entries: it delivered them to its members already, without the round trip. All but those
//! to rooms with history: the rooms deliver those once Redis has numbered them, on every
//! server, this one too.
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
//!   is larger than [`redis_max_message`](crate::rooms::RoomsBuilder::redis_max_message) (delivered
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
//! [`redis_secret`](crate::rooms::RoomsBuilder::redis_secret) so that every entry carries an
//! HMAC-SHA256 tag: entries with a missing or wrong tag are dropped, counted as `rejected`
//! and logged. A tagged entry replayed into the stream is dropped as a duplicate by every
//! server that has heard from its origin in the last hour (the sequence numbers).
//!
//! # Wire format
//!
//! An entry has the field `m`, the [`envelope`], and with a secret the field `t`, the 32-byte
//! HMAC-SHA256 of the prefix followed by the envelope; one to a room with history has its
//! position too, `e` (epoch) and `o` (offset), which the tag does not cover.

mod connection;
mod counters;
mod entry_id;
mod envelope;
mod interest;
mod link;
mod numbering;
mod origins;
mod outbox;
mod presence;
mod publisher;
mod reader;
mod settings;
mod shared;
mod signing;
mod streams;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Weak};

use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tracing::{Instrument, info_span};

use self::connection::Target;
use self::interest::Reason;
use self::publisher::Publisher;
use self::reader::Reader;
use self::shared::Shared;
use super::stats::BackplaneStats;
use super::{Backplane, Broadcast, Entry, LocalRooms};
use crate::error::Error;

pub(crate) use self::settings::RedisSettings;
pub(crate) use self::signing::Secret;

/// The Redis backplane, owned by the rooms: dropping it stops its tasks (the publisher first
/// flushes its outbox and removes this server's presence, if Redis is up).
pub(crate) struct RedisBackplane {
    shared: Arc<Shared>,
    /// Dropped with the rooms, which tells the tasks to stop.
    stop: watch::Sender<()>,
}

impl RedisBackplane {
    /// The backplane on the Redis or the cluster that `settings` name (checked here); it
    /// connects once started. `None` when they name neither.
    pub(crate) fn new(settings: &RedisSettings) -> Result<Option<Self>, Error> {
        let target = match (&settings.url, settings.cluster.as_slice()) {
            (_, [_, ..]) => Target::cluster(&settings.cluster)?,
            (Some(url), []) => Target::single(url)?,
            (None, []) => return Ok(None),
        };
        Ok(Some(RedisBackplane {
            shared: Arc::new(Shared::new(target, settings)),
            stop: watch::Sender::new(()),
        }))
    }
}

impl Backplane for RedisBackplane {
    fn max_room_name(&self) -> usize {
        envelope::MAX_ROOM
    }

    /// Starts the publisher, a reader per shared stream and the task that keeps a reader per
    /// interest stream (which needs a Tokio runtime).
    fn start(&self, local: Weak<dyn LocalRooms>) {
        let shared = &self.shared;
        let _ = shared.rooms.set(local.clone());
        let span = info_span!("backplane", server = %shared.name);
        let publisher = Publisher::new(local.clone());
        tokio::spawn(
            link::keep_up(Arc::clone(shared), publisher, self.stop.subscribe())
                .instrument(span.clone()),
        );
        for stream in shared.keys.shared_streams() {
            let reader = Reader::new(shared, local.clone(), stream, None);
            tokio::spawn(
                link::keep_up(Arc::clone(shared), reader, self.stop.subscribe())
                    .instrument(info_span!("backplane", server = %shared.name, %stream)),
            );
        }
        tokio::spawn(
            interest::keep_readers(Arc::clone(shared), local, self.stop.subscribe())
                .instrument(span),
        );
    }

    fn numbers(&self) -> bool {
        true
    }

    fn publish(&self, broadcast: &Broadcast<'_>) -> bool {
        publisher::enqueue(&self.shared, broadcast)
    }

    fn room_changed(&self, room: &str) {
        presence::mark_changed(&self.shared, room);
        let holds = self
            .shared
            .local(|local| local.count(room) > 0 && !local.has_history(room));
        interest::update(&self.shared, Reason::Room(room.to_owned()), holds);
    }

    fn user_changed(&self, user: &str) {
        let holds = self.shared.local(|local| local.user_connections(user) > 0);
        interest::update(&self.shared, Reason::User(user.to_owned()), holds);
    }

    fn watch_changed(&self, room: &str) {
        let holds = self.shared.local(|local| local.watched(room));
        interest::update(&self.shared, Reason::Watched(room.to_owned()), holds);
    }

    fn remote_count<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<usize, Error>> {
        Box::pin(presence::remote_count(&self.shared, room))
    }

    fn remote_presence(&self) -> BoxFuture<'_, Result<BTreeMap<String, usize>, Error>> {
        Box::pin(presence::remote_presence(&self.shared))
    }

    fn remote_entries<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, Error>> {
        Box::pin(presence::remote_entries(&self.shared, room))
    }

    fn server_name(&self) -> &str {
        &self.shared.name
    }

    fn presence_recheck(&self) -> Option<std::time::Duration> {
        Some(self.shared.presence_ttl / 3)
    }

    fn stats(&self) -> Option<BackplaneStats> {
        let waiting = self.shared.lock_outbox().len();
        Some(self.shared.counters.snapshot(waiting))
    }
}

impl fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("server", &self.shared.name)
            .field("keys", &self.shared.keys)
            .field("stats", &self.stats())
            .finish()
    }
}
