//! What travels on a connection: the [`Message`]s handlers exchange, their [`Utf8Bytes`] text,
//! [`CloseFrame`]s and [`CloseCode`]s; and, crate-internal, the framing engine that turns them
//! into WebSocket frames over a [`Transport`](transport::Transport).
//!
//! These are ws-routes' own types: the framing engine behind [`engine`] can change without
//! changing them.

mod close;
// Nothing calls permessage-deflate until the engine integration, which removes this allow.
#[allow(dead_code)]
mod deflate;
pub(crate) mod engine;
mod message;
mod text;
pub(crate) mod transport;

pub use close::{CloseCode, CloseFrame};
pub use message::Message;
pub use text::Utf8Bytes;
