//! permessage-deflate (RFC 7692): agreeing on its parameters in the handshake, then compressing
//! each outgoing message and inflating each incoming one within the message size limit.
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
//! silently turns 8 into 9 where it can. So this module accepts `server_max_window_bits=8` as
//! the RFC asks of a server that accepts the offer, and compresses with 9 bits; decompression
//! always uses a 15-bit window, which decodes what any smaller window produced. Python
//! `websockets` instead passes 8 to zlib, which rejects it in zlib 1.2.9 and later.

use std::cell::RefCell;
use std::io;

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::frame::Role;

/// The extension's token in `Sec-WebSocket-Extensions`.
const NAME: &str = "permessage-deflate";

/// The empty stored block a sync flush ends with: stripped from every compressed message on
/// the wire and appended again before inflating it (RFC 7692 section 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The largest output step of decompression: the most a message is inflated at a time.
const INFLATE_CHUNK: usize = 16 * 1024;

/// The largest output step of compression.
const DEFLATE_CHUNK: usize = 64 * 1024;

/// What one side is willing to do: the permessage-deflate part of the server or client settings.
///
/// Window bits range over 8..=15 (values outside are clamped); see the module documentation for
/// what 8 means and for the memory each setting costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeflateConfig {
    /// Server: the largest window the server compresses with (it answers with at most this).
    /// Client: asked of the server when below 15. Compression ratio rises with it; memory of
    /// a shared (no takeover) context is per thread, of a kept one per connection.
    pub(crate) server_max_window_bits: u8,
    /// Server: the largest window asked of a client that offers `client_max_window_bits`.
    /// Client: the largest window the client compresses with; it offers the parameter without
    /// a value (as browsers do), so any window the server asks for is one it can keep to.
    pub(crate) client_max_window_bits: u8,
    /// Server: always answer `server_no_context_takeover` (compress each message on its own,
    /// with a shared compressor). Client: ask the server for it.
    pub(crate) server_no_context_takeover: bool,
    /// Server: always answer `client_no_context_takeover` (inflate each client message on its
    /// own, with a shared decompressor). Client: offer it.
    pub(crate) client_no_context_takeover: bool,
    /// The zlib compression level, 0 (store) to 9 (smallest output).
    pub(crate) level: u32,
    /// Messages shorter than this many bytes are sent uncompressed (RSV1 is set per message).
    pub(crate) threshold: usize,
}

impl Default for DeflateConfig {
    /// Python `websockets`' server defaults where they cost nothing here (window bits 12 in
    /// both directions, zlib's default level 6), no context takeover in either direction
    /// (`websockets` keeps contexts: 60-70 KiB per connection with C zlib, 305 KiB with
    /// zlib-rs; see the module documentation), and the 1 KiB threshold of Node's `ws`: a
    /// shorter message compresses poorly on its own and resetting a shared compressor costs
    /// about as much as compressing 1 KiB.
    fn default() -> Self {
        DeflateConfig {
            server_max_window_bits: 12,
            client_max_window_bits: 12,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            level: 6,
            threshold: 1024,
        }
    }
}

/// The parameters agreed in one handshake (public only to the fuzz targets, through
/// `__private`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The largest window the server compresses with (15 when not limited).
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with (15 when not limited).
    pub client_max_window_bits: u8,
    /// The server compresses each message on its own.
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own.
    pub client_no_context_takeover: bool,
}

/// Why a client refuses the server's `Sec-WebSocket-Extensions` response: the client must then
/// fail the connection (RFC 7692 section 7.1; close code 1010 or a handshake error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeflateError {
    /// The server accepted an extension the client did not offer.
    #[error("the server accepted an extension that was not offered")]
    NotOffered,
    /// The server accepted permessage-deflate more than once.
    #[error("the server accepted permessage-deflate twice")]
    Duplicate,
    /// The response's parameters are malformed, unknown or repeated.
    #[error("invalid permessage-deflate parameters in the response")]
    InvalidParameters,
    /// The response's parameters go beyond the offer, or leave out one the offer requires.
    #[error("permessage-deflate parameters that do not match the offer")]
    Unacceptable,
}

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

/// Server side of the handshake: from every `Sec-WebSocket-Extensions` value the client sent,
/// takes the first permessage-deflate offer that is valid, and returns the parameters to use
/// and the response header value.
///
/// An invalid offer (unknown or repeated parameter, bad value, `server_max_window_bits`
/// without a value) is declined: the next offer is tried, and `None` means no compression,
/// never a failed handshake.
pub(crate) fn negotiate<'a>(
    offers: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(Negotiated, String)> {
    offers
        .into_iter()
        .flat_map(|value| split_unquoted(value, b','))
        .filter_map(extension)
        .filter(|(name, _)| name.eq_ignore_ascii_case(NAME))
        .find_map(|(_, params)| Params::parse(params, true).ok())
        .map(|offer| accept(&offer, config))
}

/// Client side of the handshake: the `Sec-WebSocket-Extensions` value to offer.
pub(crate) fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = String::from(NAME);
    if config.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    let server_bits = clamp_bits(config.server_max_window_bits);
    if server_bits < 15 {
        offer.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    offer.push_str("; client_max_window_bits");
    offer
}

/// Client side of the handshake: checks the server's `Sec-WebSocket-Extensions` values against
/// the offer [`client_offer`] made from the same `config`. `Ok(None)` means the server
/// declined compression; an error means the client must fail the connection.
pub(crate) fn client_accept<'a>(
    response_values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Result<Option<Negotiated>, DeflateError> {
    let offered_server_bits = clamp_bits(config.server_max_window_bits);
    let own_client_bits = clamp_bits(config.client_max_window_bits);
    let mut accepted = None;
    for (name, params) in response_values
        .into_iter()
        .flat_map(|value| split_unquoted(value, b','))
        .filter_map(extension)
    {
        if !name.eq_ignore_ascii_case(NAME) {
            return Err(DeflateError::NotOffered);
        }
        if accepted.is_some() {
            return Err(DeflateError::Duplicate);
        }
        let response =
            Params::parse(params, false).map_err(|Invalid| DeflateError::InvalidParameters)?;
        if config.server_no_context_takeover && !response.server_no_context_takeover {
            return Err(DeflateError::Unacceptable);
        }
        let server_max_window_bits = match response.server_max_window_bits {
            Some(bits) if bits <= offered_server_bits => bits,
            None if offered_server_bits == 15 => 15,
            _ => return Err(DeflateError::Unacceptable),
        };
        // The client compresses within its own limit and the server's, whichever is smaller.
        let client_max_window_bits = response
            .client_max_window_bits
            .flatten()
            .map_or(own_client_bits, |bits| bits.min(own_client_bits));
        accepted = Some(Negotiated {
            server_max_window_bits,
            client_max_window_bits,
            server_no_context_takeover: response.server_no_context_takeover,
            client_no_context_takeover: response.client_no_context_takeover
                || config.client_no_context_takeover,
        });
    }
    Ok(accepted)
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

/// Window bits as configured, within 8..=15.
fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(8, 15)
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

/// The server's answer to a valid offer under `config`, and the response header value.
fn accept(offer: &Params, config: &DeflateConfig) -> (Negotiated, String) {
    let server_cap = clamp_bits(config.server_max_window_bits);
    let client_cap = clamp_bits(config.client_max_window_bits);
    let server_no_context_takeover =
        offer.server_no_context_takeover || config.server_no_context_takeover;
    let client_no_context_takeover =
        offer.client_no_context_takeover || config.client_no_context_takeover;
    let server_max_window_bits = offer
        .server_max_window_bits
        .map_or(server_cap, |bits| bits.min(server_cap));
    // Without the parameter in the offer the server may not limit the client's window.
    let (client_max_window_bits, answer_client_bits) = match offer.client_max_window_bits {
        None => (15, false),
        Some(None) => (client_cap, client_cap < 15),
        Some(Some(bits)) => (bits.min(client_cap), true),
    };
    let mut response = String::from(NAME);
    if server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if server_max_window_bits < 15 || offer.server_max_window_bits.is_some() {
        response.push_str(&format!(
            "; server_max_window_bits={server_max_window_bits}"
        ));
    }
    if answer_client_bits {
        response.push_str(&format!(
            "; client_max_window_bits={client_max_window_bits}"
        ));
    }
    let negotiated = Negotiated {
        server_max_window_bits,
        client_max_window_bits,
        server_no_context_takeover,
        client_no_context_takeover,
    };
    (negotiated, response)
}

/// The parameters of one permessage-deflate offer or response, as written.
#[derive(Debug, Default)]
struct Params {
    /// `server_no_context_takeover` was present.
    server_no_context_takeover: bool,
    /// `client_no_context_takeover` was present.
    client_no_context_takeover: bool,
    /// The value of `server_max_window_bits`, if present.
    server_max_window_bits: Option<u8>,
    /// `client_max_window_bits`: `Some(None)` when present without a value (in offers only).
    client_max_window_bits: Option<Option<u8>>,
}

/// A list of parameters that is no valid permessage-deflate offer or response.
#[derive(Debug)]
struct Invalid;

impl Params {
    /// Parses the `;`-separated parameters of one extension; `in_offer` allows
    /// `client_max_window_bits` without a value.
    fn parse<'a>(params: impl Iterator<Item = &'a str>, in_offer: bool) -> Result<Self, Invalid> {
        let mut parsed = Params::default();
        for param in params {
            let (name, value) = match param.split_once('=') {
                Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
                None => (param.trim(), None),
            };
            match name.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" => {
                    set_flag(&mut parsed.server_no_context_takeover, value)?;
                }
                "client_no_context_takeover" => {
                    set_flag(&mut parsed.client_no_context_takeover, value)?;
                }
                "server_max_window_bits" if parsed.server_max_window_bits.is_none() => {
                    parsed.server_max_window_bits =
                        Some(value.and_then(window_bits).ok_or(Invalid)?);
                }
                "client_max_window_bits" if parsed.client_max_window_bits.is_none() => {
                    parsed.client_max_window_bits = Some(match value {
                        None if in_offer => None,
                        None => return Err(Invalid),
                        Some(value) => Some(window_bits(value).ok_or(Invalid)?),
                    });
                }
                _ => return Err(Invalid),
            }
        }
        Ok(parsed)
    }
}

/// Sets a flag parameter, which takes no value and appears at most once.
fn set_flag(flag: &mut bool, value: Option<&str>) -> Result<(), Invalid> {
    if *flag || value.is_some() {
        return Err(Invalid);
    }
    *flag = true;
    Ok(())
}

/// A window bits value: a decimal 8..=15 without leading zeros (RFC 7692 section 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    let canonical =
        !value.is_empty() && !value.starts_with('0') && value.bytes().all(|b| b.is_ascii_digit());
    value
        .parse()
        .ok()
        .filter(|bits| canonical && (8..=15).contains(bits))
}

/// A parameter value without its surrounding quotes, if it is a quoted string; one with stray
/// quotes is left as it is, and so fails validation.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

/// One element of an extension list: its name and its parameters; `None` for an empty element.
fn extension(element: &str) -> Option<(&str, impl Iterator<Item = &str>)> {
    let mut parts = split_unquoted(element, b';');
    let name = parts.next()?.trim();
    (!name.is_empty()).then_some((name, parts))
}

/// Splits `s` at every `separator` outside a quoted string.
fn split_unquoted(s: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, b) in s.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if b == separator && !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Sec-WebSocket-Extensions` values, and what they should give.
    type Case<'a, T> = (&'a [&'a str], T);

    /// An accepted offer: the response's parameters after the two no-takeover ones, and the
    /// agreed server and client window bits.
    type Accepted = (&'static str, u8, u8);

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

    #[test]
    fn default_config_and_threshold() {
        let config = DeflateConfig::default();
        assert_eq!(config.threshold, 1024);
        assert_eq!(
            client_offer(&config),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=12; client_max_window_bits"
        );
        let plain = DeflateConfig {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            ..config
        };
        assert_eq!(
            client_offer(&plain),
            "permessage-deflate; client_max_window_bits"
        );
    }

    #[test]
    fn server_negotiation() {
        let config = DeflateConfig::default();
        let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        let cases: &[Case<Option<Accepted>>] = &[
            // Chromium, and Python websockets' client.
            (
                &["permessage-deflate; client_max_window_bits"],
                Some((
                    "; server_max_window_bits=12; client_max_window_bits=12",
                    12,
                    12,
                )),
            ),
            // Firefox: no client_max_window_bits, so the client's window stays 15.
            (
                &["permessage-deflate"],
                Some(("; server_max_window_bits=12", 12, 15)),
            ),
            (
                &["permessage-deflate; client_max_window_bits=\"10\""],
                Some((
                    "; server_max_window_bits=12; client_max_window_bits=10",
                    12,
                    10,
                )),
            ),
            (
                &["PerMessage-Deflate; Client_Max_Window_Bits=15"],
                Some((
                    "; server_max_window_bits=12; client_max_window_bits=12",
                    12,
                    12,
                )),
            ),
            (
                &["permessage-deflate; server_max_window_bits=8"],
                Some(("; server_max_window_bits=8", 8, 15)),
            ),
            (
                &["permessage-deflate; server_max_window_bits=10; server_no_context_takeover"],
                Some(("; server_max_window_bits=10", 10, 15)),
            ),
            // The first offer is invalid, the second is taken.
            (
                &[
                    "permessage-deflate; server_max_window_bits, permessage-deflate; client_max_window_bits=9",
                ],
                Some((
                    "; server_max_window_bits=12; client_max_window_bits=9",
                    12,
                    9,
                )),
            ),
            // Offers across several header values; other extensions are skipped.
            (
                &[
                    "x-webkit-deflate-frame",
                    "permessage-deflate; unknown=1",
                    "permessage-deflate",
                ],
                Some(("; server_max_window_bits=12", 12, 15)),
            ),
            (
                &["permessage-deflate; client_max_window_bits; client_max_window_bits"],
                None,
            ),
            (
                &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
                None,
            ),
            (&["permessage-deflate; server_no_context_takeover=1"], None),
            (&["permessage-deflate; foo"], None),
            (&["permessage-deflate; client_max_window_bits=16"], None),
            (&["permessage-deflate; client_max_window_bits=7"], None),
            (&["permessage-deflate; client_max_window_bits=09"], None),
            (
                &["permessage-deflate; server_max_window_bits=\"1,2\""],
                None,
            ),
            (&["permessage-deflate;"], None),
            (&["x-webkit-deflate-frame"], None),
            (&[""], None),
            (&[], None),
        ];
        for (offers, expected) in cases {
            let got = negotiate(offers.iter().copied(), &config);
            let expected = expected.map(|(params, server, client)| {
                let negotiated = Negotiated {
                    server_max_window_bits: server,
                    client_max_window_bits: client,
                    server_no_context_takeover: true,
                    client_no_context_takeover: true,
                };
                (negotiated, format!("{both}{params}"))
            });
            assert_eq!(got, expected, "{offers:?}");
        }
    }

    #[test]
    fn server_negotiation_with_context_takeover_allowed() {
        let config = DeflateConfig {
            server_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            ..DeflateConfig::default()
        };
        let cases: &[(&str, &str, Negotiated)] = &[
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_max_window_bits=12",
                Negotiated {
                    server_max_window_bits: 15,
                    client_max_window_bits: 12,
                    server_no_context_takeover: false,
                    client_no_context_takeover: false,
                },
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
                Negotiated {
                    server_max_window_bits: 15,
                    client_max_window_bits: 15,
                    server_no_context_takeover: true,
                    client_no_context_takeover: false,
                },
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                "permessage-deflate; client_no_context_takeover",
                Negotiated {
                    server_max_window_bits: 15,
                    client_max_window_bits: 15,
                    server_no_context_takeover: false,
                    client_no_context_takeover: true,
                },
            ),
        ];
        for (offer, response, negotiated) in cases {
            assert_eq!(
                negotiate([*offer], &config),
                Some((*negotiated, response.to_string())),
                "{offer}"
            );
        }
    }

    #[test]
    fn client_accepts_valid_responses() {
        let config = DeflateConfig::default();
        let full = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        let cases: &[Case<Option<(u8, u8)>>] = &[
            (&[], None),
            (&[""], None),
            (
                &[&format!("{full}; server_max_window_bits=12")],
                Some((12, 12)),
            ),
            (
                &[&format!(
                    "{full}; server_max_window_bits=9; client_max_window_bits=\"8\""
                )],
                Some((9, 8)),
            ),
            (
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=10"],
                Some((10, 12)),
            ),
            // A larger window than the client's own limit: the client keeps to its limit.
            (
                &[&format!(
                    "{full}; server_max_window_bits=12; client_max_window_bits=15"
                )],
                Some((12, 12)),
            ),
        ];
        for (response, expected) in cases {
            let expected = expected.map(|(server, client)| Negotiated {
                server_max_window_bits: server,
                client_max_window_bits: client,
                server_no_context_takeover: true,
                client_no_context_takeover: true,
            });
            assert_eq!(
                client_accept(response.iter().copied(), &config),
                Ok(expected),
                "{response:?}"
            );
        }
        // What our server answers, our client accepts.
        let (negotiated, response) = negotiate([client_offer(&config).as_str()], &config).unwrap();
        assert_eq!(
            client_accept([response.as_str()], &config),
            Ok(Some(negotiated))
        );
    }

    #[test]
    fn client_rejects_invalid_responses() {
        use DeflateError::*;
        let config = DeflateConfig::default();
        let ok = "permessage-deflate; server_no_context_takeover; server_max_window_bits=12";
        let cases: &[Case<DeflateError>] = &[
            (&["x-webkit-deflate-frame"], NotOffered),
            (&[ok, "foo"], NotOffered),
            (&[&format!("{ok}, {ok}")], Duplicate),
            (&[ok, ok], Duplicate),
            (
                &[&format!("{ok}; client_max_window_bits")],
                InvalidParameters,
            ),
            (
                &[&format!("{ok}; client_max_window_bits=16")],
                InvalidParameters,
            ),
            (&[&format!("{ok}; unknown")], InvalidParameters),
            (
                &[&format!("{ok}; server_no_context_takeover")],
                InvalidParameters,
            ),
            (
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=13"],
                Unacceptable,
            ),
            (
                &["permessage-deflate; server_no_context_takeover"],
                Unacceptable,
            ),
            (
                &["permessage-deflate; server_max_window_bits=12"],
                Unacceptable,
            ),
        ];
        for (response, expected) in cases {
            assert_eq!(
                client_accept(response.iter().copied(), &config),
                Err(*expected),
                "{response:?}"
            );
        }
    }
}
