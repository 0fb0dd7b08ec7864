//! What travels on a connection: the [`Message`]s handlers exchange, their [`Utf8Bytes`] text,
//! [`CloseFrame`]s and [`CloseCode`]s; and, crate-internal, the framing engine that turns them
//! into WebSocket frames over a [`Transport`](transport::Transport).
//!
//! These are ws-routes' own types, and so is the framing engine: [`frame`] encodes and decodes
//! frame headers and masks payloads, [`read`] turns bytes into checked frames (with [`utf8`]
//! validating text as it arrives), [`deflate`] compresses and inflates messages
//! (permessage-deflate), [`engine`] runs a connection's protocol over its transport, and
//! [`handshake`] holds the client's opening handshake and the accept key.

mod close;
pub(crate) mod deflate;
pub(crate) mod engine;
pub(crate) mod frame;
pub(crate) mod handshake;
mod message;
pub(crate) mod read;
mod text;
pub(crate) mod transport;
mod utf8;

pub(crate) use close::fitting_reason;
pub use close::{CloseCode, CloseFrame};
pub use message::Message;
pub use text::Utf8Bytes;
