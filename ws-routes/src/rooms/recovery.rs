//! Recovery on the wire: the positions a client presents when it reconnects ([`Resume`]), what
//! the server answers for each room it re-joins ([`Recovery`]), and the envelope that carries a
//! room message's [`Position`] to the members that joined with
//! [`Rooms::join_since`](super::Rooms::join_since).
//!
//! Everything here crosses the network as text a browser reads without a library:
//!
//! - the claim, in the handshake's query: one `ws-resume=EPOCH.OFFSET.ROOM` pair per room
//!   (form-encoded, as any query value);
//! - a room message: the message's own frame type, its payload prefixed with
//!   `\x1e EPOCH.OFFSET SP ROOM \n` (no spaces around the fields; `ROOM` percent-encoded);
//! - the outcome of a join (or of a loss of the room's history, mid-connection): a text
//!   frame `\x1e ! STATUS SP REPLAYED SP EPOCH.OFFSET SP ROOM`.
//!
//! The client reads the last two back into [`Received`].

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::extract::{FromRequest, Reject, Request};
use crate::wire::Message;

/// The first byte of every frame the recovery protocol adds or wraps: ASCII's record
/// separator, which no JSON document and no readable text starts with.
pub(crate) const MARK: u8 = 0x1e;

/// The query parameter that carries a client's claims.
const RESUME_PARAMETER: &str = "ws-resume";

/// The most claims one handshake is read for; the rest are ignored.
const MAX_CLAIMS: usize = 128;

/// The bytes percent-encoded in a room name inside an envelope: controls, space and `%`, so
/// that the name is one field ending at a space or a newline.
const ROOM: &AsciiSet = &CONTROLS.add(b' ').add(b'%');

/// Where a message stands in a room's history: the history's epoch, and the message's offset
/// in it.
///
/// Offsets start at 1 and only grow within an epoch; an epoch names one history, and changes
/// when that history is lost (an in-memory history whose server restarted, say). A client's
/// position in a room is the position of the last message it received there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    epoch: String,
    offset: u64,
}

impl Position {
    /// The position `offset` in the history named `epoch`. An epoch is a short token of ASCII
    /// letters, digits and `-`; a claim whose epoch is anything else is ignored.
    pub fn new(epoch: impl Into<String>, offset: u64) -> Self {
        Position {
            epoch: epoch.into(),
            offset,
        }
    }

    /// The name of the history this position is in.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The offset of the message in its history (0: before the first).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Parses `EPOCH.OFFSET`.
    fn parse(text: &str) -> Option<Self> {
        let (epoch, offset) = text.split_once('.')?;
        valid_epoch(epoch).then_some(())?;
        Some(Position::new(epoch, offset.parse().ok()?))
    }
}

impl fmt::Display for Position {
    /// `EPOCH.OFFSET`, as the wire carries it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch, self.offset)
    }
}

/// Whether `epoch` is a token the wire can carry: ASCII letters, digits and `-`, 1 to 64 of
/// them.
fn valid_epoch(epoch: &str) -> bool {
    (1..=64).contains(&epoch.len())
        && epoch
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
}

/// What joining a room with [`Rooms::join_since`](super::Rooms::join_since) made of the
/// position the client claimed there. The client is told the same, in the join's outcome
/// frame, before any message of the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// The client claimed no position in this room: it joined at the live end.
    New,
    /// Every message the client missed since its position was sent, `replayed` of them, in
    /// order and before any live one.
    Recovered {
        /// How many messages were replayed (0 when the client had missed nothing).
        replayed: u64,
    },
    /// The client cannot be caught up: what it missed is not in the history. It joined at the
    /// live end and should fetch the room's state anew.
    Lost(Unrecoverable),
}

impl Recovery {
    /// Whether the client has every message of the room since its position (or claimed
    /// none).
    pub fn is_complete(&self) -> bool {
        !matches!(self, Recovery::Lost(_))
    }

    /// The status word the outcome frame carries.
    fn status(&self) -> &'static str {
        match self {
            Recovery::New => "new",
            Recovery::Recovered { .. } => "recovered",
            Recovery::Lost(Unrecoverable::EpochChanged) => "epoch-changed",
            Recovery::Lost(Unrecoverable::TooOld) => "too-old",
            Recovery::Lost(Unrecoverable::UnknownPosition) => "unknown-position",
            Recovery::Lost(Unrecoverable::NoHistory) => "no-history",
        }
    }

    fn replayed(&self) -> u64 {
        match self {
            Recovery::Recovered { replayed } => *replayed,
            _ => 0,
        }
    }

    fn from_wire(status: &str, replayed: u64) -> Option<Self> {
        Some(match status {
            "new" => Recovery::New,
            "recovered" => Recovery::Recovered { replayed },
            "epoch-changed" => Recovery::Lost(Unrecoverable::EpochChanged),
            "too-old" => Recovery::Lost(Unrecoverable::TooOld),
            "unknown-position" => Recovery::Lost(Unrecoverable::UnknownPosition),
            "no-history" => Recovery::Lost(Unrecoverable::NoHistory),
            _ => return None,
        })
    }
}

/// Why a client cannot be caught up in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unrecoverable {
    /// The history the client's position is in is gone (its server restarted, say).
    EpochChanged,
    /// The messages right after the client's position have left the history (it holds fewer
    /// messages, bytes or seconds than the client missed).
    TooOld,
    /// The position is past the newest message of the history: not one this server gave.
    UnknownPosition,
    /// The room keeps no history.
    NoHistory,
}

/// The positions a reconnecting client claims, per room: an extractor for function routes and
/// class-style `accept` hooks.
///
/// A claim grants nothing by itself: the route decides which rooms the connection joins, and
/// [`Rooms::join_since`](super::Rooms::join_since) replays a room's history only to a
/// connection the route joins to it. A client that claims a position in a room the route does
/// not join gets nothing from that room. Claims that do not parse are ignored, as are those
/// past the 128th.
///
/// ```
/// use ws_routes::rooms::Resume;
/// use ws_routes::{route, Rooms, State, WebSocket};
///
/// #[route("/news/{room}")]
/// async fn news(mut ws: WebSocket, room: String, resume: Resume, State(rooms): State<Rooms>) {
///     let me = ws.sender();
///     // Replays what the client missed, if the room's history still has it.
///     let recovery = rooms.join_since(&room, &me, resume.since(&room));
///     println!("joined {room}: {recovery:?}");
///     while let Some(Ok(_)) = ws.recv().await {}
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    claims: Vec<(String, Position)>,
}

impl Resume {
    /// Reads the `ws-resume` pairs of a query string (still encoded).
    pub(crate) fn from_query(query: &str) -> Self {
        let claims = form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name == RESUME_PARAMETER)
            .filter_map(|(_, value)| parse_claim(&value))
            .take(MAX_CLAIMS)
            .collect();
        Resume { claims }
    }

    /// The position the client claims in `room`, if any: what to give
    /// [`Rooms::join_since`](super::Rooms::join_since).
    pub fn since(&self, room: &str) -> Option<&Position> {
        self.claims
            .iter()
            .find(|(claimed, _)| claimed == room)
            .map(|(_, position)| position)
    }

    /// Every room the client claims a position in, with the position, in the order sent.
    pub fn claims(&self) -> impl Iterator<Item = (&str, &Position)> {
        self.claims
            .iter()
            .map(|(room, position)| (room.as_str(), position))
    }

    /// Whether the client claims nothing (a first connection).
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }
}

/// Parses one `EPOCH.OFFSET.ROOM` claim.
fn parse_claim(value: &str) -> Option<(String, Position)> {
    let (epoch, rest) = value.split_once('.')?;
    let (offset, room) = rest.split_once('.')?;
    valid_epoch(epoch).then_some(())?;
    Some((room.to_owned(), Position::new(epoch, offset.parse().ok()?)))
}

impl FromRequest for Resume {
    /// Never refuses: a handshake without claims gives an empty `Resume`.
    fn from_request(request: &Request) -> Result<Self, Reject> {
        Ok(Resume::from_query(request.query().as_str()))
    }
}

/// `url` with `positions` appended as `ws-resume` query pairs: what a reconnecting client
/// presents.
pub(crate) fn resume_url<'a>(
    url: &str,
    positions: impl IntoIterator<Item = (&'a str, &'a Position)>,
) -> String {
    let mut url = url.to_owned();
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (room, position) in positions {
        let claim = format!("{position}.{room}");
        url.push(separator);
        url.push_str(RESUME_PARAMETER);
        url.push('=');
        url.extend(form_urlencoded::byte_serialize(claim.as_bytes()));
        separator = '&';
    }
    url
}

/// `message` wrapped for a member that joined with positions: the same frame type, its
/// payload after `\x1e EPOCH.OFFSET SP ROOM \n`.
pub(crate) fn envelope(room: &str, position: &Position, message: &Message) -> Message {
    let room = utf8_percent_encode(room, ROOM);
    let header = format!("\u{1e}{position} {room}\n");
    let payload = message.as_bytes();
    let mut bytes = BytesMut::with_capacity(header.len() + payload.len());
    bytes.put_slice(header.as_bytes());
    bytes.put_slice(payload);
    let bytes = bytes.freeze();
    match message {
        Message::Text(_) => Message::Text(
            bytes
                .try_into()
                .expect("a valid header before valid UTF-8 is valid UTF-8"),
        ),
        Message::Binary(_) => Message::Binary(bytes),
    }
}

/// The outcome frame of a join: `\x1e ! STATUS SP REPLAYED SP EPOCH.OFFSET SP ROOM`, where the
/// position is the one the room's messages continue from for this client (its own claim when
/// recovered, else the newest message's).
pub(crate) fn outcome(room: &str, recovery: &Recovery, position: &Position) -> Message {
    let room = utf8_percent_encode(room, ROOM);
    Message::text(format!(
        "\u{1e}!{} {} {position} {room}",
        recovery.status(),
        recovery.replayed()
    ))
}

/// What [`Reconnecting::recv`](crate::reconnect::Reconnecting::recv) yields: a new connection, a
/// message, or what the server said about a room with history.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Received {
    /// A connection opened: the first one, or a new one after a drop (which presented the
    /// positions the client holds).
    Connected,
    /// A message that is not a room's with history: what the route sent, or a broadcast to a
    /// room without history, byte for byte.
    Message(Message),
    /// A message of a room with history, out of its envelope, at its position; the client now
    /// stands there in that room. Replayed messages come this way too, right after the
    /// room's [`Joined`](Received::Joined).
    Room {
        /// The room it was broadcast to.
        room: String,
        /// Where it stands in the room's history.
        position: Position,
        /// The message, as broadcast.
        message: Message,
    },
    /// The route joined this connection to a room with
    /// [`Rooms::join_since`](crate::Rooms::join_since): whether the messages missed there
    /// follow (they come next, before any live one) or cannot be had (the application should
    /// fetch the room's state anew). Also, with a [`Recovery::Lost`], in the middle of a
    /// connection whose server lost part of the room's history (a Redis restarted empty),
    /// before the first message after the loss.
    Joined {
        /// The room joined.
        room: String,
        /// Where the room's messages continue from for this client.
        position: Position,
        /// What became of the position the client claimed.
        recovery: Recovery,
    },
}

/// Reads a frame of the recovery protocol: a [`Received::Room`] or [`Received::Joined`];
/// `None` for any other message (which the application sent as it is).
pub(crate) fn unwrap(message: &Message) -> Option<Received> {
    let bytes = message.as_bytes();
    if bytes.first() != Some(&MARK) {
        return None;
    }
    if bytes.get(1) == Some(&b'!') {
        let text = message.as_text()?;
        let mut fields = text[2..].splitn(4, ' ');
        let status = fields.next()?;
        let replayed = fields.next()?.parse().ok()?;
        let position = Position::parse(fields.next()?)?;
        let room = decode_room(fields.next()?)?;
        let recovery = Recovery::from_wire(status, replayed)?;
        return Some(Received::Joined {
            room,
            position,
            recovery,
        });
    }
    let end = bytes.iter().position(|&byte| byte == b'\n')?;
    let header = std::str::from_utf8(&bytes[1..end]).ok()?;
    let (position, room) = header.split_once(' ')?;
    let position = Position::parse(position)?;
    let room = decode_room(room)?;
    let payload = Bytes::copy_from_slice(&bytes[end + 1..]);
    let message = match message {
        Message::Text(_) => Message::Text(payload.try_into().ok()?),
        Message::Binary(_) => Message::Binary(payload),
    };
    Some(Received::Room {
        room,
        position,
        message,
    })
}

fn decode_room(encoded: &str) -> Option<String> {
    percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_message_comes_back_out_of_its_envelope() {
        let position = Position::new("0a1b2c3d", 42);
        for message in [
            Message::text("hello, lobby"),
            Message::binary(vec![0, 1, 2, b'\n']),
        ] {
            let room = "a room/with %, spaces\nand é";
            let wrapped = envelope(room, &position, &message);
            assert_eq!(wrapped.is_text(), message.is_text());
            assert_eq!(
                unwrap(&wrapped),
                Some(Received::Room {
                    room: room.into(),
                    position: position.clone(),
                    message,
                })
            );
        }
        let text = envelope("lobby", &position, &Message::text("hi"));
        assert_eq!(text.as_text(), Some("\u{1e}0a1b2c3d.42 lobby\nhi"));
    }

    #[test]
    fn an_outcome_comes_back_with_its_recovery() {
        let position = Position::new("e1", 7);
        for recovery in [
            Recovery::New,
            Recovery::Recovered { replayed: 3 },
            Recovery::Lost(Unrecoverable::EpochChanged),
            Recovery::Lost(Unrecoverable::TooOld),
            Recovery::Lost(Unrecoverable::UnknownPosition),
            Recovery::Lost(Unrecoverable::NoHistory),
        ] {
            let frame = outcome("news room", &recovery, &position);
            assert_eq!(
                unwrap(&frame),
                Some(Received::Joined {
                    room: "news room".into(),
                    position: position.clone(),
                    recovery,
                })
            );
        }
    }

    #[test]
    fn messages_without_the_mark_are_the_application_s() {
        assert_eq!(unwrap(&Message::text("{\"a\":1}")), None);
        assert_eq!(unwrap(&Message::text("\u{1e}garbage")), None);
        assert_eq!(unwrap(&Message::binary(vec![])), None);
    }

    #[test]
    fn claims_go_into_the_url_and_back() {
        let lobby = Position::new("ab12", 5);
        let odd = Position::new("cd34", 0);
        let url = resume_url(
            "ws://h/chat?name=ada",
            [("lobby", &lobby), ("a.b & c", &odd)],
        );
        assert!(url.starts_with("ws://h/chat?name=ada&ws-resume=ab12.5.lobby&"));
        let resume = Resume::from_query(url.split_once('?').unwrap().1);
        assert_eq!(resume.since("lobby"), Some(&lobby));
        assert_eq!(resume.since("a.b & c"), Some(&odd));
        assert_eq!(resume.since("name"), None);
        assert_eq!(resume.claims().count(), 2);
    }

    #[test]
    fn claims_that_do_not_parse_are_ignored() {
        let resume = Resume::from_query(
            "ws-resume=nodots&ws-resume=e.x.room&ws-resume=bad%20epoch.1.room&ws-resume=e.1.",
        );
        assert_eq!(resume.claims().count(), 1);
        assert_eq!(resume.since(""), Some(&Position::new("e", 1)));
    }
}
