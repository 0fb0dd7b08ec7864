//! The frame reader under fuzzing, with or without permessage-deflate. A stream is built from
//! well-formed messages (fragmented, pings between fragments, text cut anywhere, compressed or
//! not), close frames, arbitrary frames (any header bits, mask, length form, even a length that
//! lies) and raw bytes; the reader takes it in arbitrary pieces, some of them straight into a
//! payload as a large socket read would.
//!
//! Checked on every input: no panic; the same frames and the same error whatever the pieces;
//! a text message is UTF-8, no message exceeds the limit (inflated, with deflate), a control
//! frame's payload is at most 125 bytes and a close code is one allowed on the wire. While the
//! stream is made of well-formed items only, the reader yields exactly what a model of RFC 6455
//! and RFC 7692 predicts: the messages and pings as sent, or the failure the first message that
//! breaks a limit or the UTF-8 rule must cause, at the fragment that breaks it.

use flate2::{Compress, Compression, FlushCompress};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use ws_routes::__private::{FrameReader, ReadFrame};
use ws_routes::{Bytes, CloseFrame, Error, Message, Utf8Bytes};

/// The longest stream built: a few fuzz bytes can ask for large messages.
const MAX_STREAM: usize = 256 << 10;

/// One fuzz input: a reader's settings, a stream, and how it arrives.
#[derive(Debug, Arbitrary)]
pub struct Input {
    /// A server's reader (masked frames in) or a client's.
    server: bool,
    max_frame: u16,
    max_message: u16,
    /// With permessage-deflate: whether the peer keeps its compression context.
    takeover: bool,
    items: Vec<Item>,
    /// The sizes of the pieces the stream arrives in (see [`crate::pieces`]).
    pieces: Vec<u8>,
    /// Bit `i % 64`: piece `i` goes straight into a data payload when one is due.
    direct: u64,
}

/// A part of the stream.
#[derive(Debug, Arbitrary)]
enum Item {
    Message(MessageSpec),
    /// A close frame with this code (none: an empty payload) and reason.
    Close {
        code: Option<u16>,
        reason: Vec<u8>,
    },
    Frame(FrameSpec),
    Raw(Vec<u8>),
}

/// A message sent the way the RFC says, masked as the role requires.
#[derive(Debug, Arbitrary)]
struct MessageSpec {
    text: bool,
    data: Data,
    /// Compressed (RSV1 on its first frame), when the reader has permessage-deflate.
    compressed: bool,
    /// The sizes of its fragments (see [`crate::pieces`]).
    fragments: Vec<u8>,
    /// A ping between each two fragments.
    pings: bool,
    key: [u8; 4],
}

#[derive(Debug, Arbitrary)]
enum Data {
    Text(String),
    Bytes(Vec<u8>),
    /// A byte repeated: a large message from a short input (and a deflate bomb).
    Repeat(u8, u16),
}

/// Any frame.
#[derive(Debug, Arbitrary)]
struct FrameSpec {
    /// FIN, RSV1-3 and the opcode.
    first: u8,
    key: Option<[u8; 4]>,
    length: Length,
    payload: Vec<u8>,
}

/// How a frame's length is written.
#[derive(Debug, Arbitrary)]
enum Length {
    Minimal,
    /// In 16 bits when it fits, even below 126.
    Short,
    /// In 64 bits, even below 65,536.
    Long,
    /// This length in 64 bits, whatever the payload's.
    Claimed(u64),
}

/// How a well-formed stream must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    TooBig,
    Utf8,
    Protocol,
}

/// What the model predicts: frames, then a failure or nothing; `complete` once every item
/// was modelled (otherwise the frames are only the start of what comes out).
#[derive(Debug, Default)]
struct Expected {
    frames: Vec<ReadFrame>,
    failure: Option<Failure>,
    complete: bool,
}

/// Runs one input; `deflate` gives the reader permessage-deflate.
pub fn run(input: Input, deflate: bool) {
    let max_frame = usize::from(input.max_frame % 1024);
    let max_message = usize::from(input.max_message % 4096);
    let mut stream = Vec::new();
    let mut model = Model {
        server: input.server,
        deflate,
        max_frame,
        max_message,
        compressor: (deflate && input.takeover).then(new_compressor),
        expected: Expected::default(),
        modelled: true,
    };
    for item in &input.items {
        model.add(item, &mut stream);
        if stream.len() > MAX_STREAM {
            return;
        }
    }
    model.expected.complete = model.modelled;
    let inflate = deflate.then_some(input.takeover);
    let new_reader = || FrameReader::new(input.server, max_frame, max_message, inflate);

    let whole = read(new_reader(), [&stream[..]], 0);
    let pieces = read(
        new_reader(),
        crate::pieces(&stream, &input.pieces),
        input.direct,
    );
    let (frames, error) = whole;
    assert!(frames == pieces.0, "the pieces changed the frames read");
    assert_eq!(
        format!("{error:?}"),
        format!("{:?}", pieces.1),
        "the pieces changed the error"
    );
    for frame in &frames {
        check(frame, max_message);
    }
    let expected = model.expected;
    assert!(
        frames.starts_with(&expected.frames),
        "read {frames:?} then {error:?}, expected {expected:?}"
    );
    if expected.complete {
        assert_eq!(frames.len(), expected.frames.len(), "{expected:?}");
        let failure = error.as_ref().map(|error| match error {
            Error::MessageTooBig => Failure::TooBig,
            Error::InvalidUtf8 => Failure::Utf8,
            Error::Protocol(_) => Failure::Protocol,
            other => panic!("a well-formed stream failed with {other:?}"),
        });
        assert_eq!(failure, expected.failure, "{error:?}");
    }
}

/// Reads `pieces` with `reader`, piece `i` straight into a data payload when bit `i % 64` of
/// `direct` says so: the frames, and the error that ended the stream, if any.
fn read<'a>(
    mut reader: FrameReader,
    pieces: impl IntoIterator<Item = &'a [u8]>,
    direct: u64,
) -> (Vec<ReadFrame>, Option<Error>) {
    let mut frames = Vec::new();
    for (index, mut piece) in pieces.into_iter().enumerate() {
        let straight = direct >> (index % 64) & 1 == 1;
        while !piece.is_empty() {
            let step = match straight {
                true => reader.read_payload(piece),
                false => Ok((0, None)),
            };
            let step = match step {
                Ok((0, None)) => reader.feed(piece),
                step => step,
            };
            match step {
                Ok((taken, frame)) => {
                    frames.extend(frame);
                    piece = &piece[taken..];
                }
                Err(error) => return (frames, Some(error)),
            }
        }
    }
    (frames, None)
}

/// What holds for any frame the reader yields.
fn check(frame: &ReadFrame, max_message: usize) {
    match frame {
        ReadFrame::Message(message) => {
            assert!(message.len() <= max_message, "{} bytes", message.len());
            if let Message::Text(text) = message {
                assert!(std::str::from_utf8(text.as_bytes()).is_ok());
            }
        }
        ReadFrame::Ping(payload) | ReadFrame::Pong(payload) => assert!(payload.len() <= 125),
        ReadFrame::Close(Some(close)) => {
            assert!(close.reason.len() <= CloseFrame::MAX_REASON_LEN);
            assert!(allowed(u16::from(close.code)), "{close:?}");
        }
        ReadFrame::Close(None) => {}
    }
}

/// The close codes RFC 6455 section 7.4 and the IANA registry allow in a close frame.
fn allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Builds the stream and predicts what the reader makes of it.
struct Model {
    server: bool,
    deflate: bool,
    max_frame: usize,
    max_message: usize,
    /// With context takeover, the one compressor of the stream.
    compressor: Option<Compress>,
    expected: Expected,
    /// Every item so far was well-formed, and nothing has failed yet.
    modelled: bool,
}

impl Model {
    /// Appends `item` to `stream`, and its frames or failure to the prediction.
    fn add(&mut self, item: &Item, stream: &mut Vec<u8>) {
        match item {
            Item::Message(message) => self.message(message, stream),
            Item::Close { code, reason } => {
                let mut payload = Vec::new();
                if let Some(code) = code {
                    payload.extend(code.to_be_bytes());
                    payload.extend(reason);
                }
                let key = self.server.then_some([0x5A, 0x01, 0xC3, 0x7E]);
                encode(stream, 0x88, key, &Length::Minimal, &payload);
                let outcome = match (*code, std::str::from_utf8(reason)) {
                    (None, _) => Ok(ReadFrame::Close(None)),
                    _ if payload.len() > 125 => Err(Failure::Protocol),
                    (Some(code), _) if !allowed(code) => Err(Failure::Protocol),
                    (Some(_), Err(_)) => Err(Failure::Utf8),
                    (Some(code), Ok(reason)) => Ok(ReadFrame::Close(Some(CloseFrame {
                        code: code.into(),
                        reason: Utf8Bytes::from(reason),
                    }))),
                };
                self.expect(outcome);
            }
            Item::Frame(frame) => {
                encode(
                    stream,
                    frame.first,
                    frame.key,
                    &frame.length,
                    &frame.payload,
                );
                self.modelled = false;
            }
            Item::Raw(bytes) => {
                stream.extend(bytes);
                self.modelled = false;
            }
        }
    }

    /// Records a frame or a failure, while the stream is still modelled.
    fn expect(&mut self, outcome: Result<ReadFrame, Failure>) {
        if !self.modelled {
            return;
        }
        match outcome {
            Ok(frame) => self.expected.frames.push(frame),
            Err(failure) => {
                self.expected.failure = Some(failure);
                self.modelled = false;
            }
        }
    }

    fn message(&mut self, spec: &MessageSpec, stream: &mut Vec<u8>) {
        let data = match &spec.data {
            Data::Text(text) => text.as_bytes().to_vec(),
            Data::Bytes(bytes) => bytes.clone(),
            Data::Repeat(byte, count) => vec![*byte; usize::from(*count)],
        };
        let compressed = spec.compressed && self.deflate;
        let wire = if compressed {
            self.compress(&data)
        } else {
            data.clone()
        };
        // A compressed message may take a little more than the limit on the wire: the
        // reader allows what deflate adds to data that does not compress.
        let wire_limit = if compressed {
            self.max_message + self.max_message / 4096 + 64
        } else {
            self.max_message
        };
        let key = self.server.then_some(spec.key);
        let mut fragments: Vec<&[u8]> = crate::pieces(&wire, &spec.fragments).collect();
        if fragments.is_empty() {
            fragments.push(&[]);
        }
        let mut outcome = None;
        let mut so_far = 0;
        // The end of the text known to be valid so far.
        let mut checked = 0;
        for (index, fragment) in fragments.iter().enumerate() {
            if index > 0 && spec.pings {
                let ping = [index as u8];
                encode(stream, 0x89, key, &Length::Minimal, &ping);
                if outcome.is_none() {
                    self.expect(Ok(ReadFrame::Ping(Bytes::copy_from_slice(&ping))));
                }
            }
            let fin = if index + 1 == fragments.len() {
                0x80
            } else {
                0
            };
            let opcode = match (index, spec.text) {
                (0, true) => 0x1,
                (0, false) => 0x2,
                _ => 0x0,
            };
            let rsv1 = if compressed && index == 0 { 0x40 } else { 0 };
            encode(stream, fin | rsv1 | opcode, key, &Length::Minimal, fragment);
            if outcome.is_some() {
                continue;
            }
            if fragment.len() > self.max_frame || fragment.len() > wire_limit - so_far {
                outcome = Some(Err(Failure::TooBig));
                continue;
            }
            so_far += fragment.len();
            if !spec.text || compressed {
                continue;
            }
            // Text is checked as it arrives: the fragment that makes it invalid fails.
            match std::str::from_utf8(&wire[checked..so_far]) {
                Ok(_) => checked = so_far,
                Err(error) if error.error_len().is_none() => checked += error.valid_up_to(),
                Err(_) => outcome = Some(Err(Failure::Utf8)),
            }
        }
        let outcome = outcome.unwrap_or_else(|| {
            if compressed && data.len() > self.max_message {
                Err(Failure::TooBig)
            } else if spec.text {
                String::from_utf8(data)
                    .map(Message::text)
                    .map_err(|_| Failure::Utf8)
            } else {
                Ok(Message::binary(data))
            }
        });
        self.expect(outcome.map(ReadFrame::Message));
    }

    /// `data` compressed as one message (RFC 7692 section 7.2.1): with the stream's
    /// compressor under context takeover, else on its own.
    fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        if data.is_empty() {
            // An empty stored block without its tail (section 7.2.3.6): zlib writes nothing
            // for a second sync flush in a row.
            return vec![0x00];
        }
        let mut own = None;
        let compressor = match &mut self.compressor {
            Some(compressor) => compressor,
            None => own.insert(new_compressor()),
        };
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut consumed = 0;
        loop {
            let before = compressor.total_in();
            out.reserve(data.len() / 2 + 64);
            compressor
                .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
                .expect("deflate takes any input");
            consumed += (compressor.total_in() - before) as usize;
            if consumed == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        out.strip_suffix(&[0x00, 0x00, 0xff, 0xff])
            .expect("a sync flush ends with an empty stored block")
            .to_vec()
    }
}

fn new_compressor() -> Compress {
    Compress::new(Compression::fast(), false)
}

/// Appends a frame with first byte `first`, masked with `key`, its length written as `length`
/// says.
fn encode(stream: &mut Vec<u8>, first: u8, key: Option<[u8; 4]>, length: &Length, payload: &[u8]) {
    let masked = if key.is_some() { 0x80 } else { 0 };
    let len = payload.len() as u64;
    stream.push(first);
    match length {
        Length::Minimal if len < 126 => stream.push(masked | len as u8),
        Length::Minimal | Length::Short if len <= 0xFFFF => {
            stream.push(masked | 126);
            stream.extend((len as u16).to_be_bytes());
        }
        Length::Minimal | Length::Short | Length::Long => {
            stream.push(masked | 127);
            stream.extend(len.to_be_bytes());
        }
        Length::Claimed(claimed) => {
            stream.push(masked | 127);
            stream.extend(claimed.to_be_bytes());
        }
    }
    stream.extend(key.iter().flatten());
    let start = stream.len();
    stream.extend(payload);
    if let Some(key) = key {
        for (i, byte) in stream[start..].iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
}
