//! [`WebSocket`]: the connection handlers and clients talk through, with what keeps it honest
//! on the server ([`liveness`]) and the queue that lets other tasks push on it ([`send_queue`]).

pub(crate) mod liveness;
mod request;
pub(crate) mod send_queue;
mod stream;
#[cfg(feature = "codec")]
mod typed;

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::oneshot;
use tracing::debug;

pub use send_queue::Sender;

use crate::error::Error;
use crate::metrics::Traffic;
use crate::rate_limit::Allowance;
use crate::wire::engine::{Data, Engine, SendNow};
use crate::wire::frame::Frame;
use crate::wire::{CloseCode, CloseFrame, Message};
use liveness::{Liveness, Wake};
use send_queue::{Next, Queued, SendQueue};

/// One WebSocket connection, on the server (a handler's argument) or on the client
/// (from [`connect`](crate::connect)).
///
/// On the server, dropping it or returning from the handler hands the connection back to the
/// server, which closes it with 1000 (or 1011 when the handler panicked or failed).
///
/// ```
/// use ws_routes::{route, Message, WebSocket};
///
/// #[route("/echo")]
/// async fn echo(mut ws: WebSocket) {
///     while let Some(Ok(message)) = ws.recv().await {
///         if ws.send(message).await.is_err() {
///             break;
///         }
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = ws_routes::Server::new(ws_routes::routes![echo]).bind("127.0.0.1:0").await?;
/// # let addr = server.local_addr()?;
/// # tokio::spawn(server.run());
/// # let mut ws = ws_routes::connect(&format!("ws://{addr}/echo")).await?;
/// # ws.send(vec![1u8, 2, 3]).await?;
/// # assert_eq!(ws.recv().await.unwrap()?, Message::from(vec![1u8, 2, 3]));
/// # Ok(())
/// # }
/// ```
pub struct WebSocket {
    /// `None` only while being handed back in `Drop`. Boxed, like the liveness state: the
    /// socket moves into and between handler futures, which then stay small.
    stream: Option<Box<Engine>>,
    /// Where the server waits for the stream once the handler lets go of it.
    give_back: Option<oneshot::Sender<Returned>>,
    /// The connection failed or finished; `recv` yields nothing more.
    done: bool,
    /// Messages from [`Sender`]s, written while `recv` waits; made on the first `sender()`.
    send_queue: Option<SendQueue>,
    queue_capacity: usize,
    /// Keepalive, idle timeout and shutdown (server side only).
    liveness: Option<Box<Liveness>>,
    /// The subprotocol agreed in the handshake.
    protocol: Option<String>,
    /// The close frame the peer sent, once it has.
    peer_close: Option<CloseFrame>,
    /// Which of incoming frames and queued messages `recv` serves first next time: they take
    /// turns, so that a busy reader still writes what waits for it and the other way round.
    queued_first: bool,
    /// Messages and bytes in and out, for metrics (server side).
    traffic: Traffic,
    /// Requests and replies, once the connection takes them on.
    replies: Option<Box<request::ReplyState>>,
    /// What the peer may still send, by the server's rate limit (server side, when it has one).
    allowance: Option<Box<Allowance>>,
    /// Wakers and the write deadline of the socket polled as a `Stream` or a `Sink`.
    polled: Option<Box<stream::Polled>>,
}

/// What `recv` saw first: a message from the peer, one queued by a [`Sender`], a
/// [`Sender::close`], or a liveness event.
enum Event {
    Incoming(Option<Result<Frame, Error>>),
    Outgoing(Queued),
    Kicked(CloseFrame),
    Wake(Wake),
}

/// A server connection's stream, handed back to the server when the handler lets go of it.
pub(crate) struct Returned {
    pub(crate) stream: Box<Engine>,
    /// When the close handshake the socket started must be over, if it started one.
    pub(crate) close_deadline: Option<tokio::time::Instant>,
    /// What [`Sender`]s queued that was not written yet, if anything. Boxed, as is the
    /// future that writes it: a connection's task is as large as its largest state for all its
    /// life, and most connections close with nothing queued.
    pub(crate) unsent: Option<Box<Unsent>>,
}

/// Messages [`Sender`]s queued that a connection had not written when its handler let go of
/// the socket: the server writes them before its close frame.
pub(crate) struct Unsent {
    queue: VecDeque<Queued>,
    traffic: Traffic,
}

impl Unsent {
    /// Writes the messages in order, until one fails (a close frame went out already, or the
    /// peer is gone).
    pub(crate) async fn write(self: Box<Self>, stream: &mut Engine) {
        let _ = write_all(stream, self.queue, &self.traffic).await;
    }
}

/// What the server gives a connection's socket besides the stream.
pub(crate) struct ServerSide {
    /// Where the stream goes back to the server once the handler lets go of it.
    pub(crate) give_back: oneshot::Sender<Returned>,
    pub(crate) queue_capacity: usize,
    pub(crate) liveness: Box<Liveness>,
    pub(crate) protocol: Option<&'static str>,
    pub(crate) traffic: Traffic,
    pub(crate) allowance: Option<Box<Allowance>>,
}

impl WebSocket {
    /// The default bound of the queue behind [`sender`](Self::sender), in messages.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 32;

    pub(crate) fn client(stream: Box<Engine>, protocol: Option<String>) -> Self {
        WebSocket {
            stream: Some(stream),
            give_back: None,
            done: false,
            send_queue: None,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            liveness: None,
            protocol,
            peer_close: None,
            queued_first: false,
            traffic: Traffic::default(),
            replies: None,
            allowance: None,
            polled: None,
        }
    }

    pub(crate) fn server(stream: Box<Engine>, side: ServerSide) -> Self {
        WebSocket {
            stream: Some(stream),
            give_back: Some(side.give_back),
            done: false,
            send_queue: None,
            queue_capacity: side.queue_capacity,
            liveness: Some(side.liveness),
            protocol: side.protocol.map(str::to_owned),
            peer_close: None,
            queued_first: false,
            traffic: side.traffic,
            replies: None,
            allowance: side.allowance,
            polled: None,
        }
    }

    /// A handle that sends on this connection from anywhere: clone it, move it into a spawned
    /// task, and push messages whenever the program likes.
    ///
    /// Messages sent through it wait in a bounded queue (32 messages by default, the server's
    /// [`outgoing_queue`](crate::Server::outgoing_queue) setting) and are written while this
    /// socket waits in [`recv`](Self::recv), those waiting together in one write. Those still waiting when the socket
    /// [`close`](Self::close)s, or when a server's handler lets go of it, are written before
    /// the close frame (within the write timeout, and the server's
    /// [`close_timeout`](crate::Server::close_timeout)); only a [`Sender::close`] drops them.
    /// Once the close has started, or the connection is gone, every send fails with
    /// [`Error::Closed`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_routes::{route, WebSocket};
    ///
    /// #[route("/ticks")]
    /// async fn ticks(mut ws: WebSocket) {
    ///     let sender = ws.sender();
    ///     tokio::spawn(async move {
    ///         for tick in 0.. {
    ///             tokio::time::sleep(Duration::from_secs(1)).await;
    ///             if sender.send(format!("tick {tick}")).await.is_err() {
    ///                 break; // the client left
    ///             }
    ///         }
    ///     });
    ///     while let Some(Ok(_)) = ws.recv().await {}
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = ws_routes::Server::new(ws_routes::routes![ticks]).bind("127.0.0.1:0").await?;
    /// # let addr = server.local_addr()?;
    /// # tokio::spawn(server.run());
    /// # let mut ws = ws_routes::connect(&format!("ws://{addr}/ticks")).await?;
    /// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("tick 0"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn sender(&mut self) -> Sender {
        if let Some(send_queue) = &self.send_queue {
            return send_queue.sender();
        }
        let send_queue = SendQueue::new(self.queue_capacity);
        // Broadcasts write straight to the socket while this connection writes nothing.
        if let Some(stream) = self.stream.as_mut() {
            stream.share_socket(send_queue.direct());
        }
        self.send_queue.insert(send_queue).sender()
    }

    /// The subprotocol agreed in the handshake (`Sec-WebSocket-Protocol`), if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether permessage-deflate was agreed in the handshake (see
    /// [`Compression`](crate::Compression)): long enough messages then travel compressed.
    pub fn is_compressed(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|stream| stream.is_compressed())
    }

    /// The round trip of the last keepalive ping the client answered (server side, with
    /// keepalive on).
    pub fn latency(&self) -> Option<Duration> {
        self.liveness.as_deref().and_then(Liveness::latency)
    }

    fn stream(&mut self) -> &mut Engine {
        self.stream
            .as_mut()
            .expect("the stream is only taken when the socket is dropped")
    }

    /// Receives the next text or binary message.
    ///
    /// Returns `None` once the connection is closed; the close frame the peer sent, if any, is
    /// then [`close_frame`](Self::close_frame). Pings are answered, pongs consumed and the
    /// close handshake completed along the way: only data comes out, as iterating over a
    /// connection does in Python's `websockets`. A message over the size limit closes the
    /// connection with 1009, invalid UTF-8 with 1007, a protocol violation with 1002 and a
    /// message past the server's [`RateLimit`](crate::RateLimit) with 1008; the error is
    /// returned once, then `None`.
    ///
    /// Cancel-safe: in `tokio::select!`, a `recv` dropped because another branch won loses no
    /// message (what it had half read or half written stays in the socket, and the next call
    /// goes on from there). Only an error that ends the connection may then come as the plain
    /// end, `None`, when the call was dropped while writing its close frame. The socket is a
    /// [`Stream`](https://docs.rs/futures/0.3/futures/stream/trait.Stream.html) of these messages too.
    ///
    /// On the server, while it waits here it also writes what [`Sender`]s queued, sends
    /// keepalive pings (closing with 1011 a client that stops answering them), closes an idle
    /// connection, and starts the close handshake (1001) when the server shuts down; messages
    /// the client sent before that still arrive.
    ///
    /// ```
    /// use ws_routes::{route, WebSocket};
    ///
    /// #[route("/echo")]
    /// async fn echo(mut ws: WebSocket) {
    ///     while let Some(Ok(message)) = ws.recv().await {
    ///         if ws.send(message).await.is_err() {
    ///             break;
    ///         }
    ///     }
    ///     if let Some(frame) = ws.close_frame() {
    ///         tracing::debug!(code = %frame.code, reason = %frame.reason, "client left");
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = ws_routes::Server::new(ws_routes::routes![echo]).bind("127.0.0.1:0").await?;
    /// # let addr = server.local_addr()?;
    /// # tokio::spawn(server.run());
    /// # let mut ws = ws_routes::connect(&format!("ws://{addr}/echo")).await?;
    /// # ws.send("hello").await?;
    /// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("hello"));
    /// # ws.close(4000u16, "bye").await?;
    /// # assert!(ws.recv().await.is_none());
    /// # assert_eq!(ws.close_frame().unwrap().code, 4000);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// On a connection that [took replies on](Self::enable_replies), answers go to the
    /// requests waiting for them on the way, and the peer's requests are answered with an
    /// error (read them with [`recv_incoming`](Self::recv_incoming)).
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        if self.replies.is_some() {
            // Boxed: the future of every `recv` stays the size it was without replies.
            return Box::pin(self.recv_refusing_requests()).await;
        }
        self.recv_message().await
    }

    /// The next message from the peer, as [`recv`](Self::recv) describes it, whatever it
    /// starts with.
    async fn recv_message(&mut self) -> Option<Result<Message, Error>> {
        if self.done {
            return None;
        }
        loop {
            let stream = self
                .stream
                .as_mut()
                .expect("the stream is only taken when the socket is dropped");
            // Waiting here, the connection writes nothing unless woken: broadcasts may write to
            // the socket themselves till then.
            stream.open_direct();
            self.queued_first = !self.queued_first;
            let queued_first = self.queued_first;
            let mut liveness = self.liveness.as_deref_mut();
            let send_queue = self.send_queue.as_ref();
            let event = poll_fn(|cx| {
                poll_event(
                    cx,
                    stream,
                    liveness.as_deref_mut(),
                    send_queue,
                    queued_first,
                )
            })
            .await;
            // What is not a data message goes through a boxed future: an idle connection
            // waits here, and its task would otherwise keep room for the largest of them (a
            // keepalive ping, a queued write, a close: 1.4 KiB) the whole time.
            let frame = match event {
                Event::Outgoing(message) => match Box::pin(self.write_queued(message)).await {
                    None => continue,
                    Some(end) => return end,
                },
                Event::Kicked(frame) => return Box::pin(self.kicked(frame)).await,
                Event::Wake(wake) => match Box::pin(self.wake(wake)).await {
                    Some(ended) => return ended,
                    None => continue,
                },
                Event::Incoming(None) => {
                    self.done = true;
                    return None;
                }
                Event::Incoming(Some(Ok(frame))) => frame,
                Event::Incoming(Some(Err(error))) => return Box::pin(self.fail(error)).await,
            };
            match frame {
                Frame::Message(message) => {
                    self.traffic.received(message.len());
                    if let Some(allowance) = &mut self.allowance
                        && !allowance.take(message.len())
                    {
                        return Box::pin(self.fail(Error::RateLimited)).await;
                    }
                    if let Some(liveness) = &mut self.liveness {
                        liveness.on_activity();
                    }
                    return Some(Ok(message));
                }
                Frame::Pong(payload) => {
                    if let Some(liveness) = &mut self.liveness {
                        liveness.on_pong(&payload);
                    }
                }
                Frame::Close(frame) => {
                    if frame
                        .as_ref()
                        .is_some_and(|frame| frame.code == CloseCode::ABNORMAL)
                    {
                        debug!("the peer ended the connection without a close frame (1006)");
                    }
                    self.peer_close = frame;
                    // The engine queued the answer. It usually goes out at once, and then there
                    // is nothing left to wait for: only an answer the socket did not take yet
                    // needs the close deadline (arming it costs a timer and a wake-up).
                    let answered = self
                        .stream
                        .as_mut()
                        .and_then(|stream| stream.flush().now_or_never());
                    if !matches!(answered, Some(Ok(())))
                        && let Some(liveness) = &mut self.liveness
                    {
                        liveness.on_closing();
                    }
                }
                // The engine answers pings itself.
                Frame::Ping(_) => {}
            }
        }
    }

    /// The close frame the peer sent, once [`recv`](Self::recv) has returned `None` after it;
    /// `None` while the connection is open, or when the peer's close frame carried no code.
    /// A connection that ended without a close frame (the peer went away, or shut its side of
    /// the TCP connection) reports [`CloseCode::ABNORMAL`] (1006), as browsers do; no close
    /// frame is sent to such a peer.
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.peer_close.as_ref()
    }

    /// Acts on a liveness event; `Some` when `recv` must return.
    async fn wake(&mut self, wake: Wake) -> Option<Option<Result<Message, Error>>> {
        let (code, reason) = match wake {
            Wake::Ping(payload) => {
                let sent = self.write(Frame::Ping(payload)).await;
                return sent.err().map(|error| self.fail_now(error));
            }
            Wake::PongOverdue => {
                let frame = CloseFrame::new(CloseCode::INTERNAL, "keepalive ping timeout");
                let _ = self.close_with(frame).await;
                self.done = true;
                return Some(Some(Err(Error::KeepaliveTimeout)));
            }
            Wake::CloseTimedOut => {
                self.done = true;
                return Some(None);
            }
            Wake::Idle => (CloseCode::NORMAL, "idle timeout"),
            Wake::Shutdown(code) => (code, "server shutting down"),
        };
        // Start the close handshake; the client's answer arrives through `recv`.
        match self.close(code, reason).await {
            Ok(()) => None,
            Err(error) => Some(self.fail_now(error)),
        }
    }

    fn fail_now(&mut self, error: Error) -> Option<Result<Message, Error>> {
        self.done = true;
        match error {
            Error::Closed => None,
            error => Some(Err(error)),
        }
    }

    /// Writes a message a [`Sender`] queued: `None` once written, or what `recv` returns when
    /// the write failed or a [`Sender::close`] interrupted it (the write may be waiting on a
    /// peer that does not read).
    async fn write_queued(&mut self, queued: Queued) -> Option<Option<Result<Message, Error>>> {
        let (Some(stream), Some(send_queue)) = (self.stream.as_mut(), self.send_queue.as_ref())
        else {
            return Some(None);
        };
        let limit = self.liveness.as_deref().map(Liveness::write_timeout);
        // What else waits goes out in the same write.
        let mut batch = VecDeque::new();
        if !matches!(queued, Queued::Rest) {
            let mut bytes = queued_len(&queued);
            // `queued` itself is the batch's first.
            while batch.len() + 1 < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                let Some(more) = send_queue.try_next_message() else {
                    break;
                };
                bytes += queued_len(&more);
                batch.push_back(more);
            }
        }
        let writing = async {
            if batch.is_empty() {
                write_one(stream, queued, &self.traffic).await
            } else {
                batch.push_front(queued);
                write_all(stream, batch, &self.traffic).await
            }
        };
        let written = tokio::select! {
            written = bounded(limit, writing) => written,
            frame = send_queue.closed() => return Some(self.kicked(frame).await),
        };
        match written {
            Ok(()) => None,
            Err(error) => Some(self.fail(error).await),
        }
    }

    /// Ends the connection a [`Sender::close`] asked to close.
    async fn kicked(&mut self, frame: CloseFrame) -> Option<Result<Message, Error>> {
        self.done = true;
        // The peer may not be reading (often the reason it is closed): give the close frame a
        // moment, then leave it to the server's close handshake, which has its own timeout.
        let closing = self.close_with(frame.clone());
        let _ = tokio::time::timeout(KICK_CLOSE_WAIT, closing).await;
        Some(Err(Error::Kicked(frame)))
    }

    async fn fail(&mut self, error: Error) -> Option<Result<Message, Error>> {
        self.done = true;
        let (code, reason) = match &error {
            Error::Closed => return None,
            Error::MessageTooBig => (CloseCode::TOO_BIG, "message too big"),
            Error::InvalidUtf8 => (CloseCode::INVALID_PAYLOAD, "invalid UTF-8"),
            Error::InvalidCompression => (CloseCode::INVALID_PAYLOAD, "invalid compressed data"),
            Error::Protocol(_) => (CloseCode::PROTOCOL_ERROR, "protocol error"),
            Error::RateLimited => (CloseCode::POLICY, "rate limit exceeded"),
            Error::WriteTimeout => {
                self.abandon();
                return Some(Err(error));
            }
            _ => return Some(Err(error)),
        };
        // Best effort: the peer may be gone already, and the error below says what happened.
        let _ = self.close_with(CloseFrame::new(code, reason)).await;
        Some(Err(error))
    }

    /// Sends a message: `&str` and `String` become text, `Vec<u8>`, `&[u8]` and `Bytes` binary.
    ///
    /// Waits until the message is written to the socket, so a slow peer slows the sender
    /// rather than growing a buffer.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        let bytes = message.len();
        // Most messages go out at once: no future is built for them. The others wait in a
        // boxed one, as `recv`'s rare paths do: the handler's future would keep room for what
        // `send` may await (up to 780 bytes) while it waits in `recv` too.
        match self.stream().send_now(message) {
            SendNow::Done(written) => self.written(written)?,
            SendNow::Queued => {
                let limit = self.liveness.as_deref().map(Liveness::write_timeout);
                let written = Box::pin(bounded(limit, self.stream().flush())).await;
                self.written(written)?;
            }
            SendNow::Busy(message) => Box::pin(self.write(Frame::Message(message))).await?,
        }
        self.traffic.sent(bytes);
        Ok(())
    }

    /// Sends a ping carrying `payload` (at most 125 bytes). The peer's pong is consumed by
    /// [`recv`](Self::recv), as every control frame is: keep calling it. Keepalive pings are the
    /// server's business already; this is for a client that wants to check the connection.
    ///
    /// ```
    /// # use ws_routes::{route, routes, WebSocket};
    /// # #[route("/echo")]
    /// # async fn echo(mut ws: WebSocket) {
    /// #     while let Some(Ok(message)) = ws.recv().await {
    /// #         let _ = ws.send(message).await;
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = ws_routes::Server::new(routes![echo]).bind("127.0.0.1:0").await?;
    /// # let url = format!("ws://{}/echo", server.local_addr()?);
    /// # tokio::spawn(server.run());
    /// # let mut ws = ws_routes::connect(&url).await?;
    /// ws.ping("are you there?").await?;
    /// # // The pong is consumed inside `recv`; the connection goes on.
    /// # ws.send("still here").await?;
    /// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("still here"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.write(Frame::Ping(payload.into())).await
    }

    /// Starts the close handshake with `code` and a short `reason` (cut to 123 bytes).
    ///
    /// What [`Sender`]s queued goes out first, and from then on they fail with
    /// [`Error::Closed`]. Keep calling [`recv`](Self::recv) to read the peer's answer; it
    /// returns `None` when the handshake is complete. On the server, simply returning from the
    /// handler also works.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.write_unsent().await?;
        self.close_with(CloseFrame::new(code, reason)).await
    }

    /// Ends the send queue, if there is one, and writes what waited in it, within one write
    /// timeout for all of it.
    async fn write_unsent(&mut self) -> Result<(), Error> {
        let Some(queue) = self.take_unsent() else {
            return Ok(());
        };
        let limit = self.liveness.as_deref().map(Liveness::write_timeout);
        let stream = self
            .stream
            .as_mut()
            .expect("the stream is only taken when the socket is dropped");
        // Boxed: `recv` closes through here, and what it waits in stays small.
        let writing = Box::pin(write_all(stream, queue, &self.traffic));
        let written = bounded(limit, writing).await;
        if matches!(written, Err(Error::WriteTimeout)) {
            self.abandon();
        }
        written
    }

    /// Ends the send queue, if there is one, and takes what waited in it; `None` when nothing did.
    fn take_unsent(&mut self) -> Option<VecDeque<Queued>> {
        let queue = self.send_queue.take().map(SendQueue::into_unsent)?;
        (!queue.is_empty()).then_some(queue)
    }

    /// Sends `frame` and starts the close handshake's deadline; every close goes through here.
    async fn close_with(&mut self, frame: CloseFrame) -> Result<(), Error> {
        if let Some(liveness) = &mut self.liveness {
            liveness.on_closing();
        }
        self.write(Frame::Close(Some(frame))).await
    }

    /// Writes `frame`; on the server, a write that does not finish within the write timeout
    /// (the peer stopped reading) gives up on the connection with [`Error::WriteTimeout`].
    async fn write(&mut self, frame: Frame) -> Result<(), Error> {
        let limit = self.liveness.as_deref().map(Liveness::write_timeout);
        let written = bounded(limit, self.stream().send(frame)).await;
        self.written(written)
    }

    /// The outcome of a write: one that timed out abandons the connection.
    fn written(&mut self, written: Result<(), Error>) -> Result<(), Error> {
        if matches!(written, Err(Error::WriteTimeout)) {
            self.abandon();
        }
        written
    }

    /// The peer does not read: nothing more is written, and the server drops the connection
    /// without waiting for a close handshake.
    fn abandon(&mut self) {
        self.done = true;
        if let Some(liveness) = &mut self.liveness {
            liveness.abandon();
        }
    }
}

/// Runs a write, within `limit` when there is one. Most writes finish at once: the timer
/// starts only for one that does not.
async fn bounded(
    limit: Option<Duration>,
    writing: impl Future<Output = Result<(), Error>>,
) -> Result<(), Error> {
    let mut writing = std::pin::pin!(writing);
    if let Some(written) = writing.as_mut().now_or_never() {
        return written;
    }
    let Some(limit) = limit else {
        return writing.await;
    };
    match tokio::time::timeout(limit, writing).await {
        Ok(written) => written,
        Err(_) => Err(Error::WriteTimeout),
    }
}

/// Writes messages [`Sender`]s queued, in order, until one fails.
async fn write_all(
    stream: &mut Engine,
    mut queue: VecDeque<Queued>,
    traffic: &Traffic,
) -> Result<(), Error> {
    while !queue.is_empty() {
        let mut batch = Vec::new();
        let mut counted = Vec::new();
        let mut bytes = 0;
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            let Some(queued) = queue.pop_front() else {
                break;
            };
            let length = queued_len(&queued);
            bytes += length;
            match queued {
                Queued::Message(message) => batch.push(Data::Message(message)),
                Queued::Encoded(encoded) => batch.push(Data::Encoded(encoded)),
                // Only the connection's own writing leaves the rest of a frame; never queued.
                Queued::Rest => continue,
            }
            counted.push(length);
        }
        stream.send_batch(batch).await?;
        for length in counted {
            traffic.sent(length);
        }
    }
    Ok(())
}

/// The most queued messages, and bytes, written together (as many frames as one vectored write
/// of the engine takes).
const MAX_BATCH: usize = crate::wire::engine::BATCH_WRITE_FRAMES;
const MAX_BATCH_BYTES: usize = 256 << 10;

/// The payload bytes of a queued message, as traffic counts them.
fn queued_len(queued: &Queued) -> usize {
    match queued {
        Queued::Message(message) => message.len(),
        Queued::Encoded(encoded) => encoded.payload_len(),
        Queued::Rest => 0,
    }
}

/// Writes one message a [`Sender`] queued, and counts it.
async fn write_one(stream: &mut Engine, queued: Queued, traffic: &Traffic) -> Result<(), Error> {
    let bytes = queued_len(&queued);
    let written = match queued {
        Queued::Message(message) => stream.send(Frame::Message(message)).await,
        Queued::Encoded(encoded) => stream.send_encoded(encoded).await,
        // The rest of a broadcast written straight to the socket: a broadcast recipient, not a
        // message this connection sent (it counts no bytes).
        Queued::Rest => stream.flush().await,
    };
    if written.is_ok() {
        traffic.sent(bytes);
    }
    written
}

/// What `recv` waits for, the first that is ready: a liveness event first (a peer that floods
/// frames must not postpone its keepalive or the close deadline), then an incoming frame and a
/// message a [`Sender`] queued (or a [`Sender::close`]), in turns. Polled by hand: a `select!`
/// of three futures made anew at every call cost about 200 instructions a message
/// (bench/README.md).
fn poll_event(
    cx: &mut Context<'_>,
    stream: &mut Engine,
    liveness: Option<&mut Liveness>,
    send_queue: Option<&SendQueue>,
    queued_first: bool,
) -> Poll<Event> {
    if let Some(liveness) = liveness
        && let Poll::Ready(wake) = liveness.poll_wake(cx)
    {
        return Poll::Ready(Event::Wake(wake));
    }
    let queued = |cx: &mut Context<'_>| match send_queue.map(|queue| queue.poll_next(cx)) {
        Some(Poll::Ready(Next::Message(message))) => Poll::Ready(Event::Outgoing(message)),
        Some(Poll::Ready(Next::Close(frame))) => Poll::Ready(Event::Kicked(frame)),
        Some(Poll::Pending) | None => Poll::Pending,
    };
    if queued_first && let Poll::Ready(event) = queued(cx) {
        return Poll::Ready(event);
    }
    if let Poll::Ready(incoming) = stream.poll_next(cx) {
        return Poll::Ready(Event::Incoming(incoming));
    }
    if queued_first {
        Poll::Pending
    } else {
        queued(cx)
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        if let (Some(stream), Some(give_back)) = (self.stream.take(), self.give_back.take()) {
            let close_deadline = self.liveness.as_deref().and_then(Liveness::close_deadline);
            let unsent = self.take_unsent().map(|queue| {
                let traffic = std::mem::take(&mut self.traffic);
                Box::new(Unsent { queue, traffic })
            });
            let returned = Returned {
                stream,
                close_deadline,
                unsent,
            };
            // The server may have stopped waiting (its task was cancelled); then the stream is
            // dropped here and the TCP connection closes.
            let _ = give_back.send(returned);
        }
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("server_side", &self.give_back.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// How long [`WebSocket::recv`] tries to write the close frame a [`Sender::close`] asked for
/// before it hands the connection back; the server's close handshake then goes on trying, up
/// to its `close_timeout`.
const KICK_CLOSE_WAIT: Duration = Duration::from_millis(500);
