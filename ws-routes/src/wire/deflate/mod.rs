//! permessage-deflate (RFC 7692): agreeing on its parameters in the handshake
//! ([`negotiation`]), then compressing each outgoing message and inflating each incoming one
//! within the message size limit ([`compression`]).

pub(crate) mod compression;
pub(crate) mod negotiation;
