//! Requests and replies on a [`WebSocket`] and its [`Sender`]s (see [`crate::reply`]): taking
//! them on, routing what arrives, and asking.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::{Sender, WebSocket};
#[cfg(feature = "codec")]
use crate::codec::{self, Codec};
use crate::error::{Error, RequestError};
use crate::reply::wire::{self, Parsed};
use crate::reply::{Answer, Ask, Incoming, IncomingRequest, Replies, Table, Via, not_enabled};
use crate::wire::Message;

/// The most messages [`WebSocket::request`] holds back for `recv` while it waits, and their
/// most bytes (a message that finds none held is always kept).
const MAX_HELD: usize = 64;
const MAX_HELD_BYTES: usize = 1 << 20;

/// A connection's side of requests and replies, once it took them on.
pub(crate) struct ReplyState {
    table: Arc<Table>,
    /// Where answers to the peer's requests go.
    sender: Sender,
    /// What arrived while [`WebSocket::request`] waited, for the next `recv`.
    held: VecDeque<Incoming>,
    held_bytes: usize,
}

impl ReplyState {
    /// Routes a message that arrived: an answer goes to the request waiting for it, and a
    /// request the connection cannot take is answered at once; what is left for the reader
    /// comes back.
    fn route(&mut self, message: Message) -> Option<Incoming> {
        match wire::parse(message) {
            Parsed::Plain(message) => Some(Incoming::Message(message)),
            Parsed::Request { id, payload } => {
                if self.table.admit() {
                    let (sender, table) = (self.sender.clone(), Arc::clone(&self.table));
                    return Some(Incoming::Request(IncomingRequest::new(
                        id, payload, sender, table,
                    )));
                }
                let limit = self.table.max_in_flight();
                let reason = format!("too many requests in flight: at most {limit}");
                self.refuse(id, &reason);
                None
            }
            Parsed::BadRequest { id, why } => {
                self.refuse(id, why);
                None
            }
            Parsed::Reply { id, payload } => {
                self.table.answer(id, Answer::Reply(payload));
                None
            }
            Parsed::Refused { id, reason } => {
                self.table.answer(id, Answer::Refused(reason));
                None
            }
            Parsed::BadAnswer => {
                tracing::debug!("a malformed answer was ignored");
                None
            }
        }
    }

    /// Answers the peer's request `id` with an error, if the connection still takes answers
    /// (within the same room as every answer: a peer that floods bad requests and reads
    /// nothing gets no more).
    fn refuse(&self, id: u64, reason: &str) {
        let room = self.table.max_in_flight();
        let _ = self.sender.send_answer(wire::refusal(id, reason), room);
    }

    /// Keeps what arrived while a request waited, within the bound.
    fn hold(&mut self, incoming: Incoming) -> Result<(), Error> {
        let bytes = match &incoming {
            Incoming::Message(message) => message.len(),
            Incoming::Request(request) => request.payload().len(),
        };
        let full = !self.held.is_empty()
            && (self.held.len() >= MAX_HELD || self.held_bytes + bytes > MAX_HELD_BYTES);
        self.held_bytes += bytes;
        self.held.push_back(incoming);
        if full {
            return Err(RequestError::Backlog {
                held: self.held.len(),
            }
            .into());
        }
        Ok(())
    }

    fn take_held(&mut self) -> Option<Incoming> {
        let incoming = self.held.pop_front()?;
        self.held_bytes -= match &incoming {
            Incoming::Message(message) => message.len(),
            Incoming::Request(request) => request.payload().len(),
        };
        Some(incoming)
    }
}

impl Drop for ReplyState {
    fn drop(&mut self) {
        self.table.close();
    }
}

impl WebSocket {
    /// Takes requests and replies on for this connection (see [`crate::reply`]): from now on
    /// messages starting with `\x1e?` are the peer's requests and those starting with `\x1e=`
    /// answers to this side's, [`recv`](Self::recv) routes answers to the requests waiting for
    /// them, and [`recv_incoming`](Self::recv_incoming) hands over requests. Only the first
    /// call's settings count.
    ///
    /// Call it before the first `recv`: on the server, at the top of the handler, and on a
    /// client, right after connecting. Both sides of a connection must take replies on: a
    /// request to a peer that did not is a plain message to it, and times out unanswered.
    pub fn enable_replies(&mut self, replies: Replies) {
        if self.replies.is_some() {
            return;
        }
        let table = Table::new(replies);
        let sender = self.sender();
        sender.set_replies(&table);
        self.replies = Some(Box::new(ReplyState {
            table,
            sender,
            held: VecDeque::new(),
            held_bytes: 0,
        }));
    }

    /// Receives the next message or request of the peer, as [`recv`](Self::recv) receives
    /// messages: answers go to the requests waiting for them on the way.
    ///
    /// On a connection that did not [`enable_replies`](Self::enable_replies), every message is
    /// an [`Incoming::Message`]. See [`crate::reply`] for an example.
    pub async fn recv_incoming(&mut self) -> Option<Result<Incoming, Error>> {
        loop {
            if let Some(held) = self.replies.as_deref_mut().and_then(ReplyState::take_held) {
                return Some(Ok(held));
            }
            let message = match self.recv_message().await {
                Some(Ok(message)) => message,
                ended => {
                    self.end_requests();
                    return ended.map(|ended| ended.map(Incoming::Message));
                }
            };
            let Some(state) = self.replies.as_deref_mut() else {
                return Some(Ok(Incoming::Message(message)));
            };
            if let Some(incoming) = state.route(message) {
                return Some(Ok(incoming));
            }
        }
    }

    /// [`recv`](Self::recv) on a connection that took replies on: the peer's requests are
    /// answered with an error, as this connection does not read them.
    pub(super) async fn recv_refusing_requests(&mut self) -> Option<Result<Message, Error>> {
        loop {
            match self.recv_incoming().await? {
                Ok(Incoming::Message(message)) => return Some(Ok(message)),
                Ok(Incoming::Request(request)) => {
                    let _ = request.refuse(
                        "this connection takes no requests: it reads with recv, not recv_incoming",
                    );
                }
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// Fails every request in flight once the connection is over.
    fn end_requests(&mut self) {
        if let Some(state) = &self.replies
            && self.done
        {
            state.table.close();
        }
    }

    /// Asks the peer `message` and awaits its answer (see [`crate::reply`]), reading the
    /// connection while it waits: answers go to the requests waiting for them, and whatever
    /// else arrives is held back for the next [`recv`](Self::recv) or
    /// [`recv_incoming`](Self::recv_incoming), in order; past 64 messages or 1 MiB held, the
    /// request fails with [`RequestError::Backlog`] rather than hold more.
    ///
    /// ```
    /// use ws_routes::reply::Replies;
    /// use ws_routes::{route, WebSocket};
    ///
    /// /// Asks each client for its name, within 2 s, then greets it.
    /// #[route("/hello")]
    /// async fn hello(mut ws: WebSocket) {
    ///     ws.enable_replies(Replies::new());
    ///     let asked = ws.request("your name?").timeout(std::time::Duration::from_secs(2));
    ///     let greeting = match asked.await {
    ///         Ok(name) => format!("hello, {}", name.as_text().unwrap_or("stranger")),
    ///         Err(error) => format!("no name: {error}"),
    ///     };
    ///     let _ = ws.send(greeting).await;
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use ws_routes::reply::Incoming;
    /// # let server = ws_routes::Server::new(ws_routes::routes![hello]).bind("127.0.0.1:0").await?;
    /// # let url = format!("ws://{}/hello", server.local_addr()?);
    /// # tokio::spawn(server.run());
    /// # let mut ws = ws_routes::connect(&url).await?;
    /// # ws.enable_replies(Replies::new());
    /// # let Some(Ok(Incoming::Request(request))) = ws.recv_incoming().await else { panic!() };
    /// # assert_eq!(request.payload().as_text(), Some("your name?"));
    /// # request.reply("ada")?;
    /// # let Some(Ok(Incoming::Message(greeting))) = ws.recv_incoming().await else { panic!() };
    /// # assert_eq!(greeting.as_text(), Some("hello, ada"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn request(&mut self, message: impl Into<Message>) -> Ask<'_, Message> {
        Ask::new(Via::Socket(self), Ok(message.into()), Ok)
    }

    /// Asks the peer `value` encoded with codec `C`, and decodes the answer into `R`: as
    /// [`request`](Self::request).
    #[cfg(feature = "codec")]
    pub fn request_as<C: Codec, R: serde::de::DeserializeOwned>(
        &mut self,
        value: &(impl serde::Serialize + ?Sized),
    ) -> Ask<'_, R> {
        let request = codec::encode::<C>(value).map_err(codec::into_error::<C>);
        Ask::new(
            Via::Socket(self),
            request,
            crate::reply::decode_answer::<C, R>,
        )
    }

    /// Asks the peer `value` as JSON text, and decodes the JSON answer into `R`:
    /// [`request_as`](Self::request_as) with [`JsonCodec`](crate::codec::JsonCodec).
    #[cfg(feature = "json")]
    pub fn request_json<R: serde::de::DeserializeOwned>(
        &mut self,
        value: &(impl serde::Serialize + ?Sized),
    ) -> Ask<'_, R> {
        self.request_as::<crate::codec::JsonCodec, R>(value)
    }

    /// Sends `request` and reads until its answer comes, within `timeout` (or the default).
    pub(crate) async fn ask(
        &mut self,
        request: Message,
        timeout: Option<Duration>,
    ) -> Result<Message, Error> {
        let table = match &self.replies {
            Some(state) => Arc::clone(&state.table),
            None => return Err(not_enabled()),
        };
        let mut waiting = table.start()?;
        let timeout = timeout.unwrap_or_else(|| table.default_timeout());
        let reading = async {
            self.send(wire::request(waiting.id(), &request)).await?;
            loop {
                if let Some(answer) = waiting.try_answer() {
                    return answer;
                }
                let message = match self.recv_message().await {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => {
                        self.end_requests();
                        return Err(error);
                    }
                    None => {
                        self.end_requests();
                        return Err(RequestError::Closed.into());
                    }
                };
                let state = self
                    .replies
                    .as_deref_mut()
                    .expect("replies are never turned off");
                if let Some(incoming) = state.route(message) {
                    state.hold(incoming)?;
                }
            }
        };
        match tokio::time::timeout(timeout, reading).await {
            Ok(answer) => answer,
            Err(_) => Err(RequestError::Timeout(timeout).into()),
        }
    }
}

impl Sender {
    /// Asks the peer `message` and awaits its answer (see [`crate::reply`]): the request goes
    /// out through the connection's queue, as [`send`](Self::send) does, and the answer comes
    /// back while the connection's own loop reads ([`WebSocket::recv`] or
    /// [`recv_incoming`](WebSocket::recv_incoming)): awaited in that loop's own task, outside
    /// `recv`, it gets no answer but its timeout ([`WebSocket::request`] is for there). Fails
    /// with [`RequestError::NotEnabled`] unless the connection took replies on.
    ///
    /// ```
    /// use ws_routes::reply::Replies;
    /// use ws_routes::{route, WebSocket};
    ///
    /// #[route("/status")]
    /// async fn status(mut ws: WebSocket) {
    ///     ws.enable_replies(Replies::new());
    ///     let sender = ws.sender();
    ///     tokio::spawn(async move {
    ///         // Asks the client how it is doing, while the handler's loop reads.
    ///         if let Ok(battery) = sender.request_json::<u8>(&"battery").await {
    ///             let _ = sender.send(format!("{battery} % left")).await;
    ///         }
    ///     });
    ///     while let Some(Ok(_)) = ws.recv().await {}
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use ws_routes::reply::Incoming;
    /// # let server = ws_routes::Server::new(ws_routes::routes![status]);
    /// # let server = server.bind("127.0.0.1:0").await?;
    /// # let url = format!("ws://{}/status", server.local_addr()?);
    /// # tokio::spawn(server.run());
    /// # let mut ws = ws_routes::connect(&url).await?;
    /// # ws.enable_replies(Replies::new());
    /// # let Some(Ok(Incoming::Request(request))) = ws.recv_incoming().await else { panic!() };
    /// # assert_eq!(request.json::<String>()?, "battery");
    /// # request.reply_json(&80)?;
    /// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("80 % left"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn request(&self, message: impl Into<Message>) -> Ask<'_, Message> {
        Ask::new(Via::Sender(self), Ok(message.into()), Ok)
    }

    /// Asks the peer `value` encoded with codec `C`, and decodes the answer into `R`: as
    /// [`request`](Self::request).
    #[cfg(feature = "codec")]
    pub fn request_as<C: Codec, R: serde::de::DeserializeOwned>(
        &self,
        value: &(impl serde::Serialize + ?Sized),
    ) -> Ask<'_, R> {
        let request = codec::encode::<C>(value).map_err(codec::into_error::<C>);
        Ask::new(
            Via::Sender(self),
            request,
            crate::reply::decode_answer::<C, R>,
        )
    }

    /// Asks the peer `value` as JSON text, and decodes the JSON answer into `R`:
    /// [`request_as`](Self::request_as) with [`JsonCodec`](crate::codec::JsonCodec).
    #[cfg(feature = "json")]
    pub fn request_json<R: serde::de::DeserializeOwned>(
        &self,
        value: &(impl serde::Serialize + ?Sized),
    ) -> Ask<'_, R> {
        self.request_as::<crate::codec::JsonCodec, R>(value)
    }

    /// Queues `request` and waits for its answer, within `timeout` (or the default).
    pub(crate) async fn ask(
        &self,
        request: Message,
        timeout: Option<Duration>,
    ) -> Result<Message, Error> {
        let table = self.replies().ok_or_else(not_enabled)?;
        let mut waiting = table.start()?;
        let timeout = timeout.unwrap_or_else(|| table.default_timeout());
        // Waiting for room in the queue counts towards the timeout.
        let asking = async {
            self.send(wire::request(waiting.id(), &request)).await?;
            waiting.answer().await
        };
        match tokio::time::timeout(timeout, asking).await {
            Ok(answer) => answer,
            Err(_) => Err(RequestError::Timeout(timeout).into()),
        }
    }
}
