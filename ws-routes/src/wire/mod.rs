//! What travels on a connection: the [`Message`]s handlers exchange, their [`Utf8Bytes`] text,
//! [`CloseFrame`]s and [`CloseCode`]s; and, crate-internal, the framing engine that turns them
//! into WebSocket frames over a [`Transport`](transport::Transport).
//!
//! These are ws-routes' own types, and so is the framing engine: [`frame`] encodes and decodes
//! frame headers and masks payloads, [`read`] turns bytes into checked frames (with [`utf8`]
//! validating text as it arrives), [`engine`] runs a connection's protocol over its transport,
//! and [`handshake`] holds the client's opening handshake and the accept key.

mod close;
// The permessage-deflate codec (RFC 7692: negotiation, shared and kept contexts, inflation
// bounded by the message limit), built and tested on its own until the engine negotiates and
// calls it (issue 11: RSV1 in read.rs, Encoded, both handshakes): till then it is compiled for
// its tests only, and flate2 is a dev-dependency.
#[cfg(test)]
mod deflate;
pub(crate) mod engine;
mod frame;
pub(crate) mod handshake;
mod message;
mod read;
mod text;
pub(crate) mod transport;
mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use message::Message;
pub use text::Utf8Bytes;
