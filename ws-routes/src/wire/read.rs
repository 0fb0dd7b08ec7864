//! The receiving half of the protocol, without I/O: bytes go in as they arrive, frames come out
//! checked against RFC 6455 and the size limits.
//!
//! A frame's payload is unmasked and, for text, validated as its bytes arrive, so an invalid
//! message fails at the piece that breaks it and an oversized one before it is buffered. An
//! idle reader holds no buffer: a message's buffer exists while its bytes arrive. A message
//! whose one frame is all in the bytes given (most small messages: one read brings them whole)
//! skips that piecewise state: it is copied, unmasked and checked in one step.
//!
//! With permessage-deflate, a message whose first frame sets RSV1 is compressed: its frames
//! are gathered as they came, then inflated whole within the message size limit, and its text
//! validated once inflated.

use bytes::{Bytes, BytesMut};

use super::deflate::compression::{InflateError, Inflater};
use super::frame::{self, Frame, Header, MAX_CONTROL_PAYLOAD, MAX_HEADER, OpCode, Role, protocol};
use super::utf8::Utf8Validator;
use super::{CloseCode, CloseFrame, Message, Utf8Bytes};
use crate::error::Error;

/// The most a frame's announced length makes the reader reserve before its bytes arrive.
const EAGER_RESERVE: usize = 64 << 10;

/// How many bytes of a text frame are unmasked before they are checked as UTF-8.
const CHECK_PIECE: usize = 4 << 10;

/// Frames out of bytes, for one side of one connection.
#[derive(Debug)]
pub(crate) struct Reader {
    role: Role,
    max_frame: usize,
    max_message: usize,
    state: FramePart,
    /// The data message whose frames are arriving.
    message: Option<Partial>,
    /// The payload of the control frame arriving.
    control: BytesMut,
    /// With permessage-deflate negotiated: what inflates compressed messages (boxed: most
    /// connections have none, and would carry its room for nothing).
    inflater: Option<Box<Inflater>>,
}

/// Which part of a frame the reader is in.
#[derive(Debug)]
enum FramePart {
    /// Reading a header: the bytes of it so far.
    Header { bytes: [u8; MAX_HEADER], have: u8 },
    /// Reading a payload: how much of it has come, and how much is left.
    Payload {
        header: Header,
        seen: usize,
        left: usize,
    },
}

/// A data message being assembled.
#[derive(Debug)]
struct Partial {
    text: bool,
    /// Checks text as it arrives; `None` for binary and for compressed text (checked once
    /// inflated).
    utf8: Option<Utf8Validator>,
    /// RSV1 was set on the first frame: `data` is deflated.
    compressed: bool,
    data: BytesMut,
}

impl Reader {
    /// A reader for `role`; `inflater` when permessage-deflate was negotiated.
    pub(crate) fn new(
        role: Role,
        max_frame: usize,
        max_message: usize,
        inflater: Option<Inflater>,
    ) -> Self {
        Reader {
            role,
            max_frame,
            max_message,
            state: FramePart::Header {
                bytes: [0; MAX_HEADER],
                have: 0,
            },
            message: None,
            control: BytesMut::new(),
            inflater: inflater.map(Box::new),
        }
    }

    /// Takes bytes from `input` until a frame is complete or the input runs out: how many it
    /// took, and the frame, if one is complete.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<Frame>), Error> {
        let mut taken = 0;
        while taken < input.len() {
            let rest = &input[taken..];
            match &mut self.state {
                FramePart::Header { bytes, have } => {
                    let had = usize::from(*have);
                    // A header that arrived whole is decoded where it is.
                    if had == 0
                        && let Some(&second) = rest.get(1)
                        && let Some(header) = rest.get(..frame::header_len(second))
                    {
                        let header_len = header.len();
                        let header = frame::decode(header)?;
                        if let Some(message) = self.whole_message(&header, &rest[header_len..]) {
                            taken += header_len + message.data.len();
                            return Ok((taken, Some(Frame::Message(message.into_message()?))));
                        }
                        taken += header_len;
                        if let Some(frame) = self.begin(header)? {
                            return Ok((taken, Some(frame)));
                        }
                        continue;
                    }
                    let need = if had < 2 {
                        2
                    } else {
                        frame::header_len(bytes[1])
                    };
                    let take = (need - had).min(rest.len());
                    bytes[had..had + take].copy_from_slice(&rest[..take]);
                    *have += take as u8;
                    taken += take;
                    let full = frame::header_len(bytes[1]);
                    if had + take < need || had + take < full {
                        continue;
                    }
                    let header = frame::decode(&bytes[..full])?;
                    if let Some(frame) = self.begin(header)? {
                        return Ok((taken, Some(frame)));
                    }
                }
                FramePart::Payload { .. } => {
                    let take = self.payload_left().min(rest.len());
                    let target = self.target();
                    let start = target.len();
                    target.extend_from_slice(&rest[..take]);
                    taken += take;
                    if let Some(frame) = self.received(start)? {
                        return Ok((taken, Some(frame)));
                    }
                }
            }
        }
        Ok((taken, None))
    }

    /// How much of a data frame's payload is still to come (0 when no data payload arrives):
    /// that much may be read straight into [`payload_buffer`](Self::payload_buffer).
    pub(crate) fn data_left(&self) -> usize {
        match &self.state {
            FramePart::Payload { header, left, .. } if !header.opcode.is_control() => *left,
            _ => 0,
        }
    }

    /// The buffer a data frame's payload goes to, for reading into its spare capacity; then
    /// [`payload_read`](Self::payload_read) says how much came.
    pub(crate) fn payload_buffer(&mut self) -> &mut BytesMut {
        self.target()
    }

    /// Takes the `count` bytes just read into [`payload_buffer`](Self::payload_buffer).
    pub(crate) fn payload_read(&mut self, count: usize) -> Result<Option<Frame>, Error> {
        let target = self.target();
        let start = target.len() - count;
        self.received(start)
    }

    fn payload_left(&self) -> usize {
        match &self.state {
            FramePart::Payload { left, .. } => *left,
            FramePart::Header { .. } => 0,
        }
    }

    /// Where the current payload's bytes go.
    fn target(&mut self) -> &mut BytesMut {
        match (&self.state, &mut self.message) {
            (FramePart::Payload { header, .. }, Some(message)) if !header.opcode.is_control() => {
                &mut message.data
            }
            _ => &mut self.control,
        }
    }

    /// The message of a data frame that holds all of it and whose payload is all in `payload`
    /// already (one read brings most messages whole): its payload copied and unmasked in one
    /// step, without the piece-by-piece state of [`begin`](Self::begin) and
    /// [`received`](Self::received). `None` when the frame takes the general path: it is a
    /// fragment, compressed, a control frame, masked wrongly for the role, over a limit, or not
    /// all there; `begin` then checks it as usual.
    fn whole_message(&self, header: &Header, payload: &[u8]) -> Option<WholeMessage> {
        let text = match header.opcode {
            OpCode::Text => true,
            OpCode::Binary => false,
            _ => return None,
        };
        let masked_right = match self.role {
            Role::Server => header.mask.is_some(),
            Role::Client => header.mask.is_none(),
        };
        let len = usize::try_from(header.len).ok()?;
        let fits = len <= payload.len() && len <= self.max_frame && len <= self.max_message;
        if !header.fin || header.rsv1 || !masked_right || !fits || self.message.is_some() {
            return None;
        }
        let mut data = payload[..len].to_vec();
        if let Some(key) = header.mask {
            frame::apply_mask(&mut data, key, 0);
        }
        Some(WholeMessage { text, data })
    }

    /// Checks a header and starts its payload; a frame without payload may be complete at once.
    fn begin(&mut self, header: Header) -> Result<Option<Frame>, Error> {
        // RSV1 marks a compressed message: valid on its first frame, once permessage-deflate
        // is negotiated (RFC 7692 section 6).
        let compressed = header.rsv1;
        if compressed {
            if self.inflater.is_none() {
                return Err(protocol("RSV1 set without a negotiated extension"));
            }
            if !matches!(header.opcode, OpCode::Text | OpCode::Binary) {
                return Err(protocol("RSV1 set on a control or continuation frame"));
            }
        }
        match (self.role, header.mask) {
            (Role::Server, None) => return Err(protocol("unmasked frame from a client")),
            (Role::Client, Some(_)) => return Err(protocol("masked frame from a server")),
            _ => {}
        }
        let len = usize::try_from(header.len).unwrap_or(usize::MAX);
        if header.opcode.is_control() {
            if !header.fin {
                return Err(protocol("fragmented control frame"));
            }
            if len > MAX_CONTROL_PAYLOAD {
                return Err(protocol("control frame over 125 bytes"));
            }
            if header.opcode == OpCode::Close && len == 1 {
                return Err(protocol("close frame with a 1-byte payload"));
            }
            self.control = BytesMut::with_capacity(len);
        } else {
            let (so_far, compressed) = match (&self.message, header.opcode) {
                (None, OpCode::Continuation) => {
                    return Err(protocol("continuation frame without a message"));
                }
                (Some(_), OpCode::Text | OpCode::Binary) => {
                    return Err(protocol("new data frame before the message's last frame"));
                }
                (Some(message), _) => (message.data.len(), message.compressed),
                (None, _) => (0, compressed),
            };
            if len > self.max_frame || len > self.max_wire_message(compressed) - so_far {
                return Err(Error::MessageTooBig);
            }
            let reserve = len.min(EAGER_RESERVE);
            match &mut self.message {
                Some(message) => message.data.reserve(reserve),
                // A message's first frame: its buffer is allocated at the frame's size at once.
                None => {
                    let text = header.opcode == OpCode::Text;
                    self.message = Some(Partial {
                        text,
                        utf8: (text && !compressed).then(Utf8Validator::default),
                        compressed,
                        data: BytesMut::with_capacity(reserve),
                    });
                }
            }
        }
        self.state = FramePart::Payload {
            header,
            seen: 0,
            left: len,
        };
        if len > 0 {
            return Ok(None);
        }
        let end = self.target().len();
        self.received(end)
    }

    /// Unmasks and checks the payload bytes that arrived from `start` of the target buffer;
    /// ends the frame once its payload is complete.
    fn received(&mut self, start: usize) -> Result<Option<Frame>, Error> {
        let FramePart::Payload { header, seen, left } = &mut self.state else {
            unreachable!("payload bytes arrive in the payload state")
        };
        let header = *header;
        let (target, utf8) = match (&mut self.message, header.opcode.is_control()) {
            (Some(message), false) => (&mut message.data, message.utf8.as_mut()),
            _ => (&mut self.control, None),
        };
        let new = &mut target[start..];
        *left -= new.len();
        let done = *left == 0;
        unmask_and_check(new, header.mask, *seen, utf8)?;
        *seen += new.len();
        if !done {
            return Ok(None);
        }
        self.state = FramePart::Header {
            bytes: [0; MAX_HEADER],
            have: 0,
        };
        if header.opcode.is_control() {
            let payload = std::mem::take(&mut self.control).freeze();
            return control(header.opcode, payload).map(Some);
        }
        if !header.fin {
            return Ok(None);
        }
        let message = self
            .message
            .take()
            .expect("a data frame belongs to a message");
        if message
            .utf8
            .as_ref()
            .is_some_and(|utf8| !utf8.is_complete())
        {
            return Err(Error::InvalidUtf8);
        }
        let data = if message.compressed {
            self.inflate(&message.data, message.text)?
        } else {
            message.data.freeze()
        };
        Ok(Some(Frame::Message(checked_message(message.text, data))))
    }

    /// The most bytes a message may take on the wire: its limit, and for a compressed one
    /// the few bytes per block by which deflate can grow data that does not compress.
    fn max_wire_message(&self, compressed: bool) -> usize {
        if compressed {
            self.max_message
                .saturating_add(self.max_message / 4096)
                .saturating_add(64)
        } else {
            self.max_message
        }
    }

    /// Inflates a compressed message within the size limit; text is checked once inflated.
    fn inflate(&mut self, compressed: &[u8], text: bool) -> Result<Bytes, Error> {
        let inflater = self
            .inflater
            .as_mut()
            .expect("only a negotiated extension lets a compressed message in");
        let mut out = BytesMut::new();
        inflater
            .decompress(compressed, self.max_message, &mut out)
            .map_err(|error| match error {
                InflateError::TooBig => Error::MessageTooBig,
                InflateError::Invalid => Error::InvalidCompression,
            })?;
        if text && simdutf8::basic::from_utf8(&out).is_err() {
            return Err(Error::InvalidUtf8);
        }
        Ok(out.freeze())
    }
}

/// A data message that came in one frame, read at once ([`Reader::whole_message`]).
struct WholeMessage {
    text: bool,
    /// The payload, unmasked: as long as it was on the wire, and its buffer no longer (a
    /// `Vec` of that length becomes `Bytes` without a copy or a second allocation).
    data: Vec<u8>,
}

impl WholeMessage {
    /// The message; text is checked for UTF-8 here, all at once.
    fn into_message(self) -> Result<Message, Error> {
        if self.text && simdutf8::basic::from_utf8(&self.data).is_err() {
            return Err(Error::InvalidUtf8);
        }
        Ok(checked_message(self.text, Bytes::from(self.data)))
    }
}

/// A text message of `data` already checked to be UTF-8, or a binary one.
fn checked_message(text: bool, data: Bytes) -> Message {
    if text {
        Message::Text(Utf8Bytes::from_bytes_unchecked(data))
    } else {
        Message::Binary(data)
    }
}

/// A complete control frame.
fn control(opcode: OpCode, payload: Bytes) -> Result<Frame, Error> {
    Ok(match opcode {
        OpCode::Ping => Frame::Ping(payload),
        OpCode::Pong => Frame::Pong(payload),
        _ if payload.is_empty() => Frame::Close(None),
        _ => {
            let code = CloseCode::from(u16::from_be_bytes([payload[0], payload[1]]));
            if !code.is_allowed_on_the_wire() {
                return Err(protocol("invalid close code"));
            }
            let reason = Utf8Bytes::try_from(payload.slice(2..)).map_err(|_| Error::InvalidUtf8)?;
            Frame::Close(Some(CloseFrame { code, reason }))
        }
    })
}

/// Unmasks the payload bytes `new`, which start `seen` bytes into their frame, and checks them
/// as UTF-8 when they are text. Text goes a piece at a time, so that the check reads bytes the
/// unmasking has just left in the nearest cache; pieces after the first start on a cache line.
fn unmask_and_check(
    new: &mut [u8],
    mask: Option<[u8; 4]>,
    seen: usize,
    utf8: Option<&mut Utf8Validator>,
) -> Result<(), Error> {
    let Some(utf8) = utf8 else {
        if let Some(key) = mask {
            frame::apply_mask(new, key, seen);
        }
        return Ok(());
    };
    let mut at = 0;
    let mut rest = new;
    while !rest.is_empty() {
        let aligned = rest.as_ptr().align_offset(frame::CACHE_LINE);
        let end = aligned.saturating_add(CHECK_PIECE).min(rest.len());
        let (piece, after) = rest.split_at_mut(end);
        if let Some(key) = mask {
            frame::apply_mask(piece, key, seen + at);
        }
        utf8.feed(piece).map_err(|_| Error::InvalidUtf8)?;
        at += piece.len();
        rest = after;
    }
    Ok(())
}

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    /// A client frame: masked, with `first` as its first byte (FIN, RSV, opcode).
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut header = [0; MAX_HEADER];
        let opcode = match first & 0x0F {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            _ => OpCode::Pong,
        };
        let len = frame::encode_header(&mut header, true, false, opcode, payload.len(), Some(KEY));
        header[0] = first;
        let mut bytes = header[..len].to_vec();
        let mut payload = payload.to_vec();
        frame::apply_mask(&mut payload, KEY, 0);
        bytes.extend(payload);
        bytes
    }

    fn reader() -> Reader {
        Reader::new(Role::Server, 1000, 2000, None)
    }

    /// Feeds `bytes` `piece` bytes at a time; the frames that came out, or the first error.
    fn feed(reader: &mut Reader, bytes: &[u8], piece: usize) -> Result<Vec<Frame>, Error> {
        let mut frames = Vec::new();
        for mut chunk in bytes.chunks(piece) {
            while !chunk.is_empty() {
                let (taken, frame) = reader.feed(chunk)?;
                frames.extend(frame);
                chunk = &chunk[taken..];
            }
        }
        Ok(frames)
    }

    #[test]
    fn a_fragmented_text_with_a_ping_between_comes_out_whole_at_any_read_size() {
        let mut bytes = frame(0x01, "κό".as_bytes());
        bytes.extend(frame(0x89, b"hi"));
        bytes.extend(frame(0x00, "σ".as_bytes()));
        bytes.extend(frame(0x80, "με".as_bytes()));
        for piece in 1..=bytes.len() {
            let frames = feed(&mut reader(), &bytes, piece).unwrap();
            assert!(
                matches!(&frames[..], [Frame::Ping(ping), Frame::Message(Message::Text(text))]
                if ping == "hi" && text == "κόσμε")
            );
        }
    }

    #[test]
    fn continuation_rules_masking_and_fragmented_control_frames_are_protocol_errors() {
        for bytes in [
            frame(0x80, b"lost"),
            [frame(0x01, b"a"), frame(0x81, b"b")].concat(),
            frame(0x09, b"fragmented ping"),
            frame(0x89, &[0; 126]),
            frame(0x88, &[3]),
            frame(0x88, &1005_u16.to_be_bytes()),
            b"\x81\x02hi".to_vec(),
            frame(0xC1, b"compressed?"),
        ] {
            assert!(matches!(
                feed(&mut reader(), &bytes, 64),
                Err(Error::Protocol(_))
            ));
        }
    }

    #[test]
    fn invalid_utf8_fails_before_the_frame_is_complete() {
        let bytes = frame(0x81, b"valid, then \xed\xa0\x80 and more to come");
        let cut = bytes.len() - 10;
        assert!(matches!(
            feed(&mut reader(), &bytes[..cut], 64),
            Err(Error::InvalidUtf8)
        ));
        let close = [&1000_u16.to_be_bytes()[..], b"\xff"].concat();
        assert!(matches!(
            feed(&mut reader(), &frame(0x88, &close), 64),
            Err(Error::InvalidUtf8)
        ));
    }

    #[test]
    fn a_long_text_is_unmasked_and_checked_right_across_its_pieces() {
        let text = "aé€😀".repeat(2000);
        let bytes = frame(0x81, text.as_bytes());
        let long_reader = || Reader::new(Role::Server, 1 << 20, 1 << 20, None);
        for piece in [1000, 4095, 4096, 4097, 9000, 12_345] {
            let frames = feed(&mut long_reader(), &bytes, piece).unwrap();
            assert!(
                matches!(&frames[..], [Frame::Message(Message::Text(got))] if *got == *text),
                "read {piece} bytes at a time"
            );
        }
        let mut broken = text.into_bytes();
        broken[15_000] = 0xFF;
        let bytes = frame(0x81, &broken);
        for piece in [9000, 16_384] {
            assert!(matches!(
                feed(&mut long_reader(), &bytes, piece),
                Err(Error::InvalidUtf8)
            ));
        }
    }

    #[test]
    fn a_message_that_arrives_whole_is_taken_in_one_step_and_what_follows_is_left() {
        let first = frame(0x81, "κόσμε".as_bytes());
        let mut bytes = first.clone();
        bytes.extend(frame(0x82, &[1, 2, 3]));
        let mut whole = reader();
        let (taken, got) = whole.feed(&bytes).unwrap();
        assert_eq!(taken, first.len());
        assert!(matches!(got, Some(Frame::Message(Message::Text(text))) if text == "κόσμε"));
        let (taken, got) = whole.feed(&bytes[first.len()..]).unwrap();
        assert_eq!(first.len() + taken, bytes.len());
        assert!(
            matches!(got, Some(Frame::Message(Message::Binary(data))) if data[..] == [1, 2, 3])
        );
        assert!(matches!(
            whole.feed(&frame(0x81, b"whole, and \xed\xa0\x80 is not UTF-8")),
            Err(Error::InvalidUtf8)
        ));
        assert!(matches!(
            reader().feed(b"\x81\x02hi"),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn only_a_whole_final_data_frame_within_the_limits_takes_the_one_step_path() {
        let takes = |bytes: &[u8], available: usize| {
            let header_len = frame::header_len(bytes[1]);
            let header = frame::decode(&bytes[..header_len]).unwrap();
            reader()
                .whole_message(&header, &bytes[header_len..available])
                .is_some()
        };
        for first in [0x81, 0x82] {
            let bytes = frame(first, b"whole");
            assert!(takes(&bytes, bytes.len()), "{first:#x}");
            assert!(!takes(&bytes, bytes.len() - 1), "{first:#x}, cut short");
        }
        for bytes in [
            frame(0x01, b"first of several"),
            frame(0x89, b"ping"),
            frame(0x82, &[0; 1001]),
        ] {
            assert!(!takes(&bytes, bytes.len()), "{:#x}", bytes[0]);
        }
    }

    #[test]
    fn oversized_frames_and_messages_fail_at_the_header() {
        let header = &frame(0x82, &[0; 1001])[..8];
        assert!(matches!(
            feed(&mut reader(), header, 64),
            Err(Error::MessageTooBig)
        ));
        let mut bytes = frame(0x02, &[0; 1000]);
        bytes.extend(frame(0x00, &[0; 999]));
        assert!(feed(&mut reader(), &bytes, 4096).is_ok());
        bytes.extend(&frame(0x80, &[0; 2])[..6]);
        assert!(matches!(
            feed(&mut reader(), &bytes, 4096),
            Err(Error::MessageTooBig)
        ));
    }

    #[test]
    fn close_frames_carry_their_code_and_reason() {
        let payload = [&4040_u16.to_be_bytes()[..], b"no route"].concat();
        let frames = feed(&mut reader(), &frame(0x88, &payload), 64).unwrap();
        assert!(matches!(&frames[..], [Frame::Close(Some(close))]
            if close.code == 4040 && close.reason == "no route"));
        let frames = feed(&mut reader(), &frame(0x88, b""), 64).unwrap();
        assert!(matches!(&frames[..], [Frame::Close(None)]));
    }
}
