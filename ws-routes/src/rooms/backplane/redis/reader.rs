//! A reader: reads one stream from the last entry it saw, checks and decodes each entry,
//! drops what it delivered already, and delivers other servers' broadcasts to this server's
//! members, and every broadcast that Redis numbered (this server's too) at its position.
//! Every server reads each shared stream for as long as it runs, and an interest stream while
//! it has a reason to ([`streams`](super::streams)).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamRangeReply, StreamReadReply};
use tracing::{debug, trace, warn};

use super::counters::warn_rejected;
use super::entry_id::EntryId;
use super::envelope;
use super::link::{Ended, Link, Upkeep};
use super::origins::{Origins, Verdict};
use super::shared::{REDIS_TIMEOUT, Shared};
use super::streams::Stream;
use crate::rooms::Position;
use crate::rooms::backplane::LocalRooms;

/// How long one `XREAD` waits for new entries.
const READ_BLOCK: Duration = Duration::from_secs(1);
/// How much earlier than the first reason to read it a new interest stream is read from.
const START_MARGIN: Duration = Duration::from_millis(5);
/// The most entries one `XREAD` returns.
const READ_COUNT: usize = 64;
/// How long a reader remembers the sequence number of an origin it no longer hears from (or
/// the retention window, if longer).
const FORGET_ORIGINS: Duration = Duration::from_secs(3600);

/// A reader's link: reads its stream and delivers other servers' broadcasts to this
/// server's members, going on from the last entry read after every reconnect.
pub(super) struct Reader {
    shared: Arc<Shared>,
    rooms: Weak<dyn LocalRooms>,
    stream: Stream,
    /// The stream's key.
    key: String,
    /// When this server began to need the stream, for an interest stream: it starts at the
    /// entries appended since. `None` for a shared stream, read from its end when the reader
    /// first connects.
    since: Option<Instant>,
    /// Whether it is connected now.
    up: bool,
    /// On a cluster, the node that holds the stream, once a redirection named it.
    node: Option<String>,
    /// The id of the last entry read; `None` until the first connection.
    last: Option<EntryId>,
    origins: Origins,
    /// When the origins not heard from for [`forget_after`](Self::forget_after) were last
    /// forgotten.
    forgotten_at: Instant,
    forget_after: Duration,
}

impl Reader {
    /// The reader of `stream`; see [`since`](Self::since).
    pub(super) fn new(
        shared: &Arc<Shared>,
        rooms: Weak<dyn LocalRooms>,
        stream: Stream,
        since: Option<Instant>,
    ) -> Self {
        shared.counters.readers.fetch_add(1, Ordering::Relaxed);
        Reader {
            key: shared.keys.stream(stream),
            shared: Arc::clone(shared),
            rooms,
            stream,
            since,
            up: false,
            node: None,
            last: None,
            origins: Origins::default(),
            forgotten_at: Instant::now(),
            forget_after: FORGET_ORIGINS.max(shared.retention),
        }
    }
}

impl Reader {
    /// How a command's failure ends the connection's work: a cluster that says the stream
    /// is on another node (`MOVED`) sends the reader there at once.
    fn failed(&mut self, error: redis::RedisError) -> Ended {
        let moved = error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::Moved);
        match error.redirect_node() {
            Some((node, _)) if moved => {
                self.node = Some(node.to_owned());
                Ended::Redirected
            }
            _ => {
                // The node may be gone (a failover): the seeds say who holds the stream now.
                self.node = None;
                Ended::Failed(error)
            }
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let counters = &self.shared.counters;
        counters.readers.fetch_sub(1, Ordering::Relaxed);
        if self.up {
            counters.readers_up.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Link for Reader {
    const NAME: &'static str = "reader";
    const RESPONSE_TIMEOUT: Duration = READ_BLOCK.saturating_add(REDIS_TIMEOUT);
    type Connection = MultiplexedConnection;

    async fn connect(
        &self,
        shared: &Shared,
        attempt: usize,
    ) -> redis::RedisResult<MultiplexedConnection> {
        // A node that refused a connection may be gone: the seeds, from the second attempt.
        let node = self.node.as_deref().filter(|_| attempt == 0);
        shared
            .target
            .connect_reader(node, attempt, Self::RESPONSE_TIMEOUT)
            .await
    }

    async fn serve(
        &mut self,
        shared: &Shared,
        mut connection: MultiplexedConnection,
        upkeep: &mut Upkeep,
    ) -> Ended {
        let resumed = match (self.last, self.since) {
            (None, None) => stream_end(&self.key, &mut connection).await,
            (None, Some(since)) => appended_since(since, &mut connection).await,
            (Some(last), _) => resume_from(shared, &self.key, &mut connection, last).await,
        };
        let first = self.last.is_none();
        let from = match resumed {
            Ok(from) => self.last.insert(from),
            Err(error) => return self.failed(error),
        };
        if first && matches!(self.stream, Stream::Shared(_)) {
            shared.reading.send_modify(|positioned| *positioned += 1);
        }
        self.up = true;
        shared.counters.readers_up.fetch_add(1, Ordering::Relaxed);
        match upkeep.recovered() {
            Some(down_for) => warn!(
                ?down_for,
                stream = %self.key,
                from = %from,
                "reading the Redis stream again, from the last entry read"
            ),
            None => debug!(stream = %self.key, from = %from, "reading the Redis stream"),
        }
        loop {
            let mut read = redis::cmd("XREAD");
            read.arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(u64::try_from(READ_BLOCK.as_millis()).unwrap_or(u64::MAX))
                .arg("STREAMS")
                .arg(&self.key)
                .arg(from.to_string());
            let read = read.query_async::<Option<StreamReadReply>>(&mut connection);
            let reply = tokio::select! {
                reply = read => reply,
                _ = upkeep.stop.changed() => return Ended::Stopped,
            };
            let reply = match reply {
                Ok(reply) => reply,
                Err(error) => return self.failed(error),
            };
            upkeep.worked();
            let Some(rooms) = self.rooms.upgrade() else {
                return Ended::Stopped;
            };
            let now = Instant::now();
            for entry in reply
                .into_iter()
                .flat_map(|reply| reply.keys)
                .flat_map(|key| key.ids)
            {
                shared.counters.read.fetch_add(1, Ordering::Relaxed);
                if let Some(id) = EntryId::parse(&entry.id) {
                    *from = id;
                }
                take_entry(shared, &*rooms, &mut self.origins, entry.map, now);
            }
            let counters = &shared.counters;
            if let Some(total) = counters.rejected_warned.catch_up(&counters.rejected) {
                warn_rejected(total);
            }
            if now.duration_since(self.forgotten_at) > self.forget_after / 60 {
                self.origins.forget(self.forget_after, now);
                self.forgotten_at = now;
            }
        }
    }

    fn lost(&mut self, shared: &Shared) {
        if std::mem::take(&mut self.up) {
            shared.counters.readers_up.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Where the reader of an interest stream that this server began to need at `since` starts:
/// at the entries appended since, by Redis's clock (`TIME`, less the time gone by here), less
/// [`START_MARGIN`] for the clocks' rounding: a member may get a broadcast made as it joined,
/// never lose one made after.
async fn appended_since(
    since: Instant,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<EntryId> {
    let (seconds, micros): (u64, u64) = redis::cmd("TIME").query_async(connection).await?;
    let now = seconds * 1000 + micros / 1000;
    let gone = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
    let margin = u64::try_from(START_MARGIN.as_millis()).unwrap_or(u64::MAX);
    Ok(EntryId::at_millis(now.saturating_sub(gone + margin)))
}

/// The id of the stream's last entry, where a new reader starts (zero for no stream).
async fn stream_end(
    key: &str,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<EntryId> {
    let reply: StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(key)
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
    shared: &Shared,
    key: &str,
    connection: &mut MultiplexedConnection,
    last: EntryId,
) -> redis::RedisResult<EntryId> {
    if last == EntryId::ZERO {
        return Ok(last);
    }
    let range = |start: String, end: String| {
        redis::cmd("XRANGE")
            .arg(key)
            .arg(start)
            .arg(end)
            .arg("COUNT")
            .arg(1)
            .clone()
    };
    // One command at a time: a cluster's redirection comes back as the command's error.
    let held: StreamRangeReply = range(last.to_string(), last.to_string())
        .query_async(connection)
        .await?;
    if !held.ids.is_empty() {
        return Ok(last);
    }
    let first: StreamRangeReply = range("-".into(), "+".into())
        .query_async(connection)
        .await?;
    let gaps = shared.counters.gaps.fetch_add(1, Ordering::Relaxed) + 1;
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
    shared: &Shared,
    rooms: &dyn LocalRooms,
    origins: &mut Origins,
    mut fields: HashMap<String, redis::Value>,
    now: Instant,
) {
    let counters = &shared.counters;
    let bytes = |value: Option<redis::Value>| match value {
        Some(redis::Value::BulkString(bytes)) => Some(bytes),
        _ => None,
    };
    let envelope = bytes(fields.remove("m"));
    let position = bytes(fields.remove("e"))
        .zip(bytes(fields.remove("o")))
        .and_then(|(epoch, offset)| {
            let epoch = String::from_utf8(epoch).ok()?;
            let offset = std::str::from_utf8(&offset).ok()?.parse().ok()?;
            Some(Position::new(epoch, offset))
        });
    // This server's own entries are skipped before any check or copy: it delivered them to
    // its members already (one forged with this server's id is skipped as well, uncounted),
    // all but those Redis numbered, which it delivers now.
    let own = envelope.as_deref().and_then(envelope::origin) == Some(shared.server);
    if own && position.is_none() {
        return;
    }
    let tag = bytes(fields.remove("t"));
    let envelope = envelope
        .filter(|envelope| shared.signer.verify(envelope, tag.as_deref()))
        .and_then(|envelope| envelope::decode(Bytes::from(envelope)));
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
            // This server's own numbers jump over the entries it skips.
            if missed > 0 && !own {
                let total = counters.lost.fetch_add(missed, Ordering::Relaxed) + missed;
                warn!(
                    missed,
                    lost = total,
                    origin = %format_args!("{:016x}", envelope.server),
                    "broadcasts from another server never reached this one (past the \
                     retention window, or lost by Redis)"
                );
            }
            if !own {
                counters.received.fetch_add(1, Ordering::Relaxed);
            }
            rooms.receive(&envelope.broadcast(position.as_ref(), own));
        }
    }
}
