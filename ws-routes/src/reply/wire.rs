//! Requests and answers on the wire: a message prefixed with a short header that starts with
//! the record separator, as recovery's frames do, and a character recovery never puts second.
//!
//! - a request: `\x1e?ID SP PAYLOAD`, in the payload's own frame type (text or binary);
//! - a reply: `\x1e=ID SP PAYLOAD`, in the reply's own frame type;
//! - an error answer: a text frame `\x1e=ID!REASON`.
//!
//! `ID` is the request's number in decimal, 1 to 2^64-1, chosen by the side that asks: each
//! side numbers its own requests, and `?` or `=` says whose number it is. An error answer with
//! `ID` 0 answers a request whose number could not be read.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use crate::rooms::recovery::MARK;
use crate::wire::{Message, Utf8Bytes};

/// The second byte of a request.
const REQUEST: u8 = b'?';
/// The second byte of an answer.
const ANSWER: u8 = b'=';
/// Between an answer's number and its reason when it is an error.
const REFUSED: u8 = b'!';
/// The most digits a number takes (2^64-1 has 20).
const MAX_DIGITS: usize = 20;

/// What a received message is, on a connection that took replies on.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    /// An ordinary message.
    Plain(Message),
    /// A request of the peer.
    Request { id: u64, payload: Message },
    /// A request that does not parse: answered with an error under `id` (0 when even that
    /// could not be read).
    BadRequest { id: u64, why: &'static str },
    /// The reply to one of ours.
    Reply { id: u64, payload: Message },
    /// An error answer to one of ours.
    Refused { id: u64, reason: String },
    /// An answer that does not parse: ignored (it answers nothing we could name).
    BadAnswer,
}

/// Reads `message`.
pub(crate) fn parse(message: Message) -> Parsed {
    let bytes = message.as_bytes();
    let (Some(&MARK), Some(&kind @ (REQUEST | ANSWER))) = (bytes.first(), bytes.get(1)) else {
        return Parsed::Plain(message);
    };
    let digits = bytes[2..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    let id = std::str::from_utf8(&bytes[2..2 + digits])
        .ok()
        .filter(|_| digits <= MAX_DIGITS)
        .and_then(|digits| digits.parse::<u64>().ok())
        .filter(|&id| id != 0);
    let after = 2 + digits;
    let separator = bytes.get(after).copied();
    match (kind, id, separator) {
        (REQUEST, None, _) => Parsed::BadRequest {
            id: 0,
            why: "malformed request: expected \\x1e?ID and a space, ID a number from 1 to 2^64-1",
        },
        (REQUEST, Some(id), Some(b' ')) => Parsed::Request {
            id,
            payload: rest(message, after + 1),
        },
        (REQUEST, Some(id), _) => Parsed::BadRequest {
            id,
            why: "malformed request: expected a space after the number",
        },
        (_, Some(id), Some(b' ')) => Parsed::Reply {
            id,
            payload: rest(message, after + 1),
        },
        (_, Some(id), Some(REFUSED)) => Parsed::Refused {
            id,
            reason: String::from_utf8_lossy(&bytes[after + 1..]).into_owned(),
        },
        _ => Parsed::BadAnswer,
    }
}

/// What follows the header, from byte `start`, in the message's own frame type.
fn rest(message: Message, start: usize) -> Message {
    match message {
        // The header is ASCII: what follows it starts on a character boundary.
        Message::Text(text) => Message::Text(Utf8Bytes::from_bytes_unchecked(
            text.into_bytes().slice(start..),
        )),
        Message::Binary(data) => Message::Binary(data.slice(start..)),
    }
}

/// The request numbered `id` carrying `payload`.
pub(crate) fn request(id: u64, payload: &Message) -> Message {
    framed(REQUEST, id, payload)
}

/// The reply to the peer's request `id`.
pub(crate) fn reply(id: u64, payload: &Message) -> Message {
    framed(ANSWER, id, payload)
}

/// The error answer to the peer's request `id`.
pub(crate) fn refusal(id: u64, reason: &str) -> Message {
    let mut text = String::with_capacity(MAX_DIGITS + 3 + reason.len());
    text.push(char::from(MARK));
    text.push(char::from(ANSWER));
    let _ = write!(text, "{id}");
    text.push(char::from(REFUSED));
    text.push_str(reason);
    Message::from(text)
}

fn framed(kind: u8, id: u64, payload: &Message) -> Message {
    let body = payload.as_bytes();
    let mut framed = BytesMut::with_capacity(MAX_DIGITS + 3 + body.len());
    framed.put_u8(MARK);
    framed.put_u8(kind);
    let _ = write!(framed, "{id}");
    framed.put_u8(b' ');
    framed.put_slice(body);
    let framed: Bytes = framed.freeze();
    match payload {
        // An ASCII header before valid text is valid text.
        Message::Text(_) => Message::Text(Utf8Bytes::from_bytes_unchecked(framed)),
        Message::Binary(_) => Message::Binary(framed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_read_back_in_their_frame_type() {
        let text = Message::from("{\"q\":1} é");
        let binary = Message::binary(vec![0x1e, b'?', 0]);
        assert_eq!(request(7, &text).as_text(), Some("\x1e?7 {\"q\":1} é"));
        assert_eq!(
            parse(request(7, &text)),
            Parsed::Request {
                id: 7,
                payload: text.clone()
            }
        );
        assert_eq!(
            parse(request(u64::MAX, &binary)),
            Parsed::Request {
                id: u64::MAX,
                payload: binary.clone()
            }
        );
        assert_eq!(
            parse(reply(3, &binary)),
            Parsed::Reply {
                id: 3,
                payload: binary
            }
        );
        assert_eq!(reply(3, &Message::from("")).as_text(), Some("\x1e=3 "));
        assert_eq!(refusal(9, "no").as_text(), Some("\x1e=9!no"));
        assert_eq!(
            parse(refusal(9, "no")),
            Parsed::Refused {
                id: 9,
                reason: "no".into()
            }
        );
    }

    #[test]
    fn other_messages_and_recovery_frames_are_plain() {
        for plain in [
            "",
            "\x1e",
            "hello",
            "\x1e!recovered 0 e.1 room",
            "\x1ee-1.5 room\npayload",
            "?1 not marked",
        ] {
            assert_eq!(
                parse(Message::from(plain)),
                Parsed::Plain(Message::from(plain))
            );
        }
    }

    #[test]
    fn malformed_requests_are_answered_under_the_number_read_if_any() {
        for (input, id) in [
            ("\x1e?", 0),
            ("\x1e? x", 0),
            ("\x1e?0 x", 0),
            ("\x1e?18446744073709551616 x", 0),
            ("\x1e?12x", 12),
            ("\x1e?12", 12),
        ] {
            let parsed = parse(Message::from(input));
            assert!(
                matches!(parsed, Parsed::BadRequest { id: read, .. } if read == id),
                "{input:?}"
            );
        }
        for input in ["\x1e=", "\x1e=x 1", "\x1e=0 1", "\x1e=5", "\x1e=5?"] {
            assert_eq!(parse(Message::from(input)), Parsed::BadAnswer, "{input:?}");
        }
    }
}
