//! What the engine's fuzz targets share: input that arrives in pieces, both as a reader of
//! frames sees it and as a handshake's socket delivers it, and permessage-deflate settings.

pub mod frames;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use tokio::io::{AsyncRead, ReadBuf};
use ws_routes::__private::Negotiated;
use ws_routes::Compression;

/// The `Sec-WebSocket-Key` of RFC 6455 section 1.3, which the fuzzed clients send.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The `Sec-WebSocket-Accept` that answers [`KEY`] (RFC 6455 section 1.3).
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The parts of an HTTP head that a fuzzed peer chooses, whichever side it is.
#[derive(Debug, Arbitrary)]
pub struct Head {
    /// Bit `i` leaves out standard header line `i`.
    pub omit: u8,
    /// A `Sec-WebSocket-Extensions` line for each.
    pub extensions: Vec<String>,
    /// Other header lines.
    pub headers: Vec<(String, String)>,
    /// What the peer sends after the head.
    pub after: Vec<u8>,
}

impl Head {
    /// The bytes the peer sends: the `start` line, the `standard` header lines it keeps, its
    /// own lines, the empty line and what comes after. Line breaks are taken out of every
    /// part, so that it stays one head.
    pub fn bytes(&self, start: &str, standard: &[&str]) -> Vec<u8> {
        let line = |text: &str| text.replace(['\r', '\n'], "");
        let mut head = format!("{}\r\n", line(start));
        for (bit, header) in standard.iter().enumerate() {
            if self.omit >> bit & 1 == 0 {
                head.push_str(&format!("{}\r\n", line(header)));
            }
        }
        for value in &self.extensions {
            head.push_str(&format!("Sec-WebSocket-Extensions: {}\r\n", line(value)));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{}: {}\r\n", line(name), line(value)));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend(&self.after);
        bytes
    }
}

/// One side's permessage-deflate settings.
#[derive(Debug, Arbitrary)]
pub struct Settings {
    pub enabled: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
    pub server_takeover: bool,
    pub client_takeover: bool,
}

impl Settings {
    /// The settings as ws-routes takes them.
    pub fn compression(&self) -> Compression {
        Compression::default()
            .enabled(self.enabled)
            .server_max_window_bits(self.server_max_window_bits)
            .client_max_window_bits(self.client_max_window_bits)
            .server_context_takeover(self.server_takeover)
            .client_context_takeover(self.client_takeover)
    }

    /// Checks that `agreed` keeps within these settings: a server's limits, or (`client`) what
    /// a client offered, which also bounds the window the client compresses with.
    pub fn check(&self, agreed: &Negotiated, client: bool) {
        let bits = 8..=15;
        assert!(bits.contains(&agreed.server_max_window_bits), "{agreed:?}");
        assert!(bits.contains(&agreed.client_max_window_bits), "{agreed:?}");
        assert!(agreed.server_max_window_bits <= self.server_max_window_bits.clamp(8, 15));
        if client {
            assert!(agreed.client_max_window_bits <= self.client_max_window_bits.clamp(8, 15));
        }
        assert!(self.server_takeover || agreed.server_no_context_takeover);
        assert!(self.client_takeover || agreed.client_no_context_takeover);
    }
}

/// The pieces `data` arrives in: sizes taken from `sizes` in turn (0 means all the rest; no
/// sizes, all at once).
pub fn pieces<'a>(data: &'a [u8], sizes: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut at = 0;
    let mut turn = 0;
    std::iter::from_fn(move || {
        if at == data.len() {
            return None;
        }
        let size = match sizes.get(turn % sizes.len().max(1)) {
            Some(&size) if size > 0 => usize::from(size),
            _ => data.len() - at,
        };
        turn += 1;
        let end = (at + size).min(data.len());
        let piece = &data[at..end];
        at = end;
        Some(piece)
    })
}

/// A socket that has received `data` and hands it out in pieces of the given sizes (see
/// [`pieces`]), then reports the end of the stream.
pub struct Socket<'a> {
    pieces: Box<dyn Iterator<Item = &'a [u8]> + 'a>,
    /// The rest of a piece the last read had no room for.
    rest: &'a [u8],
    /// How many bytes it has handed out.
    pub delivered: usize,
}

impl<'a> Socket<'a> {
    /// A socket whose peer sent `data`, arriving in pieces of `sizes`.
    pub fn new(data: &'a [u8], sizes: &'a [u8]) -> Self {
        Socket {
            pieces: Box::new(pieces(data, sizes)),
            rest: &[],
            delivered: 0,
        }
    }
}

impl AsyncRead for Socket<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.rest.is_empty() {
            self.rest = self.pieces.next().unwrap_or_default();
        }
        let take = self.rest.len().min(buf.remaining());
        buf.put_slice(&self.rest[..take]);
        self.rest = &self.rest[take..];
        self.delivered += take;
        Poll::Ready(Ok(()))
    }
}

/// Runs a future that never waits (its I/O is in memory) to its end.
pub fn now<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a future over an in-memory socket waited"),
    }
}
