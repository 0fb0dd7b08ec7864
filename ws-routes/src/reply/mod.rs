//! Requests and replies over one connection, both ways: one side asks, the other answers, and
//! the one that asked awaits the answer as the value of its request.
//!
//! A connection takes part once it calls [`WebSocket::enable_replies`], on either side: the
//! server in a route's handler ([`Session::enable_replies`](crate::Session::enable_replies) in
//! a class-style route's `on_open`), a client on the socket [`connect`](crate::connect)
//! returned.
//! Nothing changes on the wire for a connection that does not: its messages that start like a
//! request are plain messages, as ever.
//!
//! - **Asking**: [`WebSocket::request`] (and `request_as`, `request_json`) from the
//!   connection's own task, or [`Sender::request`] from any other; each returns an [`Ask`] to
//!   await, whose [`timeout`](Ask::timeout) overrides the connection's default.
//! - **Answering**: [`WebSocket::recv_incoming`] hands over the peer's requests as
//!   [`Incoming::Request`] beside its messages; each is answered once with
//!   [`IncomingRequest::reply`] (or `reply_as`, `reply_json`) or
//!   [`refuse`](IncomingRequest::refuse), from any task. [`WebSocket::recv`] answers them
//!   with an error instead: a connection that only asks reads with `recv`.
//!
//! # What the library takes care of
//!
//! - **Correlation**: each side numbers its own requests, and the answer carries the number.
//!   An answer that comes for no request in flight (after its request timed out, say) is
//!   ignored, counted and logged at debug level.
//! - **Timeouts**: every request ends by its timeout at the latest
//!   ([`RequestError::Timeout`]), 10 s unless [`Replies::timeout`] or [`Ask::timeout`] say
//!   otherwise.
//! - **The end of the connection**: every request in flight fails at once with
//!   [`RequestError::Closed`] when the connection ends (as [`recv`](WebSocket::recv) sees
//!   it, or when the socket is dropped), and so does every request made after.
//! - **A cap each way** ([`Replies::max_in_flight`], 64 by default): a request past it fails at
//!   once with [`RequestError::TooMany`], without waiting and without being sent; a request of
//!   the peer past it is answered at once with an error. A request the handler drops without
//!   answering is answered with an error, so the peer never waits out its timeout for it.
//! - **Reading while waiting**: replies are routed by whatever reads the connection.
//!   [`WebSocket::request`] reads on while it waits, and holds back what else arrives (up to
//!   64 messages or 1 MiB, then [`RequestError::Backlog`]) for the next
//!   [`recv`](WebSocket::recv); [`Sender::request`] waits while the connection's own loop
//!   reads.
//!
//! Left to the application: what a request means and what its payload is (a tagged enum works
//! well), retrying after a timeout (a request may have been acted on although its answer was
//! lost: make it idempotent), and requests across a reconnect (each connection has its own).
//!
//! # On the wire
//!
//! A request is the payload, in its own frame type (text or binary), after a header
//! `\x1e?ID ` (the record separator, `?`, the request's number in decimal and a space); its
//! reply is `\x1e=ID ` and the reply's payload; an error answer is a text frame
//! `\x1e=ID!REASON`. Numbers go from 1 up; an error answer numbered 0 answers a request whose
//! number could not be read. Recovery's frames start with `\x1e` too, never followed by `?` or
//! `=`. The examples' `ws-routes.js` speaks it for pages: `request(payload, { timeout })` and
//! an `onrequest` callback.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use ws_routes::reply::{Incoming, Replies};
//! use ws_routes::{route, WebSocket};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Sum(Vec<i64>);
//!
//! #[route("/sum")]
//! async fn sum(mut ws: WebSocket) {
//!     ws.enable_replies(Replies::new());
//!     while let Some(Ok(incoming)) = ws.recv_incoming().await {
//!         if let Incoming::Request(request) = incoming {
//!             let answered = match request.json::<Sum>() {
//!                 Ok(Sum(numbers)) => request.reply_json(&numbers.iter().sum::<i64>()),
//!                 Err(bad) => request.refuse(&bad.to_string()),
//!             };
//!             if answered.is_err() {
//!                 break;
//!             }
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = ws_routes::Server::new(ws_routes::routes![sum]).bind("127.0.0.1:0").await?;
//! # let url = format!("ws://{}/sum", server.local_addr()?);
//! # tokio::spawn(server.run());
//! let mut ws = ws_routes::connect(&url).await?; // url: "ws://127.0.0.1:8765/sum", say
//! ws.enable_replies(Replies::new());
//! let total: i64 = ws.request_json(&Sum(vec![1, 2, 3])).await?;
//! assert_eq!(total, 6);
//! # let refused = ws.request("[1, \"two\"]").await.unwrap_err();
//! # let refused = refused.to_string();
//! # assert!(refused.starts_with("request failed: the peer answered with an error: invalid JSON"));
//! # Ok(())
//! # }
//! ```

mod table;
pub(crate) mod wire;

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use table::{Answer, Table};

#[cfg(feature = "codec")]
use crate::codec::{self, Codec};
use crate::error::{Error, RequestError};
use crate::socket::{Sender, WebSocket};
use crate::wire::Message;

/// The settings of requests and replies on a connection, given to
/// [`WebSocket::enable_replies`].
///
/// ```
/// use std::time::Duration;
/// use ws_routes::reply::Replies;
///
/// let replies = Replies::new().timeout(Duration::from_secs(2)).max_in_flight(8);
/// # let _ = replies;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replies {
    timeout: Duration,
    max_in_flight: usize,
}

impl Replies {
    /// The timeout of a request that names none: 10 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The most requests in flight each way by default: 64.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

    /// The defaults: a 10 s timeout, 64 requests in flight each way.
    pub fn new() -> Self {
        Replies {
            timeout: Self::DEFAULT_TIMEOUT,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// How long a request waits for its answer unless it says otherwise with
    /// [`Ask::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most requests in flight each way (at least 1): this side's requests waiting for
    /// their answers (one more fails at once with [`RequestError::TooMany`]), and the peer's
    /// waiting for this side's (one more is answered at once with an error).
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        self.max_in_flight = limit.max(1);
        self
    }
}

impl Default for Replies {
    fn default() -> Self {
        Replies::new()
    }
}

/// What [`WebSocket::recv_incoming`] hands over: a message, or a request of the peer to answer.
#[derive(Debug)]
pub enum Incoming {
    /// A message, as [`recv`](WebSocket::recv) returns it.
    Message(Message),
    /// A request of the peer.
    Request(IncomingRequest),
}

/// A request of the peer, to answer once with [`reply`](Self::reply) (or `reply_as`,
/// `reply_json`) or [`refuse`](Self::refuse), from the connection's task or any other.
///
/// An answer never waits: it goes into the connection's queue beside what [`Sender`]s
/// queued, which keeps room for [`Replies::max_in_flight`] answers beyond its capacity, and
/// out while the connection reads. A peer that asks and reads nothing fills that room too:
/// an answer then fails with [`Error::QueueFull`] and is dropped. Dropping the request
/// unanswered answers it with an error, `the request was dropped without an answer`.
pub struct IncomingRequest {
    id: u64,
    payload: Message,
    /// `None` once answered.
    answer: Option<Answerer>,
}

/// Where an answer goes, and whom it tells that the request is answered.
struct Answerer {
    sender: Sender,
    table: Arc<Table>,
}

impl IncomingRequest {
    pub(crate) fn new(id: u64, payload: Message, sender: Sender, table: Arc<Table>) -> Self {
        IncomingRequest {
            id,
            payload,
            answer: Some(Answerer { sender, table }),
        }
    }

    /// The number the peer gave the request.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// What the peer asked, as sent (without the request's header).
    pub fn payload(&self) -> &Message {
        &self.payload
    }

    /// Decodes the payload into `T` with codec `C`; the error is the codec's, which
    /// [`refuse`](Self::refuse) can pass on.
    #[cfg(feature = "codec")]
    pub fn decode_as<C: Codec, T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        codec::decode::<C, T>(&self.payload).map_err(codec::into_error::<C>)
    }

    /// Decodes the payload from JSON into `T`: [`decode_as`](Self::decode_as) with
    /// [`JsonCodec`](crate::codec::JsonCodec).
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        self.decode_as::<crate::codec::JsonCodec, T>()
    }

    /// Answers with `message`, in its own frame type. Fails with [`Error::Closed`] once the
    /// connection is gone, and with [`Error::QueueFull`] when the peer does not read its
    /// answers.
    pub fn reply(mut self, message: impl Into<Message>) -> Result<(), Error> {
        let reply = wire::reply(self.id, &message.into());
        self.answer_with(reply)
    }

    /// Answers with `value` encoded with codec `C`; when it cannot be encoded, answers with
    /// an error saying so and returns the codec's error.
    #[cfg(feature = "codec")]
    pub fn reply_as<C: Codec>(self, value: &(impl serde::Serialize + ?Sized)) -> Result<(), Error> {
        match codec::encode::<C>(value).map_err(codec::into_error::<C>) {
            Ok(message) => self.reply(message),
            Err(error) => {
                let _ = self.refuse("the answer could not be encoded");
                Err(error)
            }
        }
    }

    /// Answers with `value` as JSON text: [`reply_as`](Self::reply_as) with
    /// [`JsonCodec`](crate::codec::JsonCodec).
    #[cfg(feature = "json")]
    pub fn reply_json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.reply_as::<crate::codec::JsonCodec>(value)
    }

    /// Answers with an error: the peer's request fails with
    /// [`RequestError::Refused`] and `reason` (in ws-routes.js, the promise rejects with it).
    pub fn refuse(mut self, reason: &str) -> Result<(), Error> {
        let refusal = wire::refusal(self.id, reason);
        self.answer_with(refusal)
    }

    fn answer_with(&mut self, answer: Message) -> Result<(), Error> {
        let Some(answerer) = self.answer.take() else {
            return Ok(());
        };
        answerer.table.answered();
        let room = answerer.table.max_in_flight();
        answerer.sender.send_answer(answer, room)
    }
}

impl Drop for IncomingRequest {
    fn drop(&mut self) {
        let refusal = wire::refusal(self.id, "the request was dropped without an answer");
        let _ = self.answer_with(refusal);
    }
}

impl fmt::Debug for IncomingRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingRequest")
            .field("id", &self.id)
            .field("payload", &self.payload)
            .field("answered", &self.answer.is_none())
            .finish()
    }
}

/// A request to the peer, made by [`WebSocket::request`] or [`Sender::request`] (and their
/// typed forms): await it for the answer, decoded as `R`, or set its own
/// [`timeout`](Self::timeout) first.
///
/// It fails with [`Error::Request`] when no answer comes (see [`RequestError`]), with the
/// codec's error when the request cannot be encoded or the answer does not decode as `R`, and
/// with [`Error::Closed`] when the request cannot be sent.
#[must_use = "a request is sent when awaited"]
pub struct Ask<'a, R> {
    via: Via<'a>,
    request: Result<Message, Error>,
    timeout: Option<Duration>,
    decode: fn(Message) -> Result<R, Error>,
}

/// What a request goes through.
pub(crate) enum Via<'a> {
    Socket(&'a mut WebSocket),
    Sender(&'a Sender),
}

impl<'a, R> Ask<'a, R> {
    pub(crate) fn new(
        via: Via<'a>,
        request: Result<Message, Error>,
        decode: fn(Message) -> Result<R, Error>,
    ) -> Self {
        Ask {
            via,
            request,
            timeout: None,
            decode,
        }
    }

    /// How long this request waits for its answer, instead of the connection's
    /// [`Replies::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<'a, R: Send + 'a> IntoFuture for Ask<'a, R> {
    type Output = Result<R, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<R, Error>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let Ask {
            via,
            request,
            timeout,
            decode,
        } = self;
        Box::pin(async move {
            let request = request?;
            let answer = match via {
                Via::Socket(socket) => socket.ask(request, timeout).await?,
                Via::Sender(sender) => sender.ask(request, timeout).await?,
            };
            decode(answer)
        })
    }
}

impl<R> fmt::Debug for Ask<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let via = match self.via {
            Via::Socket(_) => "socket",
            Via::Sender(_) => "sender",
        };
        f.debug_struct("Ask")
            .field("via", &via)
            .field("request", &self.request)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Decodes an answer into `R` with codec `C`.
#[cfg(feature = "codec")]
pub(crate) fn decode_answer<C: Codec, R: serde::de::DeserializeOwned>(
    answer: Message,
) -> Result<R, Error> {
    codec::decode::<C, R>(&answer).map_err(codec::into_error::<C>)
}

/// The error of a request made on a connection that did not take replies on.
pub(crate) fn not_enabled() -> Error {
    RequestError::NotEnabled.into()
}
