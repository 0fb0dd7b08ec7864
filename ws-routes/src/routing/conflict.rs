//! The compile-time ambiguity check behind `routes![]`: const evaluation over the segments
//! `#[route]` emits, and the message a conflict fails the build with.

use super::route::{Route, Segment, str_eq};

/// FNV-1a over what decides which paths a pattern matches: static text, and the kind of each
/// parameter (not its name).
const fn shape_hash(segments: &[Segment]) -> u64 {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < segments.len() {
        let (tag, text): (u8, &str) = match segments[index] {
            Segment::Static(text) => (1, text),
            Segment::Param(_) => (2, ""),
            Segment::CatchAll(_) => (3, ""),
        };
        hash = (hash ^ tag as u64).wrapping_mul(PRIME);
        let bytes = text.as_bytes();
        let mut byte = 0;
        while byte < bytes.len() {
            hash = (hash ^ bytes[byte] as u64).wrapping_mul(PRIME);
            byte += 1;
        }
        hash = (hash ^ b'/' as u64).wrapping_mul(PRIME);
        index += 1;
    }
    hash
}

/// The compile-time ambiguity check behind `routes![]`, and the message it fails with.
#[doc(hidden)]
pub struct Conflict {
    len: usize,
    buf: [u8; Conflict::CAPACITY],
}

impl Conflict {
    const CAPACITY: usize = 240;

    /// The first pair `(earlier, later)` of routes in `table` that match the same paths, found
    /// in linear time: each route's shape is hashed into an open-addressing table of `SLOTS`
    /// entries (a power of two, at least twice the number of routes, which the macro picks),
    /// and only routes whose shapes hash alike are compared.
    pub const fn first<const SLOTS: usize>(table: &[Route]) -> Option<(usize, usize)> {
        let mut slots = [usize::MAX; SLOTS];
        let mask = SLOTS - 1;
        let mut later = 0;
        while later < table.len() {
            let mut slot = shape_hash(table[later].parts.segments) as usize & mask;
            while slots[slot] != usize::MAX {
                let earlier = slots[slot];
                if table[later].is_ambiguous_with(&table[earlier]) {
                    return Some((earlier, later));
                }
                slot = (slot + 1) & mask;
            }
            slots[slot] = later;
            later += 1;
        }
        None
    }

    /// The message for two ambiguous routes.
    pub const fn describe(table: &[Route], earlier: usize, later: usize) -> Conflict {
        let (route, other) = (&table[later], &table[earlier]);
        let mut message = Conflict {
            len: 0,
            buf: [0; Conflict::CAPACITY],
        };
        if str_eq(route.parts.handler, other.parts.handler)
            && str_eq(route.parts.pattern, other.parts.pattern)
        {
            message.push("`");
            message.push(route.parts.handler);
            message.push("` is listed twice in this `routes![]`");
            return message;
        }
        message.push("routes `");
        message.push(route.parts.handler);
        message.push("` (\"");
        message.push(route.parts.pattern);
        message.push("\") and `");
        message.push(other.parts.handler);
        message.push("` (\"");
        message.push(other.parts.pattern);
        message.push("\") match the same paths; no precedence rule can choose between them");
        message
    }

    /// The message, cut short (on a character boundary) if the names are very long.
    pub const fn message(&self) -> &str {
        let (mut bytes, _) = self.buf.split_at(self.len);
        loop {
            match core::str::from_utf8(bytes) {
                Ok(text) => return text,
                Err(error) => bytes = bytes.split_at(error.valid_up_to()).0,
            }
        }
    }

    const fn push(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() && self.len < Conflict::CAPACITY {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
    }
}
