//! The wire form of a broadcast in the stream: the field `m` of an entry.
//!
//! A version byte (2), the kind (`T` text, `B` binary), the audience (`R` one room, `A` every
//! member, `H` one room with history, whose entry the publisher numbers, `U` one user's
//! connections, `K` one user's connections to close, `P` the servers watching a room's
//! presence; the room's place holds the user of `U` and `K`), the origin server's
//! id (8 bytes, big-endian), its sequence number (8 bytes, big-endian), the room's length (2
//! bytes, big-endian), the room, with `H` the origin's connection that does not get it (8
//! bytes, big-endian, 0 for none: the origin delivers those broadcasts when they come back
//! numbered), then the payload.

use bytes::{BufMut, Bytes, BytesMut};

use crate::rooms::backplane::{Audience, Broadcast, Numbering};
use crate::wire::{Message, Utf8Bytes};

/// The envelope format's version.
const VERSION: u8 = 2;
/// Where the audience sits in an envelope.
const AUDIENCE_AT: usize = 2;
/// The envelope's bytes before the room: version, kind, audience, server, sequence, room
/// length.
pub(super) const HEADER: usize = 3 + 8 + 8 + 2;
/// The bytes after the room of an envelope to a room with history: the except.
const EXCEPT: usize = 8;
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
    /// The origin's connection that does not get it.
    pub(super) except: Option<u64>,
    /// The audience's byte (`R`, `H`, `A`, `U`, `K` or `P`).
    pub(super) audience: u8,
    /// The room (or user), empty for every member.
    pub(super) room: String,
    pub(super) message: Message,
}

impl Envelope {
    /// The broadcast it carries, to deliver: at `position` when the entry was numbered, and
    /// without its `except` unless this server is its origin.
    pub(super) fn broadcast<'a>(
        &'a self,
        position: Option<&'a crate::rooms::Position>,
        own: bool,
    ) -> Broadcast<'a> {
        Broadcast {
            audience: match self.audience {
                b'A' => Audience::Everyone,
                b'U' => Audience::User(&self.room),
                b'K' => Audience::UserClose(&self.room),
                b'P' => Audience::PresenceOf(&self.room),
                _ => Audience::Room(&self.room),
            },
            message: &self.message,
            except: self.except.filter(|_| own),
            numbering: match position {
                Some(position) => Numbering::At(position),
                None => Numbering::None,
            },
        }
    }
}

/// Whether an envelope is of a room with history, one the publisher numbers.
pub(super) fn is_history(envelope: &[u8]) -> bool {
    envelope.get(AUDIENCE_AT) == Some(&b'H')
}

/// The wire form of a broadcast, with sequence number 0 until [`number`] sets it; `None` for a
/// room name longer than [`MAX_ROOM`].
pub(super) fn encode(server: u64, broadcast: &Broadcast<'_>) -> Option<BytesMut> {
    let message = broadcast.message;
    let kind = if message.is_text() { b'T' } else { b'B' };
    let payload = message.as_bytes();
    let (audience, room) = match (broadcast.audience, broadcast.numbering) {
        (Audience::Room(room), Numbering::Wanted) => (b'H', room.as_bytes()),
        (Audience::Room(room), _) => (b'R', room.as_bytes()),
        (Audience::Everyone, _) => (b'A', &b""[..]),
        (Audience::User(user), _) => (b'U', user.as_bytes()),
        (Audience::UserClose(user), _) => (b'K', user.as_bytes()),
        (Audience::PresenceOf(room), _) => (b'P', room.as_bytes()),
    };
    let room_len = u16::try_from(room.len()).ok()?;
    let mut out = BytesMut::with_capacity(HEADER + room.len() + EXCEPT + payload.len());
    out.put_u8(VERSION);
    out.put_u8(kind);
    out.put_u8(audience);
    out.put_u64(server);
    out.put_u64(0);
    out.put_u16(room_len);
    out.put_slice(room);
    if audience == b'H' {
        out.put_u64(broadcast.except.unwrap_or(0));
    }
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
    let (room, rest) = rest.split_at_checked(room_len)?;
    let room = match audience {
        b'R' | b'H' | b'U' | b'K' | b'P' => std::str::from_utf8(room).ok()?.to_owned(),
        b'A' if room.is_empty() => String::new(),
        _ => return None,
    };
    let (except, payload_at) = if audience == b'H' {
        let (except, _) = rest.split_first_chunk::<EXCEPT>()?;
        (u64::from_be_bytes(*except), HEADER + room_len + EXCEPT)
    } else {
        (0, HEADER + room_len)
    };
    let except = Some(except).filter(|&id| id != 0);
    let (server, seq) = (u64::from_be_bytes(*server), u64::from_be_bytes(*seq));
    let payload = bytes.slice(payload_at..);
    let message = match kind {
        b'T' => Message::text(Utf8Bytes::try_from(payload).ok()?),
        b'B' => Message::binary(payload),
        _ => return None,
    };
    Some(Envelope {
        server,
        seq,
        except,
        audience,
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
    let broadcast = Broadcast {
        audience,
        message,
        except: None,
        numbering: Numbering::None,
    };
    let mut envelope = encode(server, &broadcast).unwrap();
    number(&mut envelope, seq);
    envelope.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_survives_the_trip() {
        for (audience, message, byte) in [
            (Audience::Room("lobby"), Message::text("héllo"), b'R'),
            (
                Audience::Everyone,
                Message::binary(vec![0u8, 1, 2, 255]),
                b'A',
            ),
            (Audience::Room(""), Message::text(""), b'R'),
            (Audience::User("ann"), Message::text("hi"), b'U'),
            (
                Audience::UserClose("ann"),
                Message::binary(vec![3u8, 232]),
                b'K',
            ),
            (
                Audience::PresenceOf("lobby"),
                Message::binary(Vec::new()),
                b'P',
            ),
        ] {
            let envelope = decode(numbered(42, 7, audience, &message).into()).unwrap();
            let room = match audience {
                Audience::Room(name)
                | Audience::User(name)
                | Audience::UserClose(name)
                | Audience::PresenceOf(name) => name.to_owned(),
                Audience::Everyone => String::new(),
            };
            assert_eq!(
                envelope,
                Envelope {
                    server: 42,
                    seq: 7,
                    except: None,
                    audience: byte,
                    room,
                    message
                }
            );
            assert_eq!(envelope.broadcast(None, true).audience, audience);
        }
    }

    #[test]
    fn a_broadcast_to_a_room_with_history_keeps_its_sender_and_asks_for_a_number() {
        let message = Message::text("hi");
        let broadcast = Broadcast {
            audience: Audience::Room("lobby"),
            message: &message,
            except: Some(9),
            numbering: Numbering::Wanted,
        };
        let mut bytes = encode(42, &broadcast).unwrap();
        number(&mut bytes, 3);
        assert!(is_history(&bytes));
        let cut = HEADER + "lobby".len() + EXCEPT - 1;
        assert_eq!(decode(Bytes::copy_from_slice(&bytes[..cut])), None);
        let envelope = decode(bytes.freeze()).unwrap();
        assert_eq!(envelope.room, "lobby");
        let position = crate::rooms::Position::new("e", 5);
        let own = envelope.broadcast(Some(&position), true);
        assert_eq!(own.except, Some(9));
        assert_eq!(own.numbering, Numbering::At(&position));
        assert_eq!(envelope.broadcast(Some(&position), false).except, None);
        assert!(!is_history(&numbered(
            42,
            3,
            Audience::Room("lobby"),
            &message
        )));
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
            except: None,
            numbering: Numbering::None,
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
