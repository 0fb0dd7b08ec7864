//! The wire form of a broadcast in the stream: the field `m` of an entry.
//!
//! A version byte (2), the kind (`T` text, `B` binary), the audience (`R` one room, `A` every
//! member), the origin server's id (8 bytes, big-endian), its sequence number (8 bytes,
//! big-endian), the room's length (2 bytes, big-endian), the room, then the payload.

use bytes::{BufMut, Bytes, BytesMut};

use crate::rooms::backplane::{Audience, Broadcast};
use crate::wire::{Message, Utf8Bytes};

/// The envelope format's version.
const VERSION: u8 = 2;
/// The envelope's bytes before the room: version, kind, audience, server, sequence, room
/// length.
pub(super) const HEADER: usize = 3 + 8 + 8 + 2;
/// Where the sequence number sits in an envelope.
const SEQ_AT: usize = 3 + 8;

/// The longest room name an envelope holds (its length takes two bytes).
pub(super) const MAX_ROOM: usize = u16::MAX as usize;

/// A broadcast as it travels between servers.
#[derive(Debug, PartialEq)]
pub(super) struct Envelope {
    /// The origin server's id.
    pub(super) server: u64,
    /// The origin's sequence number of this broadcast.
    pub(super) seq: u64,
    /// The room, or `None` for every member.
    pub(super) room: Option<String>,
    pub(super) message: Message,
}

impl Envelope {
    /// The broadcast it carries, to deliver.
    pub(super) fn broadcast(&self) -> Broadcast<'_> {
        Broadcast {
            audience: match &self.room {
                Some(room) => Audience::Room(room),
                None => Audience::Everyone,
            },
            message: &self.message,
        }
    }
}

/// The wire form of a broadcast, with sequence number 0 until [`number`] sets it; `None` for a
/// room name longer than [`MAX_ROOM`].
pub(super) fn encode(server: u64, broadcast: &Broadcast<'_>) -> Option<BytesMut> {
    let message = broadcast.message;
    let kind = if message.is_text() { b'T' } else { b'B' };
    let payload = message.as_bytes();
    let (audience, room) = match broadcast.audience {
        Audience::Room(room) => (b'R', room.as_bytes()),
        Audience::Everyone => (b'A', &b""[..]),
    };
    let room_len = u16::try_from(room.len()).ok()?;
    let mut out = BytesMut::with_capacity(HEADER + room.len() + payload.len());
    out.put_u8(VERSION);
    out.put_u8(kind);
    out.put_u8(audience);
    out.put_u64(server);
    out.put_u64(0);
    out.put_u16(room_len);
    out.put_slice(room);
    out.put_slice(payload);
    Some(out)
}

/// Writes the origin's sequence number into an envelope that [`encode`] made.
pub(super) fn number(envelope: &mut [u8], seq: u64) {
    envelope[SEQ_AT..SEQ_AT + 8].copy_from_slice(&seq.to_be_bytes());
}

/// The origin server's id of an envelope, read from its fixed header alone.
pub(super) fn origin(envelope: &[u8]) -> Option<u64> {
    if envelope.first() != Some(&VERSION) {
        return None;
    }
    let server = envelope.get(3..SEQ_AT)?;
    Some(u64::from_be_bytes(server.try_into().ok()?))
}

/// The broadcast in an envelope; its payload shares the envelope's bytes (no copy).
pub(super) fn decode(bytes: Bytes) -> Option<Envelope> {
    let (&[version, kind, audience], rest) = bytes.split_first_chunk::<3>()?;
    if version != VERSION {
        return None;
    }
    let (server, rest) = rest.split_first_chunk::<8>()?;
    let (seq, rest) = rest.split_first_chunk::<8>()?;
    let (room_len, rest) = rest.split_first_chunk::<2>()?;
    let room_len = usize::from(u16::from_be_bytes(*room_len));
    let room = rest.get(..room_len)?;
    let room = match audience {
        b'R' => Some(std::str::from_utf8(room).ok()?.to_owned()),
        b'A' => None,
        _ => return None,
    };
    let (server, seq) = (u64::from_be_bytes(*server), u64::from_be_bytes(*seq));
    let payload = bytes.slice(HEADER + room_len..);
    let message = match kind {
        b'T' => Message::text(Utf8Bytes::try_from(payload).ok()?),
        b'B' => Message::binary(payload),
        _ => return None,
    };
    Some(Envelope {
        server,
        seq,
        room,
        message,
    })
}

/// The envelope of broadcast number `seq` of `server`, as the outbox numbers it.
#[cfg(test)]
pub(super) fn numbered(
    server: u64,
    seq: u64,
    audience: Audience<'_>,
    message: &Message,
) -> Vec<u8> {
    let mut envelope = encode(server, &Broadcast { audience, message }).unwrap();
    number(&mut envelope, seq);
    envelope.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_survives_the_trip() {
        for (audience, message) in [
            (Audience::Room("lobby"), Message::text("héllo")),
            (Audience::Everyone, Message::binary(vec![0u8, 1, 2, 255])),
            (Audience::Room(""), Message::text("")),
        ] {
            let envelope = decode(numbered(42, 7, audience, &message).into()).unwrap();
            let room = match audience {
                Audience::Room(room) => Some(room.to_owned()),
                Audience::Everyone => None,
            };
            assert_eq!(
                envelope,
                Envelope {
                    server: 42,
                    seq: 7,
                    room,
                    message
                }
            );
            assert_eq!(envelope.broadcast().audience, audience);
        }
    }

    #[test]
    fn what_is_not_an_envelope_is_refused() {
        let good = numbered(7, 1, Audience::Room("room"), &Message::text("hi"));
        for cut in 0..HEADER + 4 {
            assert_eq!(
                decode(Bytes::copy_from_slice(&good[..cut])),
                None,
                "cut at {cut}"
            );
        }
        let mut wrong_version = good.clone();
        wrong_version[0] = 9;
        assert_eq!(decode(wrong_version.into()), None);
        let mut bad_utf8 = numbered(7, 1, Audience::Everyone, &Message::binary(vec![0xff]));
        bad_utf8[1] = b'T';
        assert_eq!(decode(bad_utf8.into()), None);
        let long = "r".repeat(70_000);
        let broadcast = Broadcast {
            audience: Audience::Room(&long),
            message: &Message::text("hi"),
        };
        assert!(encode(7, &broadcast).is_none());
    }

    #[test]
    fn the_origin_is_read_from_the_header_alone() {
        let envelope = numbered(
            0x0102_0304_0506_0708,
            1,
            Audience::Room("room"),
            &Message::text("hi"),
        );
        assert_eq!(origin(&envelope), Some(0x0102_0304_0506_0708));
        assert_eq!(origin(&envelope[..SEQ_AT]), Some(0x0102_0304_0506_0708));
        assert_eq!(origin(&envelope[..SEQ_AT - 1]), None);
        let mut wrong_version = envelope.clone();
        wrong_version[0] = 9;
        assert_eq!(origin(&wrong_version), None);
        assert_eq!(origin(&[]), None);
    }

    #[test]
    fn a_decoded_payload_shares_the_envelope_s_bytes() {
        let envelope = Bytes::from(numbered(
            1,
            1,
            Audience::Room("r"),
            &Message::binary(vec![7u8; 32]),
        ));
        let end = envelope.as_ptr_range().end;
        let Envelope { message, .. } = decode(envelope).unwrap();
        assert_eq!(message.as_bytes().as_ptr_range().end, end);
    }
}
