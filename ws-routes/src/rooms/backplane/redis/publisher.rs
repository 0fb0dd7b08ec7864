//! The publisher: takes broadcasts into the outbox without waiting, appends them to the stream
//! in order, and keeps this server's presence in Redis between them.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::connection::Connection;
use tracing::{debug, info, trace, warn};

use super::counters::{warn_dropped, warn_oversized};
use super::entry_id::EntryId;
use super::link::{Ended, Link, Upkeep};
use super::numbering::{self, Script};
use super::shared::{REDIS_TIMEOUT, Shared};
use super::{envelope, presence};
use crate::rooms::backplane::{Broadcast, LocalRooms};

/// Hands a broadcast to the publisher, without waiting: into the outbox, unless it is too
/// large or the outbox is full (counted and logged, and `false`).
pub(super) fn enqueue(shared: &Shared, broadcast: &Broadcast<'_>) -> bool {
    let counters = &shared.counters;
    if broadcast.message.len() > shared.max_message {
        let total = counters.oversized.fetch_add(1, Ordering::Relaxed) + 1;
        if counters.oversized_warned.due(total) {
            warn_oversized(shared.max_message, total);
        }
        return false;
    }
    let Some(envelope) = envelope::encode(shared.server, broadcast) else {
        // Never: the rooms cap room names at what an envelope holds.
        return false;
    };
    let stream = shared.keys.stream_of(broadcast);
    let pushed = shared
        .lock_outbox()
        .push(stream, envelope, shared.outbox_bytes);
    match pushed {
        Ok(()) => {
            shared.queued.notify_one();
            true
        }
        Err(envelope) => {
            let total = counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if counters.dropped_warned.due(total) {
                debug!(size = envelope.len(), "the broadcast that did not fit");
                warn_dropped(shared.outbox_bytes, total);
            }
            false
        }
    }
}

/// The publisher's link: publishes the outbox and keeps this server's presence in Redis.
pub(super) struct Publisher {
    rooms: Weak<dyn LocalRooms>,
    /// The id Redis gave the last entry published, whose time trims the stream.
    last_id: Option<EntryId>,
}

impl Publisher {
    pub(super) fn new(rooms: Weak<dyn LocalRooms>) -> Self {
        Publisher {
            rooms,
            last_id: None,
        }
    }
}

impl Link for Publisher {
    const NAME: &'static str = "publisher";
    const RESPONSE_TIMEOUT: Duration = REDIS_TIMEOUT;
    type Connection = Connection;

    async fn connect(&self, shared: &Shared, _attempt: usize) -> redis::RedisResult<Connection> {
        shared.target.connect(Self::RESPONSE_TIMEOUT).await
    }

    async fn serve(
        &mut self,
        shared: &Shared,
        mut connection: Connection,
        upkeep: &mut Upkeep,
    ) -> Ended {
        *shared.lock_connection() = Some(connection.clone());
        shared.counters.publisher_up.store(true, Ordering::Relaxed);
        match upkeep.recovered() {
            Some(down_for) => warn!(
                ?down_for,
                waiting = shared.lock_outbox().len(),
                dropped = shared.counters.dropped.load(Ordering::Relaxed),
                "publishing to Redis again: the broadcasts waiting in the outbox go out now"
            ),
            None => info!("connected to Redis"),
        }
        let every = shared.presence_ttl / 3;
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Whatever Redis holds of this server's presence may be stale or gone after an
        // outage: written whole once; from then on, changes and heartbeats keep it.
        if let Err(error) = presence::write_all(shared, &self.rooms, &mut connection).await {
            return Ended::Failed(error);
        }
        // Loaded on every connection: a Redis that restarted has forgotten it.
        let script = match numbering::load(&mut connection).await {
            Ok(script) => script,
            Err(error) => return Ended::Failed(error),
        };
        // Nothing goes out before the reader knows where it starts reading: it would start
        // past this server's first broadcasts, which it must read back when numbered.
        let mut reading = shared.reading.subscribe();
        let shared_streams = shared.keys.shared_streams().count();
        let read = async {
            // The guard it gives back is not `Send`: dropped here.
            let _ = reading
                .wait_for(|positioned| *positioned >= shared_streams)
                .await;
        };
        tokio::select! {
            () = read => {}
            _ = upkeep.stop.changed() => {
                flush(shared, &mut connection, &mut self.last_id, &script).await;
                return Ended::Stopped;
            }
        }
        loop {
            let busy = !shared.lock_outbox().is_empty();
            // Unbiased: publishing and presence take turns when both have work.
            let result = tokio::select! {
                _ = upkeep.stop.changed() => {
                    flush(shared, &mut connection, &mut self.last_id, &script).await;
                    return Ended::Stopped;
                }
                () = std::future::ready(()), if busy => {
                    let published = publish_batch(shared, &mut connection, &mut self.last_id, &script).await;
                    // The connection works once broadcasts go through: no more backoff.
                    if published.is_ok() {
                        upkeep.worked();
                    }
                    published
                }
                () = shared.queued.notified(), if !busy => Ok(()),
                () = shared.changed.notified() => {
                    presence::write_changes(shared, &self.rooms, &mut connection).await
                }
                _ = heartbeat.tick() => {
                    let counters = &shared.counters;
                    if let Some(total) = counters.dropped_warned.catch_up(&counters.dropped) {
                        warn_dropped(shared.outbox_bytes, total);
                    }
                    if let Some(total) = counters.oversized_warned.catch_up(&counters.oversized) {
                        warn_oversized(shared.max_message, total);
                    }
                    presence::refresh(shared, &self.rooms, &mut connection).await
                }
            };
            if let Err(error) = result {
                return Ended::Failed(error);
            }
            if !busy {
                upkeep.worked();
            }
        }
    }

    fn lost(&mut self, shared: &Shared) {
        *shared.lock_connection() = None;
        shared.counters.publisher_up.store(false, Ordering::Relaxed);
    }

    fn stopped_unconnected(&mut self, shared: &Shared) {
        let waiting = shared.lock_outbox().len();
        if waiting > 0 {
            warn!(
                waiting,
                "the rooms stopped while Redis was unreachable: their last broadcasts never \
                 reached other servers"
            );
        }
    }
}

/// Appends the oldest broadcasts of the outbox to the stream (numbering those to rooms with
/// history: [`numbering`]), and removes them from the outbox once Redis has them; on failure, the first that failed and those after it stay, to
/// be retried in order.
///
/// The batch goes in one `MULTI`/`EXEC`, so that entries never land out of order: a command
/// that Redis refuses while queuing it (out of memory, a read-only replica, ...) aborts the
/// whole batch, and an `EXEC` runs every `XADD` of it in one go. (Were a later `XADD` of the
/// batch to land after one that failed, readers would count the failed one as lost and drop
/// it as a duplicate when retried.) When the connection fails, whether the batch landed is
/// unknown: it is retried whole, and readers drop what they had read already.
async fn publish_batch(
    shared: &Shared,
    connection: &mut Connection,
    last_id: &mut Option<EntryId>,
    script: &Script,
) -> redis::RedisResult<()> {
    let Some((stream, batch)) = shared.lock_outbox().batch() else {
        return Ok(());
    };
    // Trim to the retention window on Redis's clock: the time part of the last id it gave.
    let min_id = last_id.map(|id| {
        let retention = u64::try_from(shared.retention.as_millis()).unwrap_or(u64::MAX);
        id.millis().saturating_sub(retention)
    });
    let mut pipe = redis::pipe();
    pipe.atomic().ignore_errors();
    for (i, envelope) in batch.iter().enumerate() {
        // Trimming once per batch is enough: the last entry trims for all of them.
        let min_id = min_id.filter(|_| i + 1 == batch.len());
        numbering::append(shared, &mut pipe, stream, envelope, min_id, script);
    }
    // No id: a broadcast to a room with history that Redis had numbered already.
    let results: Vec<redis::RedisResult<Option<String>>> = pipe.query_async(connection).await?;
    let mut landed = 0;
    let mut failure = None;
    for result in results {
        match result {
            Ok(id) => {
                landed += 1;
                if let Some(id) = id.as_deref().and_then(EntryId::parse) {
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
    shared.lock_outbox().remove(stream, landed);
    shared
        .counters
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
async fn flush(
    shared: &Shared,
    connection: &mut Connection,
    last_id: &mut Option<EntryId>,
    script: &Script,
) {
    let flush = async {
        while !shared.lock_outbox().is_empty() {
            publish_batch(shared, connection, last_id, script).await?;
        }
        presence::remove(shared, connection).await
    };
    let error = match tokio::time::timeout(REDIS_TIMEOUT, flush).await {
        Ok(Ok(())) => return,
        Ok(Err(error)) => error.to_string(),
        Err(_) => "timed out".to_owned(),
    };
    warn!(
        %error,
        waiting = shared.lock_outbox().len(),
        "the rooms stopped before their last broadcasts reached Redis"
    );
}
