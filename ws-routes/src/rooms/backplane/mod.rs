//! The seam between [`Rooms`](super::Rooms) and the servers they share rooms with: a
//! [`Backplane`] carries this server's broadcasts to the others, brings theirs back to
//! [`LocalRooms`], and adds up presence.
//!
//! [`InProcess`](memory::InProcess) is the default, for a server on its own;
//! [`RedisBackplane`](redis::RedisBackplane) (feature `redis`) shares rooms through Redis
//! Streams; [`BackplaneSettings`](settings::BackplaneSettings) chooses one as the rooms are
//! built. A Redis Cluster backplane is one more implementation and one more field of those
//! settings. What a shared backplane has done is in its [`BackplaneStats`](stats::BackplaneStats).
//!
//! The rooms deliver every broadcast to this server's members themselves, then hand it to the
//! backplane, which never waits: whatever it does with the network happens in tasks of its own.
//! They tell it when a room's membership here changes, which is where presence is written and
//! where a backplane that subscribes per room (interest-based: subscribe when the first member
//! here joins, unsubscribe when the last leaves) reads [`LocalRooms::count`] and (un)subscribes.
//!
//! The trait is crate-private for now. The next features reshape what crosses it (positions
//! in a room's history for recovery, presence entries with metadata and their diffs, broadcasts
//! to one user): a public trait would turn each of them into a breaking change for every
//! outside implementation. It also hands an implementation the local delivery path, whose
//! guarantees (the slow-consumer policy, frames shared between members) an outside
//! implementation could not see or keep. Redis and Redis Cluster cover what is asked of it;
//! once a second real implementation has settled its shape, opening it is an addition.
//!
//! What crosses it is shaped to grow without changing a signature: a [`Broadcast`] names its
//! [`Audience`] (a room, everyone, one user, one user's connections to close, or the servers
//! watching a room's presence), and every per-room call takes the room.
//!
//! Presence with who: a member that [tracks](crate::Rooms::track) its presence in a room
//! has an entry there (a key and metadata). A shared backplane writes this server's entries
//! where the others read them ([`Backplane::remote_entries`]), and announces a change with a
//! [`Audience::PresenceOf`] broadcast, on which the servers that watch the room's presence
//! read it again.
//!
//! A room with history needs one authority to number its broadcasts across servers. A
//! backplane that [numbers](Backplane::numbers) them (Redis) takes a broadcast to such a room
//! before it reaches anyone ([`Numbering::Wanted`]), and delivers it back to every server,
//! this one included, through [`LocalRooms::receive`] with its position
//! ([`Numbering::At`]): each server keeps the room's history in memory with the same epoch and
//! offsets, so a client recovers on whichever server it reconnects to. Without one (in
//! process), the rooms number their broadcasts themselves.

mod memory;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod settings;
#[cfg(feature = "redis")]
pub(crate) mod stats;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Weak;

use futures_util::future::BoxFuture;

use crate::error::Error;
use crate::rooms::Position;
use crate::wire::Message;

/// Who a broadcast is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience<'a> {
    /// The members of one room.
    Room(&'a str),
    /// Every connection that is a member of at least one room, once each.
    Everyone,
    /// Every connection bound to one user ([`Rooms::bind_user`](crate::Rooms::bind_user)).
    User(&'a str),
    /// Every connection bound to one user, to be closed: the message is the payload of the
    /// close frame (the code, big-endian, then the reason).
    UserClose(&'a str),
    /// No connection: the presence entries of a room changed on the origin, and the servers
    /// that watch its presence read it again. The message is empty.
    #[cfg_attr(
        not(feature = "redis"),
        expect(dead_code, reason = "the in-process backplane announces nothing")
    )]
    PresenceOf(&'a str),
}

/// A broadcast as it crosses the seam: whom it is for, the message, and its place in a room's
/// history.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(
    not(feature = "redis"),
    allow(dead_code, reason = "the in-process backplane reads no broadcast")
)]
pub(crate) struct Broadcast<'a> {
    pub(crate) audience: Audience<'a>,
    pub(crate) message: &'a Message,
    /// The connection of the origin server that does not get it (its sender); meaningful on
    /// the origin server alone.
    pub(crate) except: Option<u64>,
    pub(crate) numbering: Numbering<'a>,
}

/// Where a broadcast stands in its room's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "redis"),
    allow(dead_code, reason = "the in-process backplane numbers nothing")
)]
pub(crate) enum Numbering<'a> {
    /// Not in a history: delivered as it is.
    None,
    /// To a room with history, not numbered yet: whoever numbers it delivers it.
    Wanted,
    /// Numbered by the backplane: this is its position.
    At(&'a Position),
}

/// What carries broadcasts and presence between the servers that share rooms. Owned by the
/// rooms: it is started once as they are built, and stops when they are dropped with it.
pub(crate) trait Backplane: fmt::Debug + Send + Sync {
    /// The longest room name it can carry to other servers; the rooms cap names at it.
    fn max_room_name(&self) -> usize;

    /// Starts its work for the rooms that own it: from now on it delivers other servers'
    /// broadcasts to `local`, and reads `local` for presence. Called once, right after the
    /// rooms are built.
    fn start(&self, local: Weak<dyn LocalRooms>);

    /// Whether it numbers the broadcasts to rooms with history (see the module's doc); the
    /// rooms number them themselves when it does not.
    fn numbers(&self) -> bool {
        false
    }

    /// Carries a broadcast to the other servers: one already delivered to this server's
    /// members or, [`Numbering::Wanted`], one for it to number and deliver everywhere.
    /// `false` when it refused it (too large, no room to wait for the network): the rooms
    /// deliver it here alone. Never waits.
    fn publish(&self, broadcast: &Broadcast<'_>) -> bool;

    /// A member joined or left `room` on this server; [`LocalRooms::count`] says how many are
    /// left. Never waits.
    fn room_changed(&self, room: &str);

    /// A connection of `user` was bound or went on this server;
    /// [`LocalRooms::user_connections`] says how many are left. Never waits.
    fn user_changed(&self, _user: &str) {}

    /// A watch of `room`'s presence started or ended on this server
    /// ([`LocalRooms::watched`]). Never waits.
    fn watch_changed(&self, _room: &str) {}

    /// How many members `room` has on the other servers.
    fn remote_count<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<usize, Error>>;

    /// Every room with members on the other servers, with its count summed over them.
    fn remote_presence(&self) -> BoxFuture<'_, Result<BTreeMap<String, usize>, Error>>;

    /// The presence entries of `room` on the other live servers.
    fn remote_entries<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, Error>>;

    /// This server's name among those sharing the rooms: the first part of its presence
    /// entries' ids.
    fn server_name(&self) -> &str;

    /// How often a room's watched presence is read again although no change was announced:
    /// the entries of a server that died without a goodbye go then. `None` when no other
    /// server shares the rooms.
    fn presence_recheck(&self) -> Option<std::time::Duration> {
        None
    }

    /// What it has done (published, received, lost...) and whether it is connected; `None`
    /// for one that shares nothing.
    #[cfg(feature = "redis")]
    fn stats(&self) -> Option<stats::BackplaneStats> {
        None
    }
}

/// This server's rooms as a backplane sees them: where other servers' broadcasts are
/// delivered, and the member counts that presence publishes.
#[cfg_attr(
    not(feature = "redis"),
    expect(dead_code, reason = "the in-process backplane receives nothing")
)]
pub(crate) trait LocalRooms: Send + Sync {
    /// Delivers another server's broadcast to this server's members.
    fn receive(&self, broadcast: &Broadcast<'_>);

    /// How many members `room` has on this server.
    fn count(&self, room: &str) -> usize;

    /// Every room with members on this server, with its member count.
    fn presence(&self) -> BTreeMap<String, usize>;

    /// Whether any room has members on this server.
    fn has_members(&self) -> bool;

    /// The presence entries of `room` on this server: connection, key and metadata.
    fn tracked(&self, room: &str) -> Vec<(u64, std::sync::Arc<str>, std::sync::Arc<str>)>;

    /// Whether `room` keeps a history.
    fn has_history(&self, room: &str) -> bool;

    /// How many connections of `user` this server has.
    fn user_connections(&self, user: &str) -> usize;

    /// Whether `room`'s presence is watched on this server.
    fn watched(&self, room: &str) -> bool;
}

/// One presence entry as it crosses the seam: its id (`SERVER:CONNECTION`), its key and its
/// metadata (JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) meta: std::sync::Arc<str>,
}
