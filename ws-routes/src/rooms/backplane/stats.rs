//! What a shared backplane reports of itself: [`BackplaneStats`].

/// What the Redis backplane of a [`Rooms`](crate::Rooms) has done since it was built, from
/// [`Rooms::backplane_stats`](crate::Rooms::backplane_stats). Every counter only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackplaneStats {
    /// Whether the publisher and every reader are connected to Redis now.
    pub connected: bool,
    /// How many streams this server reads now: the shared ones, and the interest streams of
    /// the rooms and users it has connections in (see
    /// [`redis_partitions`](crate::rooms::RoomsBuilder::redis_partitions)).
    pub streams_read: usize,
    /// Entries read from the streams (this server's own, duplicates and rejected ones
    /// included): the traffic it takes from Redis.
    pub read: u64,
    /// Broadcasts waiting in the outbox for Redis now.
    pub waiting: usize,
    /// Broadcasts this server appended to the stream.
    pub published: u64,
    /// Other servers' broadcasts this server delivered to its members.
    pub received: u64,
    /// Broadcasts never published because the outbox was full (by its byte budget): those
    /// to rooms with history are delivered on this server only, not in the history.
    pub dropped: u64,
    /// Broadcasts larger than the maximum message size: delivered on this server only (not
    /// in the history, for a room with one).
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
