//! Compressing each outgoing message and inflating each incoming one within the message size
//! limit, with the parameters that [`negotiation`](super::negotiation) agreed.
//!
//! # Memory, and why contexts are shared
//!
//! The backend is flate2 on zlib-rs (pure Rust, zlib-compatible, raw deflate with window bits).
//! Its contexts are far larger than zlib's formulas suggest, and flate2 exposes no `memLevel`
//! (it is fixed at 8). Measured with a counting allocator (zlib-rs 0.6.8, 64-bit):
//!
//! | window bits | deflate context | inflate context |
//! |-------------|-----------------|-----------------|
//! | 9 (and 8)   | 245 KiB         | 46.4 KiB        |
//! | 10          | 247 KiB         | 46.4 KiB        |
//! | 11          | 251 KiB         | 46.4 KiB        |
//! | 12          | 259 KiB         | 46.4 KiB        |
//! | 13          | 275 KiB         | 46.4 KiB        |
//! | 14          | 307 KiB         | 46.4 KiB        |
//! | 15          | 371 KiB         | 46.4 KiB        |
//!
//! A deflate context is a fixed 128 KiB hash head (2^16 entries, whatever the window), 112 KiB
//! of literal buffers (memLevel 8), `4 << bits` of window and chain, and its state. zlib's own
//! figures would be `(1 << (bits + 2)) + (1 << (memLevel + 9))`, about 24 KiB at 12 bits and
//! memLevel 5 (Python `websockets`' defaults), but that needs memLevel, which flate2 hides.
//! An inflate context always allocates a 32 KiB window (zlib's would be `1 << bits`, allocated
//! on first use) plus its state, so window bits save no inflate memory here.
//!
//! So a context kept per connection costs 46 KiB (inflate) to 371 KiB (deflate), against a
//! target of 16 KiB per idle connection. Hence:
//!
//! - Without context takeover a context carries nothing from one message to the next, so one
//!   context per thread serves every connection of that thread: a thread-local compressor per
//!   (window bits, level) in use and one thread-local decompressor, reset after each message.
//!   A connection then holds no context at all between messages. Measured per 1 KiB JSON-like
//!   message at 12 bits, level 6 (release build): a shared context reset after each message
//!   costs 21 us, creating and dropping one per message 46 us, a kept context (takeover) 11 us;
//!   for inflation, 1-3 us either way.
//! - With context takeover the context must survive between messages, so the [`Deflater`] or
//!   [`Inflater`] keeps its own, created on its first message: 46 KiB or 245-371 KiB per
//!   connection for as long as it lives.
//!
//! The defaults therefore ask for no context takeover in both directions (a server may always
//! add both parameters to its response, RFC 7692 section 7.1.1): an idle compressed connection
//! costs nothing beyond an uncompressed one, at the price of compressing each message on its
//! own. Turning takeover on is a documented trade of the memory above for compression ratio.
//!
//! # Window bits 8
//!
//! zlib (and zlib-rs) refuses a raw deflate window of 8 bits, and flate2 panics on 8 in either
//! direction. Yet a 9-bit zlib compressor never emits a distance beyond `512 - 262 = 250`
//! bytes (its window size less its lookahead), which fits a 256-byte window: that is why zlib
//! silently turns 8 into 9 where it can. So [negotiation](super::negotiation) accepts
//! `server_max_window_bits=8` as the RFC asks of a server that accepts the offer, and this
//! module compresses with 9 bits; decompression
//! always uses a 15-bit window, which decodes what any smaller window produced. Python
//! `websockets` instead passes 8 to zlib, which rejects it in zlib 1.2.9 and later.

use std::cell::RefCell;
use std::io;

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::negotiation::Negotiated;
use crate::wire::frame::Role;

/// The empty stored block a sync flush ends with: stripped from every compressed message on
/// the wire and appended again before inflating it (RFC 7692 section 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The largest output step of decompression: the most a message is inflated at a time.
const INFLATE_CHUNK: usize = 16 * 1024;

/// The largest output step of compression.
const DEFLATE_CHUNK: usize = 64 * 1024;
/// Why an incoming compressed message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InflateError {
    /// It inflates past the message size limit (close code 1009).
    #[error("message too big")]
    TooBig,
    /// It is not valid deflate data (close code 1007).
    #[error("invalid compressed data")]
    Invalid,
}
/// How a compressor without context takeover works: its zlib window and level. Connections
/// with equal keys compress a message to the same bytes, so a broadcast is compressed once
/// for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SharedKey {
    window_bits: u8,
    level: u32,
}

impl SharedKey {
    /// Compresses one message with this thread's shared compressor for the key.
    pub(crate) fn compress(self, payload: &[u8]) -> io::Result<Bytes> {
        let mut out = BytesMut::with_capacity(payload.len() / 2 + 64);
        compress_shared(payload, self.window_bits, self.level, &mut out)?;
        Ok(out.freeze())
    }
}

/// The compressing half of one connection's permessage-deflate.
#[derive(Debug)]
pub(crate) struct Deflater {
    /// The zlib window: the agreed bits, 8 raised to 9 (see the module documentation).
    window_bits: u8,
    /// The zlib level, 0..=9.
    level: u32,
    /// Whether the context carries over from one message to the next.
    takeover: bool,
    /// With takeover, the connection's own context, created with its first message.
    context: Option<Compress>,
}

impl Deflater {
    /// A compressor for `role`'s direction of a connection that agreed on `negotiated`.
    pub(crate) fn new(negotiated: &Negotiated, role: Role, level: u32) -> Self {
        let (bits, no_takeover) = match role {
            Role::Server => (
                negotiated.server_max_window_bits,
                negotiated.server_no_context_takeover,
            ),
            Role::Client => (
                negotiated.client_max_window_bits,
                negotiated.client_no_context_takeover,
            ),
        };
        Deflater {
            window_bits: deflate_bits(bits),
            level: clamp_level(level),
            takeover: !no_takeover,
            context: None,
        }
    }

    /// Appends `payload` compressed to `out`, without the trailing `00 00 ff ff`. On error `out`
    /// is as it was, and with context takeover the connection must fail: the peer's context no
    /// longer matches.
    pub(crate) fn compress(&mut self, payload: &[u8], out: &mut BytesMut) -> io::Result<()> {
        if !self.takeover {
            return compress_shared(payload, self.window_bits, self.level, out);
        }
        if payload.is_empty() {
            out.extend_from_slice(&[0x00]);
            return Ok(());
        }
        let (bits, level) = (self.window_bits, self.level);
        let context = self
            .context
            .get_or_insert_with(|| new_compress(bits, level));
        let result = deflate_message(context, payload, out);
        if result.is_err() {
            self.context = None;
        }
        result
    }

    /// Whether this compressor holds a context between messages (only with takeover, after
    /// the first message): see the module documentation for what that costs.
    #[cfg(test)]
    pub(crate) fn holds_context(&self) -> bool {
        self.context.is_some()
    }

    /// The key of its shared compressor, when it keeps no context from one message to the
    /// next: what it makes of a message is then what any compressor with that key makes.
    pub(crate) fn shared_key(&self) -> Option<SharedKey> {
        (!self.takeover).then_some(SharedKey {
            window_bits: self.window_bits,
            level: self.level,
        })
    }
}

/// The inflating half of one connection's permessage-deflate.
#[derive(Debug)]
pub(crate) struct Inflater {
    /// Whether the peer's context carries over from one message to the next.
    takeover: bool,
    /// With takeover, the connection's own context, created with its first message.
    context: Option<Decompress>,
}

impl Inflater {
    /// A decompressor for the peer's direction of a connection where this side is `role`. The
    /// window is always 15 bits, which decodes every smaller window at no extra memory.
    pub(crate) fn new(negotiated: &Negotiated, role: Role) -> Self {
        let no_takeover = match role {
            Role::Server => negotiated.client_no_context_takeover,
            Role::Client => negotiated.server_no_context_takeover,
        };
        Inflater {
            takeover: !no_takeover,
            context: None,
        }
    }

    /// Inflates one message's payload (as received, without `00 00 ff ff`) and appends it to
    /// `out`. Stops with [`InflateError::TooBig`] as soon as the output would exceed `max_size`
    /// bytes: no more than `max_size + 1` bytes are ever inflated. On error `out` holds a
    /// partial message for the caller to discard, and the connection must fail.
    pub(crate) fn decompress(
        &mut self,
        compressed: &[u8],
        max_size: usize,
        out: &mut BytesMut,
    ) -> Result<(), InflateError> {
        if !self.takeover {
            return with_shared_decompressor(|context| {
                inflate_message(context, compressed, max_size, out).map(drop)
            });
        }
        let context = self.context.get_or_insert_with(|| Decompress::new(false));
        match inflate_message(context, compressed, max_size, out) {
            // A final block ends the deflate stream; the peer starts the next one afresh.
            Ok(true) => context.reset(false),
            Ok(false) => {}
            Err(error) => {
                self.context = None;
                return Err(error);
            }
        }
        Ok(())
    }

    /// Whether this decompressor holds a context between messages (only with takeover, after
    /// the first message): see the module documentation for what that costs.
    #[cfg(test)]
    pub(crate) fn holds_context(&self) -> bool {
        self.context.is_some()
    }
}

thread_local! {
    /// Compressors without context takeover, one per (window bits, level) used on this thread.
    static COMPRESSORS: RefCell<Vec<(u8, u32, Compress)>> = const { RefCell::new(Vec::new()) };
    /// The decompressor without context takeover of this thread.
    static DECOMPRESSOR: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// Compresses one message with this thread's shared compressor for `bits` and `level`.
fn compress_shared(payload: &[u8], bits: u8, level: u32, out: &mut BytesMut) -> io::Result<()> {
    if payload.is_empty() {
        // An empty stored block without its tail (RFC 7692 section 7.2.3.6).
        out.extend_from_slice(&[0x00]);
        return Ok(());
    }
    let shared = COMPRESSORS.with_borrow_mut(|pool| {
        let index = pool.iter().position(|&(b, l, _)| (b, l) == (bits, level))?;
        Some(pool.swap_remove(index).2)
    });
    let mut context = shared.unwrap_or_else(|| new_compress(bits, level));
    let result = deflate_message(&mut context, payload, out);
    context.reset();
    COMPRESSORS.with_borrow_mut(|pool| pool.push((bits, level, context)));
    result
}

/// Runs `inflate` with this thread's shared decompressor, reset afterwards.
fn with_shared_decompressor<T>(inflate: impl FnOnce(&mut Decompress) -> T) -> T {
    let mut context = DECOMPRESSOR
        .take()
        .unwrap_or_else(|| Decompress::new(false));
    let result = inflate(&mut context);
    context.reset(false);
    DECOMPRESSOR.set(Some(context));
    result
}

/// How long compressing `payload` as one message takes at `level`, the fastest of five runs.
/// The context is made and its memory first touched before the runs that count: a fresh
/// context's pages, faulted in as it fills them, can take longer than the compression itself.
pub(crate) fn time_to_compress(payload: &[u8], level: u32) -> std::time::Duration {
    let mut out = BytesMut::with_capacity(payload.len());
    let mut context = new_compress(15, level);
    let _ = deflate_message(&mut context, payload, &mut out);
    (0..5)
        .map(|_| {
            out.clear();
            context.reset();
            let started = std::time::Instant::now();
            let _ = deflate_message(&mut context, payload, &mut out);
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// A raw deflate context (no zlib header).
fn new_compress(bits: u8, level: u32) -> Compress {
    Compress::new_with_window_bits(Compression::new(level), false, bits)
}

/// Compresses a non-empty `payload` as one sync-flushed message and appends it to `out`
/// without its `00 00 ff ff` tail.
fn deflate_message(context: &mut Compress, payload: &[u8], out: &mut BytesMut) -> io::Result<()> {
    let start = out.len();
    let mut consumed = 0;
    loop {
        let remaining = payload.len() - consumed;
        // Enough for the whole rest in one step unless it is large: deflate grows
        // incompressible data by a few bytes per block, plus the flush.
        let room = (remaining + remaining / 64 + 64).min(DEFLATE_CHUNK);
        let len = out.len();
        out.resize(len + room, 0);
        let (read_before, written_before) = (context.total_in(), context.total_out());
        let result = context.compress(&payload[consumed..], &mut out[len..], FlushCompress::Sync);
        let written = (context.total_out() - written_before) as usize;
        consumed += (context.total_in() - read_before) as usize;
        out.truncate(len + written);
        if let Err(error) = result {
            out.truncate(start);
            return Err(io::Error::other(error));
        }
        // Output space left over after a sync flush with all input taken: the flush is done.
        if consumed == payload.len() && written < room {
            break;
        }
    }
    if !out[start..].ends_with(&TAIL) {
        out.truncate(start);
        return Err(io::Error::other(
            "deflate ended a message without a sync flush",
        ));
    }
    out.truncate(out.len() - TAIL.len());
    Ok(())
}

/// Inflates one message (`compressed`, then [`TAIL`]) into `out`, never producing more than
/// `max_size + 1` bytes. Returns whether the message ended the deflate stream with a final
/// block (RFC 7692 section 7.2.3.4), after which the context must be reset.
fn inflate_message(
    context: &mut Decompress,
    compressed: &[u8],
    max_size: usize,
    out: &mut BytesMut,
) -> Result<bool, InflateError> {
    let start = out.len();
    for input in [compressed, &TAIL[..]] {
        let mut consumed = 0;
        loop {
            // At most one byte past the limit: enough to tell that the message exceeds it.
            let room = (max_size - (out.len() - start))
                .saturating_add(1)
                .min(INFLATE_CHUNK);
            let len = out.len();
            out.resize(len + room, 0);
            let (read_before, written_before) = (context.total_in(), context.total_out());
            let status =
                context.decompress(&input[consumed..], &mut out[len..], FlushDecompress::None);
            let read = (context.total_in() - read_before) as usize;
            let written = (context.total_out() - written_before) as usize;
            consumed += read;
            out.truncate(len + written);
            let status = status.map_err(|_| InflateError::Invalid)?;
            if out.len() - start > max_size {
                return Err(InflateError::TooBig);
            }
            if status == Status::StreamEnd {
                // What follows a final block (the tail, or the RFC's padding byte) ends nothing.
                return Ok(true);
            }
            let stalled = read == 0 && written == 0;
            if (consumed == input.len() && written < room) || stalled {
                break;
            }
        }
    }
    Ok(false)
}
/// The zlib window to compress with for agreed `bits`: 8 becomes 9, whose matches never reach
/// past 250 bytes and so fit the 256-byte window the peer agreed to.
fn deflate_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// A zlib level within 0..=9.
fn clamp_level(level: u32) -> u32 {
    level.min(9)
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Agreed parameters with the same window bits and takeover in both directions.
    fn agreed(bits: u8, no_takeover: bool) -> Negotiated {
        Negotiated {
            server_max_window_bits: bits,
            client_max_window_bits: bits,
            server_no_context_takeover: no_takeover,
            client_no_context_takeover: no_takeover,
        }
    }

    fn compress(deflater: &mut Deflater, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        deflater.compress(payload, &mut out).unwrap();
        out.to_vec()
    }

    fn inflate(inflater: &mut Inflater, compressed: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        inflater.decompress(compressed, 1 << 20, &mut out).unwrap();
        out.to_vec()
    }

    /// Deterministic bytes from a linear congruential generator.
    fn noise(len: usize, mut seed: u32) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn rfc_7692_hello_compressed() {
        const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let mut deflater = Deflater::new(&agreed(15, true), Role::Server, 6);
        assert_eq!(compress(&mut deflater, b"Hello"), HELLO);
        assert_eq!(compress(&mut deflater, b"Hello"), HELLO);
        assert!(!deflater.holds_context());
        let key = deflater.shared_key().unwrap();
        assert_eq!(&key.compress(b"Hello").unwrap()[..], HELLO);
    }

    #[test]
    fn rfc_7692_hello_twice_with_context_takeover() {
        let mut deflater = Deflater::new(&agreed(15, false), Role::Client, 6);
        assert!(!deflater.holds_context());
        assert_eq!(
            compress(&mut deflater, b"Hello"),
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
        assert_eq!(
            compress(&mut deflater, b"Hello"),
            [0xf2, 0x00, 0x11, 0x00, 0x00]
        );
        assert!(deflater.holds_context());
        let mut inflater = Inflater::new(&agreed(15, false), Role::Server);
        assert_eq!(
            inflate(&mut inflater, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
            b"Hello"
        );
        assert_eq!(
            inflate(&mut inflater, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
            b"Hello"
        );
        assert!(inflater.holds_context());
    }

    #[test]
    fn rfc_7692_examples_inflate() {
        let examples: [&[u8]; 5] = [
            // 7.2.3.1: a message compressed in one block.
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            // 7.2.3.3: a block with no compression.
            &[
                0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
            // 7.2.3.4: a block with BFINAL set, then a header byte.
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
            // The same without the header byte.
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            // 7.2.3.5: two blocks in one message.
            &[
                0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
            ],
        ];
        for no_takeover in [true, false] {
            let mut inflater = Inflater::new(&agreed(15, no_takeover), Role::Client);
            // Twice each: after a final block the next message starts a new stream.
            for example in examples.iter().chain(&examples) {
                assert_eq!(inflate(&mut inflater, example), b"Hello", "{example:02x?}");
            }
            assert_eq!(inflate(&mut inflater, &[0x00]), b"");
            assert_eq!(inflate(&mut inflater, &[]), b"");
        }
    }

    #[test]
    fn round_trips_every_window_and_takeover() {
        let json: Vec<u8> = (0..1000)
            .flat_map(|i| {
                format!("{{\"user\":\"u{}\",\"text\":\"hello world\"}}", i % 7).into_bytes()
            })
            .collect();
        assert!(json.len() > 1 << 15, "larger than the largest window");
        let messages: [&[u8]; 6] = [b"", b"Hello", &json, &noise(40_000, 7), b"", &json[..3000]];
        for bits in 8..=15 {
            for no_takeover in [true, false] {
                let negotiated = agreed(bits, no_takeover);
                for (sender, receiver) in
                    [(Role::Server, Role::Client), (Role::Client, Role::Server)]
                {
                    let mut deflater = Deflater::new(&negotiated, sender, 6);
                    let mut inflater = Inflater::new(&negotiated, receiver);
                    for round in 0..2 {
                        for message in messages {
                            let compressed = compress(&mut deflater, message);
                            assert_eq!(
                                inflate(&mut inflater, &compressed),
                                message,
                                "bits {bits}, no takeover {no_takeover}, round {round}"
                            );
                        }
                    }
                    assert_eq!(deflater.holds_context(), !no_takeover);
                    assert_eq!(inflater.holds_context(), !no_takeover);
                }
            }
        }
    }

    #[test]
    fn window_bits_8_compresses_within_256_bytes() {
        // A 9-bit compressor finds a repeat 200 bytes back but none 300 bytes back: every match
        // it emits fits the 256-byte window of a peer that agreed on 8 bits.
        let near = noise(200, 1).repeat(2);
        let far = noise(300, 2).repeat(2);
        let mut deflater = Deflater::new(&agreed(8, true), Role::Server, 9);
        assert!(compress(&mut deflater, &near).len() < 300);
        assert!(compress(&mut deflater, &far).len() > 550);
    }

    #[test]
    fn decompression_bomb_stops_at_the_limit() {
        // 64 MiB of zeros: the first MiB compressed, then the second (all of whose matches
        // reach into zeros) 63 times over: each copy decodes after the one before it.
        let zeros = vec![0u8; 1 << 20];
        let mut context = new_compress(15, 9);
        let mut first = Vec::with_capacity(4 << 10);
        let mut next = Vec::with_capacity(4 << 10);
        for part in [&mut first, &mut next] {
            context
                .compress_vec(&zeros, part, FlushCompress::Sync)
                .unwrap();
        }
        let mut bomb = first;
        bomb.extend(next.repeat(63));
        bomb.truncate(bomb.len() - TAIL.len());
        assert!(bomb.len() < 128 << 10, "64 MiB in {} bytes", bomb.len());
        let mut all = BytesMut::new();
        Inflater::new(&agreed(15, true), Role::Server)
            .decompress(&bomb, 64 << 20, &mut all)
            .unwrap();
        assert!(all.len() == 64 << 20 && all.iter().all(|&b| b == 0));
        let max_size = 1 << 20;
        for no_takeover in [true, false] {
            let mut inflater = Inflater::new(&agreed(15, no_takeover), Role::Server);
            let mut out = BytesMut::new();
            assert_eq!(
                inflater.decompress(&bomb, max_size, &mut out),
                Err(InflateError::TooBig)
            );
            assert!(out.len() <= max_size + 1, "inflated {}", out.len());
            assert!(!inflater.holds_context());
            // The shared or new context starts clean.
            assert_eq!(
                inflate(&mut inflater, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
                b"Hello"
            );
        }
    }

    #[test]
    fn limit_is_exact() {
        let key = SharedKey {
            window_bits: 12,
            level: 6,
        };
        let compressed = key.compress(&[b'a'; 1000]).unwrap();
        let mut inflater = Inflater::new(&agreed(12, true), Role::Server);
        let mut out = BytesMut::from(&b"prefix"[..]);
        inflater.decompress(&compressed, 1000, &mut out).unwrap();
        assert_eq!(out.len(), 1006);
        assert_eq!(
            inflater.decompress(&compressed, 999, &mut BytesMut::new()),
            Err(InflateError::TooBig)
        );
    }

    #[test]
    fn corrupt_input_is_invalid() {
        for no_takeover in [true, false] {
            let mut inflater = Inflater::new(&agreed(15, no_takeover), Role::Server);
            for corrupt in [&[0xff, 0xff, 0xff][..], &[0x00, 0x05, 0x00, 0x00, 0x00]] {
                assert_eq!(
                    inflater.decompress(corrupt, 1 << 20, &mut BytesMut::new()),
                    Err(InflateError::Invalid)
                );
            }
            assert_eq!(
                inflate(&mut inflater, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
                b"Hello"
            );
        }
    }
}
