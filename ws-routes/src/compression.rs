//! [`Compression`]: the permessage-deflate settings (RFC 7692) of a server or a client.

use std::sync::Once;
use std::time::Duration;

use crate::wire::deflate::compression::time_to_compress;
use crate::wire::deflate::negotiation::DeflateConfig;

/// permessage-deflate (RFC 7692), the compression every browser and Python's `websockets`
/// offer: what a [`Server`](crate::Server) accepts and a [`Client`](crate::Client) offers.
///
/// On by default on both sides. Compression is agreed per connection in the handshake (a
/// client that does not offer it gets uncompressed messages), and decided per message after
/// that: messages shorter than the [threshold](Self::threshold) go out uncompressed.
///
/// | setting | default | what it trades |
/// |---|---|---|
/// | [`server_context_takeover`](Self::server_context_takeover) | off | ratio for memory: see below |
/// | [`client_context_takeover`](Self::client_context_takeover) | off | the same, for what clients send |
/// | [`server_max_window_bits`](Self::server_max_window_bits) | 12 | ratio for CPU and memory with takeover |
/// | [`client_max_window_bits`](Self::client_max_window_bits) | 12 | the same, for what clients send |
/// | [`level`](Self::level) | 6 | ratio for CPU, 0 (store) to 9 |
/// | [`threshold`](Self::threshold) | 1,024 bytes | shorter messages go out uncompressed |
///
/// # Memory
///
/// Without context takeover (the defaults) each message is compressed on its own, with one
/// compressor and one decompressor per thread shared by all its connections: a compressed
/// connection costs no memory beyond an uncompressed one, however many are open, and a
/// broadcast is compressed once for all the members that agreed on the same window. With
/// takeover, each connection keeps its contexts between messages for a better ratio on
/// similar messages: 245 KiB (9 bits) to 371 KiB (15 bits) for compressing and 46 KiB for
/// inflating, per connection, from its first compressed message on (zlib-rs, 64-bit).
/// Python's `websockets` keeps contexts by default (about 64 KiB per connection with C zlib);
/// the defaults here choose memory.
///
/// Whatever the settings, a compressed message is inflated only up to the message size limit:
/// one that would inflate past it is refused with 1009 without inflating the rest, and invalid
/// compressed data is refused with 1007.
///
/// ```
/// use ws_routes::{route, routes, Client, Compression, Server, WebSocket};
///
/// #[route("/feed")]
/// async fn feed(mut ws: WebSocket) {
///     let _ = ws.send("{\"price\": 101.5}".repeat(100)).await;
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::new(routes![feed])
///     .compression(Compression::default().level(9).threshold(256))
///     .bind("127.0.0.1:0")
///     .await?;
/// let url = format!("ws://{}/feed", server.local_addr()?);
/// tokio::spawn(server.run());
///
/// let mut ws = Client::new().connect(&url).await?;
/// assert!(ws.is_compressed());
/// assert_eq!(ws.recv().await.unwrap()?.as_text().unwrap().len(), 1600);
///
/// let mut plain = Client::new().compression(Compression::disabled()).connect(&url).await?;
/// assert!(!plain.is_compressed());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    config: DeflateConfig,
    enabled: bool,
}

impl Default for Compression {
    /// On, with the settings of the table above.
    fn default() -> Self {
        Compression {
            config: DeflateConfig::default(),
            enabled: true,
        }
    }
}

impl Compression {
    /// No compression: a server declines every offer, a client makes none.
    pub fn disabled() -> Self {
        Compression {
            enabled: false,
            ..Compression::default()
        }
    }

    /// Whether compression is offered or accepted. The other settings are kept either way.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Turns compression on or off, keeping the other settings.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The zlib compression level: 0 (no compression, stored blocks) to 9 (smallest output,
    /// most CPU); higher values are taken as 9. Default 6, zlib's own.
    pub fn level(mut self, level: u32) -> Self {
        self.config.level = level.min(9);
        self
    }

    /// Messages shorter than `bytes` are sent uncompressed (each message says whether it is
    /// compressed). Default 1,024: shorter messages gain little on their own, and compressing
    /// each costs about as much as 1 KiB. 0 compresses everything.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.config.threshold = bytes;
        self
    }

    /// The largest window (as a power of two, 8 to 15; others are clamped) the server
    /// compresses with. A server answers with at most this; a client asks for it when below
    /// 15. Default 12 (4 KiB), as Python's `websockets`.
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.config.server_max_window_bits = bits.clamp(8, 15);
        self
    }

    /// The largest window (8 to 15) the client compresses with: a server asks it of clients
    /// that allow it, a client offers it. Default 12.
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.config.client_max_window_bits = bits.clamp(8, 15);
        self
    }

    /// Whether the server may keep its compression context from one message to the next.
    /// Off by default: a server then always answers `server_no_context_takeover`, and a client
    /// asks for it. See [Memory](#memory) for what turning it on costs.
    pub fn server_context_takeover(mut self, allowed: bool) -> Self {
        self.config.server_no_context_takeover = !allowed;
        self
    }

    /// Whether the client may keep its compression context from one message to the next.
    /// Off by default: a server then always answers `client_no_context_takeover`, and a client
    /// offers it.
    pub fn client_context_takeover(mut self, allowed: bool) -> Self {
        self.config.client_no_context_takeover = !allowed;
        self
    }

    /// The codec's settings, when compression is on.
    pub(crate) fn config(&self) -> Option<&DeflateConfig> {
        self.enabled.then_some(&self.config)
    }

    /// In a debug build of a server that compresses, says once per process (as a `tracing`
    /// warning, or on standard error when no subscriber takes warnings) what to add to
    /// Cargo.toml when zlib-rs is unoptimised (a dependent crate's debug build does not
    /// inherit this workspace's profile): 200 echoes of 16 KiB messages then take 2 s rather
    /// than 0.25 s, and tests and dev servers slow down for no visible reason. Costs three
    /// 16 KiB compressions at start-up (3 ms unoptimised), in debug builds only.
    pub(crate) fn warn_if_unoptimised(&self) {
        if !cfg!(debug_assertions) || !self.enabled || self.config.level == 0 {
            return;
        }
        static PROBED: Once = Once::new();
        PROBED.call_once(|| {
            let took = time_to_compress(&probe_text(), 6);
            if took <= UNOPTIMISED {
                return;
            }
            // Said on standard error when nothing would show the log: it is for the developer
            // running the debug build, whose program may log nothing.
            if tracing::enabled!(tracing::Level::WARN) {
                tracing::warn!("{}", unoptimised_warning(took));
            } else {
                eprintln!("warning: {}", unoptimised_warning(took));
            }
        });
    }
}

/// Slower than this to compress [`probe_text`] at level 6, zlib-rs is unoptimised. Measured
/// on a shared 2-core VM: 0.04 ms optimised, 1 ms unoptimised; the threshold leaves a factor
/// of five either way, for a busy machine or a fast one.
const UNOPTIMISED: Duration = Duration::from_micros(200);

/// 16 KiB of letters in a fixed pseudo-random order: the text on which optimised and
/// unoptimised zlib-rs differ most (27 times; 6 to 9 times on words).
fn probe_text() -> Vec<u8> {
    (0..16u32 << 10)
        .map(|i| b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26)
        .collect()
}

/// What the warning of [`Compression::warn_if_unoptimised`] says.
fn unoptimised_warning(took: Duration) -> String {
    format!(
        "ws-routes compresses messages (permessage-deflate), and in this debug build zlib-rs is \
         not optimised: 16 KiB took {took:.1?} to compress, some 25 times what it takes \
         optimised. Add to your Cargo.toml, then rebuild:\n\n[profile.dev.package.zlib-rs]\n\
         opt-level = 3\n\n(or turn compression off with `Compression::disabled()`)"
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_warning_says_what_to_add() {
        let warning = unoptimised_warning(Duration::from_micros(5_200));
        assert!(
            warning.contains("16 KiB took 5.2ms to compress"),
            "{warning}"
        );
        assert!(
            warning.contains("\n\n[profile.dev.package.zlib-rs]\nopt-level = 3\n\n"),
            "{warning}"
        );
    }

    #[test]
    fn this_workspace_compresses_as_fast_as_an_optimised_build() {
        // The workspace sets `[profile.dev.package.zlib-rs] opt-level = 3`: no warning here.
        assert!(time_to_compress(&probe_text(), 6) < UNOPTIMISED);
        assert_eq!(probe_text().len(), 16 << 10);
    }
}
