//! ws-routes' frame reader against tungstenite's, as an oracle, on the same random frame
//! streams without compression: both must yield the same messages and control frames, and end
//! the same way (the bytes ran out, a close frame, or the same class of failure).
//!
//! A unit test rather than an integration test: the reader is crate-internal, and testing it
//! here compares the very frames the connection engine receives, without widening the
//! crate's hidden fuzzing hooks for a test.
//!
//! The streams mix well-formed messages (fragmented at random points, so that UTF-8 is cut
//! anywhere, with pings and pongs between fragments) with close frames of every kind of code
//! and reason, oversized and fragmented control frames, frames with reserved bits or opcodes,
//! wrong masking for the role, lengths written in 16 or 64 bits where 7 would do, and 64-bit
//! lengths with the top bit set; limits are small enough to be hit. Each stream is also read
//! cut short within its last frame: tungstenite checks a frame once it has all of it, ws-routes
//! as its bytes arrive, so there ws-routes may fail first, and must then fail as it does on the
//! whole stream.
//!
//! Where the two readers part, RFC 6455 decides. Two differences in the order of checks
//! inside one frame that breaks two rules are allowed, as the RFC orders no checks
//! ([`allowed_difference`]); and one reading of tungstenite's is wrong: it refuses close code
//! 1014 while it accepts 1012 and 1013 (see [`tungstenite_refuses_1014`]).

use std::io::{self, Read, Write};

use proptest::prelude::*;
use proptest::sample::{Index, select};
use tungstenite::protocol::{Role as Side, WebSocket, WebSocketConfig};
use tungstenite::{Error as TheirError, Message as TheirMessage, error::ProtocolError};

use super::Reader;
use crate::error::Error;
use crate::wire::Message;
use crate::wire::frame::{Frame, Role};

/// What a reader handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

/// How a reader's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The bytes ran out (within a message or not).
    Exhausted,
    /// A close frame came: nothing after it is read.
    Closed,
    /// Failed with 1002.
    Protocol,
    /// Failed with 1007.
    Utf8,
    /// Failed with 1009.
    TooBig,
}

/// How a frame's payload length is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    Minimal,
    /// In 16 bits, even below 126 (RFC 6455 section 5.2 asks senders for the minimal form,
    /// and neither reader insists).
    Short,
    /// In 64 bits, even below 65,536.
    Long,
    /// In 64 bits with the most significant bit set, which section 5.2 forbids.
    TopBit,
}

/// Whether a frame is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mask {
    /// As the reading side requires (RFC 6455 section 5.1).
    Required,
    /// The other way.
    Wrong,
    /// Masked or not, whichever side reads it.
    Given(bool),
}

/// One frame of a stream.
#[derive(Debug, Clone)]
struct Spec {
    /// FIN, RSV1-3 and the opcode.
    first: u8,
    mask: Mask,
    length: Length,
    payload: Vec<u8>,
}

impl Spec {
    fn new(first: u8, payload: Vec<u8>) -> Self {
        Spec {
            first,
            mask: Mask::Required,
            length: Length::Minimal,
            payload,
        }
    }

    /// Whether it is masked when `reader` reads it.
    fn masked(&self, reader: Role) -> bool {
        match self.mask {
            Mask::Required => reader == Role::Server,
            Mask::Wrong => reader == Role::Client,
            Mask::Given(masked) => masked,
        }
    }

    fn opcode(&self) -> u8 {
        self.first & 0x0F
    }

    fn is_control(&self) -> bool {
        self.opcode() >= 8
    }

    /// The length its header announces.
    fn announced(&self) -> u64 {
        match self.length {
            Length::TopBit => 1 << 63 | self.payload.len() as u64,
            _ => self.payload.len() as u64,
        }
    }

    /// Appends the frame as a peer of `reader` would send it (`key` masks it when masked).
    fn encode(&self, reader: Role, key: [u8; 4], out: &mut Vec<u8>) {
        let masked = self.masked(reader);
        let mask_bit = if masked { 0x80 } else { 0 };
        let len = self.payload.len();
        out.push(self.first);
        match self.length {
            Length::Minimal if len < 126 => out.push(mask_bit | len as u8),
            Length::Minimal | Length::Short if len <= 0xFFFF => {
                out.push(mask_bit | 126);
                out.extend((len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend(self.announced().to_be_bytes());
            }
        }
        let start = out.len() + if masked { 4 } else { 0 };
        if masked {
            out.extend(key);
        }
        out.extend(&self.payload);
        if masked {
            crate::wire::frame::apply_mask(&mut out[start..], key, 0);
        }
    }
}

/// The settings both readers get.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_frame: usize,
    max_message: usize,
}

/// Text: mostly valid, cut anywhere by fragmentation; sometimes with an invalid sequence
/// (overlong, surrogate, past U+10FFFF, truncated) or any bytes.
fn text() -> impl Strategy<Value = Vec<u8>> {
    let invalid: Vec<&'static [u8]> = vec![
        b"\xff",
        b"\xc0\x80",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xe2\x82",
        b"\xf0\x9f",
        b"\x80",
    ];
    prop_oneof![
        6 => "[a-zé€𝄞 ]{0,40}".prop_map(String::into_bytes),
        2 => ("[a-zé€𝄞]{0,12}", select(invalid), "[a-zé€𝄞]{0,12}")
            .prop_map(|(head, bad, tail)| [head.as_bytes(), bad, tail.as_bytes()].concat()),
        1 => prop::collection::vec(any::<u8>(), 0..24),
    ]
}

/// A ping or a pong, now and then one over the 125 bytes a control frame may carry.
fn ping_or_pong() -> impl Strategy<Value = Spec> {
    let payload = prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..6),
        1 => prop::collection::vec(any::<u8>(), 125..=127),
    ];
    (select(vec![0x89, 0x8A]), payload).prop_map(|(first, payload)| Spec::new(first, payload))
}

/// A close frame: empty, one byte, or a code (valid, reserved, unassigned or out of range)
/// with a reason that is UTF-8 or not, now and then too long for a control frame.
fn close() -> impl Strategy<Value = Spec> {
    let codes = vec![
        0, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
        1014, 1015, 1016, 2000, 2999, 3000, 3999, 4000, 4040, 4999, 5000, 65535,
    ];
    let reason = prop_oneof![
        8 => "[a-zé ]{0,10}".prop_map(String::into_bytes),
        2 => Just(b"bad \xff".to_vec()),
        1 => (122..=124_usize).prop_map(|len| vec![b'r'; len]),
    ];
    let payload = prop_oneof![
        1 => Just(Vec::new()),
        1 => any::<u8>().prop_map(|byte| vec![byte]),
        6 => (select(codes), reason)
            .prop_map(|(code, reason)| [&u16::to_be_bytes(code)[..], &reason].concat()),
    ];
    payload.prop_map(|payload| Spec::new(0x88, payload))
}

/// A message as the RFC says to send it, in fragments cut at random points, with pings and
/// pongs between them.
fn message() -> impl Strategy<Value = Vec<Spec>> {
    let payload = prop_oneof![
        3 => text().prop_map(|payload| (true, payload)),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|payload| (false, payload)),
        1 => (any::<bool>(), 100..=260_usize).prop_map(|(text, len)| (text, vec![b'a'; len])),
    ];
    let cuts = prop::collection::vec(any::<Index>(), 0..4);
    let between = prop::collection::vec(prop::option::weighted(0.3, ping_or_pong()), 4);
    (payload, cuts, between).prop_map(|((text, payload), cuts, between)| {
        let mut cuts: Vec<usize> = cuts
            .iter()
            .map(|cut| cut.index(payload.len() + 1))
            .collect();
        cuts.sort_unstable();
        cuts.push(payload.len());
        let mut frames = Vec::new();
        let mut start = 0;
        for (index, &end) in cuts.iter().enumerate() {
            let opcode = match (index, text) {
                (0, true) => 0x1,
                (0, false) => 0x2,
                _ => 0x0,
            };
            let fin = if index + 1 == cuts.len() { 0x80 } else { 0 };
            frames.push(Spec::new(fin | opcode, payload[start..end].to_vec()));
            start = end;
            if let Some(Some(control)) = between.get(index).filter(|_| fin == 0) {
                frames.push(control.clone());
            }
        }
        frames
    })
}

/// Any frame at all.
fn noise() -> impl Strategy<Value = Spec> {
    (
        any::<u8>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(first, masked, payload)| Spec {
            first,
            mask: Mask::Given(masked),
            length: Length::Minimal,
            payload,
        })
}

/// One rule broken in one frame of a stream, or none.
#[derive(Debug, Clone)]
enum Mutation {
    Reserved(u8),
    Opcode(u8),
    FlipFin,
    FlipMask,
    Length(Length),
}

fn mutation() -> impl Strategy<Value = Option<(Index, Mutation)>> {
    let mutation = prop_oneof![
        select(vec![0x10, 0x20, 0x40, 0x70]).prop_map(Mutation::Reserved),
        select(vec![0x3, 0x7, 0xB, 0xF]).prop_map(Mutation::Opcode),
        Just(Mutation::FlipFin),
        Just(Mutation::FlipMask),
        select(vec![Length::Short, Length::Long, Length::TopBit]).prop_map(Mutation::Length),
    ];
    prop::option::weighted(0.3, (any::<Index>(), mutation))
}

/// A stream of frames: messages, control frames and noise, with a rule broken or not.
fn stream() -> impl Strategy<Value = Vec<Spec>> {
    let part = prop_oneof![
        6 => message(),
        2 => ping_or_pong().prop_map(|spec| vec![spec]),
        1 => close().prop_map(|spec| vec![spec]),
        1 => noise().prop_map(|spec| vec![spec]),
    ];
    let forms = prop::collection::vec(
        prop_oneof![
            8 => Just(Length::Minimal),
            1 => Just(Length::Short),
            1 => Just(Length::Long),
        ],
        32,
    );
    (prop::collection::vec(part, 1..6), forms, mutation()).prop_map(|(parts, forms, mutation)| {
        let mut frames: Vec<Spec> = parts.into_iter().flatten().collect();
        for (frame, form) in frames.iter_mut().zip(forms) {
            frame.length = form;
        }
        if let Some((at, mutation)) = mutation {
            let frame = at.get_mut(&mut frames);
            match mutation {
                Mutation::Reserved(bits) => frame.first |= bits,
                Mutation::Opcode(opcode) => frame.first = frame.first & 0xF0 | opcode,
                Mutation::FlipFin => frame.first ^= 0x80,
                Mutation::FlipMask => {
                    frame.mask = match frame.mask {
                        Mask::Required => Mask::Wrong,
                        Mask::Wrong => Mask::Required,
                        Mask::Given(masked) => Mask::Given(!masked),
                    }
                }
                Mutation::Length(length) => frame.length = length,
            }
        }
        frames
    })
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        3 => (125..=300_usize, 0..=400_usize),
        1 => Just((1 << 20, 1 << 20)),
    ]
    .prop_map(|(max_frame, max_message)| Limits {
        max_frame,
        max_message,
    })
}

/// Reads `frames` with ws-routes' reader, each frame's bytes in pieces of `piece` bytes: what
/// came out, how it ended, and the index of the frame it failed on.
fn ours(frames: &[Vec<u8>], role: Role, limits: Limits, piece: usize) -> (Vec<Event>, End, usize) {
    let mut reader = Reader::new(role, limits.max_frame, limits.max_message, None);
    let mut events = Vec::new();
    for (index, bytes) in frames.iter().enumerate() {
        for mut chunk in bytes.chunks(piece) {
            while !chunk.is_empty() {
                let (taken, frame) = match reader.feed(chunk) {
                    Ok(fed) => fed,
                    Err(error) => {
                        let end = match error {
                            Error::Protocol(_) => End::Protocol,
                            Error::InvalidUtf8 => End::Utf8,
                            Error::MessageTooBig => End::TooBig,
                            other => panic!("the reader failed with {other:?}"),
                        };
                        return (events, end, index);
                    }
                };
                chunk = &chunk[taken..];
                let event = match frame {
                    None => continue,
                    Some(Frame::Message(Message::Text(text))) => Event::Text(text.to_string()),
                    Some(Frame::Message(Message::Binary(data))) => Event::Binary(data.to_vec()),
                    Some(Frame::Ping(data)) => Event::Ping(data.to_vec()),
                    Some(Frame::Pong(data)) => Event::Pong(data.to_vec()),
                    Some(Frame::Close(close)) => {
                        let close =
                            close.map(|close| (close.code.into(), close.reason.to_string()));
                        events.push(Event::Close(close));
                        return (events, End::Closed, index);
                    }
                };
                events.push(event);
            }
        }
    }
    (events, End::Exhausted, frames.len())
}

/// The peer's bytes, handed out at most `piece` at a time; what tungstenite writes back
/// (pongs, its answer to a close) goes nowhere.
struct Wire {
    input: io::Cursor<Vec<u8>>,
    piece: usize,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(self.piece);
        self.input.read(&mut buf[..len])
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads `bytes` with tungstenite's reader under the same limits.
fn theirs(bytes: Vec<u8>, role: Role, limits: Limits, piece: usize) -> (Vec<Event>, End) {
    let side = match role {
        Role::Server => Side::Server,
        Role::Client => Side::Client,
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(limits.max_message))
        .max_frame_size(Some(limits.max_frame));
    let wire = Wire {
        input: io::Cursor::new(bytes),
        piece,
    };
    let mut socket = WebSocket::from_raw_socket(wire, side, Some(config));
    let mut events = Vec::new();
    loop {
        let event = match socket.read() {
            Ok(TheirMessage::Text(text)) => Event::Text(text.as_str().to_owned()),
            Ok(TheirMessage::Binary(data)) => Event::Binary(data.to_vec()),
            Ok(TheirMessage::Ping(data)) => Event::Ping(data.to_vec()),
            Ok(TheirMessage::Pong(data)) => Event::Pong(data.to_vec()),
            Ok(TheirMessage::Close(close)) => {
                let close = close.map(|close| (u16::from(close.code), close.reason.to_string()));
                // tungstenite does not fail on a close code that may not be sent: it hands
                // out a close frame of its own, 1002 "Protocol violation", and answers with it.
                // On the wire that is failing the connection with 1002.
                if matches!(&close, Some((1002, reason)) if reason == "Protocol violation") {
                    return (events, End::Protocol);
                }
                events.push(Event::Close(close));
                return (events, End::Closed);
            }
            Ok(TheirMessage::Frame(_)) => unreachable!("raw frames are only sent"),
            Err(TheirError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => {
                return (events, End::Exhausted);
            }
            Err(TheirError::Protocol(_)) => return (events, End::Protocol),
            Err(TheirError::Utf8(_)) => return (events, End::Utf8),
            Err(TheirError::Capacity(_)) => return (events, End::TooBig),
            Err(other) => panic!("tungstenite failed with {other}"),
        };
        events.push(event);
    }
}

/// The close codes RFC 6455 section 7.4 and the IANA registry it set up (section 11.7) allow
/// in a close frame: 1000-1003, 1007-1014 and 3000-4999.
fn allowed_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Whether the header of `frame`, read by `role` within a message or not, breaks a framing
/// rule of RFC 6455 section 5 (reserved bits or opcode, masking, control frame size or
/// fragmentation, the length's top bit, continuation).
fn breaks_framing(frame: &Spec, role: Role, in_message: bool) -> bool {
    let opcode = frame.opcode();
    frame.first & 0x70 != 0
        || !matches!(opcode, 0x0..=0x2 | 0x8..=0xA)
        || frame.masked(role) != (role == Role::Server)
        || frame.length == Length::TopBit
        || (frame.is_control() && (frame.first & 0x80 == 0 || frame.payload.len() > 125))
        || (opcode == 0x0 && !in_message)
        || (matches!(opcode, 0x1 | 0x2) && in_message)
}

/// Whether the readers may end differently on the frame at `failed` (every frame before it
/// read alike), because it breaks two rules and the RFC does not say which to report:
///
/// - tungstenite checks its frame size limit as soon as it has a header, before the reserved
///   bits, masking and control frame rules: a frame that breaks one of those and is also over
///   the limit fails there with 1009, here with 1002 (section 5.2 and 5.5 rules);
/// - for a close frame, tungstenite checks the reason's UTF-8 before the code, ws-routes the
///   code first: a bad code with a bad reason fails there with 1007, here with 1002
///   (sections 7.4.1 and 8.1).
fn allowed_difference(
    frames: &[Spec],
    failed: usize,
    role: Role,
    limits: Limits,
    (ours, theirs): (End, End),
) -> bool {
    let Some(frame) = frames.get(failed) else {
        return false;
    };
    let mut in_message = false;
    for earlier in &frames[..failed] {
        if !earlier.is_control() {
            in_message = earlier.first & 0x80 == 0;
        }
    }
    match (ours, theirs) {
        (End::Protocol, End::TooBig) => {
            frame.announced() > limits.max_frame as u64 && breaks_framing(frame, role, in_message)
        }
        (End::Protocol, End::Utf8) => {
            let payload = &frame.payload;
            frame.opcode() == 0x8
                && payload.len() >= 2
                && !allowed_code(u16::from_be_bytes([payload[0], payload[1]]))
                && std::str::from_utf8(&payload[2..]).is_err()
        }
        _ => false,
    }
}

/// tungstenite refuses close code 1014 ("Bad Gateway"), as if it were reserved, while it
/// accepts 1012 and 1013: all three are in the IANA registry of close codes that RFC 6455
/// section 11.7 set up, which section 7.4.2 defers to for codes 1000-2999. ws-routes accepts
/// it; tungstenite answers 1002. Whether this is the difference between the two runs.
fn tungstenite_refuses_1014(ours: &(Vec<Event>, End, usize), theirs: &(Vec<Event>, End)) -> bool {
    let (events, end, _) = ours;
    match events.split_last() {
        Some((Event::Close(Some((1014, _))), before)) => {
            *end == End::Closed && theirs.0 == before && theirs.1 == End::Protocol
        }
        _ => false,
    }
}

/// What ws-routes' reader made of a stream: the events, the end, and the index of the frame
/// it ended on.
type Ours = (Vec<Event>, End, usize);

/// Checks that the two runs on `frames` agree, but for the differences the RFC allows and
/// tungstenite's refusal of 1014.
fn agree(
    frames: &[Spec],
    role: Role,
    limits: Limits,
    ours: &Ours,
    theirs: &(Vec<Event>, End),
) -> Result<(), TestCaseError> {
    if tungstenite_refuses_1014(ours, theirs) {
        return Ok(());
    }
    let (events, end, failed) = ours;
    prop_assert_eq!(events, &theirs.0);
    if *end != theirs.1 {
        prop_assert!(
            allowed_difference(frames, *failed, role, limits, (*end, theirs.1)),
            "ws-routes ended {:?} on frame {}, tungstenite {:?}",
            end,
            failed,
            theirs.1
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The same streams, and the same streams cut short within their last frame.
    #[test]
    fn ws_routes_and_tungstenite_read_the_same_frame_streams_alike(
        frames in stream(),
        server in any::<bool>(),
        limits in limits(),
        key in any::<[u8; 4]>(),
        our_piece in prop_oneof![1..=16_usize, Just(usize::MAX)],
        their_piece in prop_oneof![1..=16_usize, Just(usize::MAX)],
        cut in prop::option::weighted(0.25, any::<Index>()),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let mut encoded: Vec<Vec<u8>> = frames
            .iter()
            .map(|frame| {
                let mut bytes = Vec::new();
                frame.encode(role, key, &mut bytes);
                bytes
            })
            .collect();
        let whole = ours(&encoded, role, limits, our_piece);
        agree(&frames, role, limits, &whole, &theirs(encoded.concat(), role, limits, their_piece))?;

        let Some(cut) = cut else {
            return Ok(());
        };
        let last = encoded.last_mut().expect("a stream has frames");
        last.truncate(cut.index(last.len()));
        let ours = ours(&encoded, role, limits, our_piece);
        let theirs = theirs(encoded.concat(), role, limits, their_piece);
        if ours.1 != End::Exhausted && theirs.1 == End::Exhausted {
            // tungstenite reads a frame whole before it checks its payload or its message's
            // size, ws-routes fails as soon as the bytes so far break a rule (section 8.1 for
            // UTF-8: "as soon as" is allowed): the failure must be the one the whole stream
            // gets, at the same frame.
            prop_assert_eq!(&ours.0, &theirs.0);
            prop_assert_eq!((ours.1, ours.2), (whole.1, whole.2));
        } else {
            agree(&frames, role, limits, &ours, &theirs)?;
        }
    }
}
