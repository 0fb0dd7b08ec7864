//! Which stream carries a broadcast, and the names of the backplane's keys.
//!
//! With one partition (the default), one stream carries everything and every server reads it
//! whole. With `N` partitions, the streams come in two families of `N`:
//!
//! - **shared** streams, which every server reads: broadcasts to rooms with history (so that
//!   every server keeps their history, and a client recovers on whichever server it
//!   reconnects to), spread by the room's hash, and broadcasts to everyone, on the first;
//! - **interest** streams, which a server reads only while it has a reason to: broadcasts to
//!   rooms without history, to users, and the announcements of presence changes, spread by the
//!   room's (or user's) hash. A server reads one while it has a member in one of its rooms, a
//!   connection of one of its users, or a watcher of one of its rooms' presence.
//!
//! Keys carry a hash tag with `N` partitions (`{P:sI}:stream`, `{P:iI}:stream`, a room's
//! numbering `{P:sI}:history:ROOM` next to its stream, and presence under `{P}`), so that on a
//! Redis Cluster each stream and what goes with it live on one slot, and the streams spread
//! over the masters.

use std::fmt;

use crate::rooms::backplane::{Audience, Broadcast, Numbering};

/// One of the backplane's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Stream {
    /// Read by every server.
    Shared(u16),
    /// Read by the servers with an interest in one of its rooms or users.
    Interest(u16),
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stream::Shared(i) => write!(f, "s{i}"),
            Stream::Interest(i) => write!(f, "i{i}"),
        }
    }
}

/// The partitions and the key names under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
    partitions: u16,
}

impl Keys {
    pub(super) fn new(prefix: &str, partitions: u16) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            partitions: partitions.max(1),
        }
    }

    /// Whether one stream carries everything (one partition).
    pub(super) fn single(&self) -> bool {
        self.partitions == 1
    }

    /// The streams every server reads.
    pub(super) fn shared_streams(&self) -> impl Iterator<Item = Stream> + use<> {
        (0..self.partitions).map(Stream::Shared)
    }

    /// The stream that carries `broadcast`.
    pub(super) fn stream_of(&self, broadcast: &Broadcast<'_>) -> Stream {
        if self.single() {
            return Stream::Shared(0);
        }
        match (broadcast.audience, broadcast.numbering) {
            (Audience::Everyone, _) => Stream::Shared(0),
            (Audience::Room(room), Numbering::Wanted | Numbering::At(_)) => {
                Stream::Shared(self.partition(room))
            }
            (
                Audience::Room(name)
                | Audience::User(name)
                | Audience::UserClose(name)
                | Audience::PresenceOf(name),
                _,
            ) => self.interest(name),
        }
    }

    /// The interest stream of a room (without history) or a user; the shared stream with one
    /// partition.
    pub(super) fn interest(&self, name: &str) -> Stream {
        if self.single() {
            return Stream::Shared(0);
        }
        Stream::Interest(self.partition(name))
    }

    /// The partition of a room or user: FNV-1a of its name, modulo the partitions. Stable
    /// across servers and versions: servers sharing rooms must agree on it.
    fn partition(&self, name: &str) -> u16 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        u16::try_from(hash % u64::from(self.partitions)).expect("below the partitions, a u16")
    }

    /// The key of `stream`.
    pub(super) fn stream(&self, stream: Stream) -> String {
        if self.single() {
            return format!("{}:stream", self.prefix);
        }
        format!("{{{}:{stream}}}:stream", self.prefix)
    }

    /// The key of the numbering of `room`, which keeps a history and so has a shared stream,
    /// next to that stream.
    pub(super) fn history(&self, stream: Stream, room: &str) -> String {
        if self.single() {
            return format!("{}:history:{room}", self.prefix);
        }
        format!("{{{}:{stream}}}:history:{room}", self.prefix)
    }

    /// The key of the set of live servers.
    pub(super) fn servers(&self) -> String {
        format!("{}:servers", self.common())
    }

    /// The key of server `server`'s presence hash (its room counts).
    pub(super) fn presence(&self, server: &str) -> String {
        format!("{}:presence:{server}", self.common())
    }

    /// The key of the hash of `room`'s presence entries, on every server.
    pub(super) fn entries(&self, room: &str) -> String {
        format!("{}:who:{room}", self.common())
    }

    /// The first part of the keys that are not a stream's: one slot with partitions.
    fn common(&self) -> String {
        if self.single() {
            self.prefix.clone()
        } else {
            format!("{{{}}}", self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::Position;
    use crate::wire::Message;

    fn broadcast<'a>(audience: Audience<'a>, numbering: Numbering<'a>) -> Broadcast<'a> {
        static MESSAGE: std::sync::LazyLock<Message> = std::sync::LazyLock::new(|| "hi".into());
        Broadcast {
            audience,
            message: &MESSAGE,
            except: None,
            numbering,
        }
    }

    #[test]
    fn one_partition_is_one_stream_with_the_old_names() {
        let keys = Keys::new("app", 1);
        for audience in [Audience::Room("a"), Audience::User("u"), Audience::Everyone] {
            assert_eq!(
                keys.stream_of(&broadcast(audience, Numbering::None)),
                Stream::Shared(0)
            );
        }
        assert_eq!(keys.stream(Stream::Shared(0)), "app:stream");
        assert_eq!(keys.history(Stream::Shared(0), "r"), "app:history:r");
        assert_eq!(keys.presence("x"), "app:presence:x");
        assert_eq!(keys.servers(), "app:servers");
        assert_eq!(keys.entries("r"), "app:who:r");
    }

    #[test]
    fn partitions_split_history_rooms_from_the_rest_and_tag_every_key() {
        let keys = Keys::new("app", 8);
        let at = Position::new("e", 1);
        let room = keys.interest("lobby");
        let Stream::Interest(partition) = room else {
            panic!("{room:?}");
        };
        assert_eq!(
            keys.stream_of(&broadcast(Audience::Room("lobby"), Numbering::None)),
            room
        );
        assert_eq!(
            keys.stream_of(&broadcast(Audience::PresenceOf("lobby"), Numbering::None)),
            room,
            "a room's presence announcements go where its broadcasts go"
        );
        for numbering in [Numbering::Wanted, Numbering::At(&at)] {
            assert_eq!(
                keys.stream_of(&broadcast(Audience::Room("lobby"), numbering)),
                Stream::Shared(partition)
            );
        }
        assert_eq!(
            keys.stream_of(&broadcast(Audience::Everyone, Numbering::None)),
            Stream::Shared(0)
        );
        assert_eq!(keys.stream(room), format!("{{app:i{partition}}}:stream"));
        assert_eq!(
            keys.history(Stream::Shared(3), "r"),
            "{app:s3}:history:r",
            "a room's numbering is on its stream's slot"
        );
        assert_eq!(keys.presence("x"), "{app}:presence:x");
        // Spread: 1,000 rooms land in every partition.
        let mut used = std::collections::HashSet::new();
        for i in 0..1000 {
            used.insert(keys.interest(&format!("room-{i}")));
        }
        assert_eq!(used.len(), 8);
        assert_eq!(keys.shared_streams().count(), 8);
    }
}
