//! The framing engine: one connection's WebSocket protocol over its [`Transport`], as poll
//! functions, so that every wait in it can be cancelled and resumed (the connection code calls
//! [`Engine::next`] inside `tokio::select!` next to timers and queues).
//!
//! - **Reading.** Bytes are read [`EngineSettings::read_buffer`] at a time into a buffer of the
//!   thread's, not the connection's, and fed to the [`Reader`], which copies each payload once
//!   into the message it belongs to. A connection keeps bytes of its own only while they are
//!   arriving: a message's buffer while the message is incomplete, and the bytes read past the
//!   frame [`next`](Engine::next) returned (frames that came in one read). An idle connection
//!   holds no read buffer. The rest of a large data frame is read straight into its message.
//! - **Writing.** A frame is written header and payload in one write, flushed, and never
//!   buffered behind another: small messages go out at once, a plain TCP socket's in one
//!   `send` straight from [`send_now`](Engine::send_now) when nothing waits before them. The
//!   engine holds at most the frame in progress; a write cancelled halfway leaves the rest of
//!   that frame queued, and the next write, flush or [`next`](Engine::next) completes it
//!   first. Pongs answering pings and the close answering the peer's are framed into one
//!   buffer and written by the next poll; pings that arrived in one read are answered in one
//!   write (a lone ping at once).
//! - **Compressing.** With permessage-deflate negotiated, data messages from the threshold up
//!   are compressed on their way out (RSV1 set) and compressed ones inflated on their way in
//!   (see [`deflate`](super::deflate)); a broadcast is compressed once for every member that
//!   shares its compression settings and keeps no context.
//! - **Closing.** A close frame is answered with one echoing its code, after which `next`
//!   returns `None`; after sending one, `next` keeps yielding frames until the peer's answer.
//!   Then the server shuts its side of the connection; the client waits for the server to.
//!   When the connection ends without the peer's close frame (this side failed it, or gave up
//!   waiting), the server reads and drops what the peer still sends until it closes (RFC 6455
//!   section 7.1.1; the caller bounds the wait): closing a socket with unread input would
//!   reset the connection, and the peer would lose what was sent before the close frame. A
//!   peer that ends the TCP stream without a close frame closed abnormally: `next` yields a
//!   close with [`CloseCode::ABNORMAL`] (1006) and no close frame is owed (section 7.1.5).
//! - **Sharing.** A server's plain TCP socket may be written to by other tasks (rooms'
//!   broadcasts) while the engine writes nothing: [`SocketShare`] opens it to them and takes it
//!   back, and every write of the engine's takes it back first.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker, ready};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::deflate::compression::{Deflater, Inflater, SharedKey};
use super::deflate::negotiation::{DeflateConfig, Negotiated};
use super::frame::{self, Frame, MAX_CONTROL_PAYLOAD, MAX_HEADER, OpCode, Role};
use super::handshake;
use super::read::Reader;
use super::transport::{SharedTcp, Transport};
use super::{CloseCode, CloseFrame, Message, close};
use crate::error::Error;
use crate::http::{HeaderMap, HeaderName, HeaderValue, Uri};

/// The most a single read takes when it goes straight into a large frame's message.
const DIRECT_READ_MAX: usize = 64 << 10;

/// The most frames one vectored write of a batch takes (two slices each).
pub(crate) const BATCH_WRITE_FRAMES: usize = 64;

/// Up to this many bytes, what one write takes (frames' headers and payloads) is copied into
/// one buffer and sent in one piece (see [`poll_write_some`]), into a buffer of this size...
const SMALL_GATHER: usize = 256;
/// ...or of this one, which a 1 KiB message with its header fits.
const GATHER: usize = 2 << 10;

/// How many bytes of control frames (pongs) wait for the rest of a read's frames before they
/// are written anyway; past it, a peer that sends pings faster than it reads is not read.
const CONTROL_BATCH: usize = 4 << 10;

thread_local! {
    /// The read buffer of every connection polled on this thread: a connection keeps only
    /// what it has not yet consumed.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What [`Engine::send_now`] did with a message.
pub(crate) enum SendNow {
    /// Written and flushed, or failed.
    Done(Result<(), Error>),
    /// Framed; the rest waits in the engine for [`Engine::flush`].
    Queued,
    /// Not taken: earlier output is still being written.
    Busy(Message),
}

/// A data message to write in a batch ([`Engine::send_batch`]).
#[derive(Debug)]
pub(crate) enum Data {
    Message(Message),
    Encoded(Encoded),
}

/// A data message framed once, as a server writes it, for any number of connections: a
/// broadcast costs one encoding, and each server connection writes the same bytes. Compressed,
/// it is framed once more, on first need, and shared by every member whose compression keeps
/// no context and uses the same window and level.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    opcode: OpCode,
    header_len: u8,
    frame: Bytes,
    compressed: Arc<OnceLock<(SharedKey, Bytes)>>,
}

impl Encoded {
    pub(crate) fn new(message: &Message) -> Self {
        let (opcode, payload) = match message {
            Message::Text(text) => (OpCode::Text, text.as_bytes()),
            Message::Binary(data) => (OpCode::Binary, &data[..]),
        };
        let mut header = [0; MAX_HEADER];
        let header_len =
            frame::encode_header(&mut header, true, false, opcode, payload.len(), None);
        let mut frame = BytesMut::with_capacity(header_len + payload.len());
        frame.put_slice(&header[..header_len]);
        frame.put_slice(payload);
        Encoded {
            opcode,
            header_len: header_len as u8,
            frame: frame.freeze(),
            compressed: Arc::default(),
        }
    }

    /// The bytes of the whole frame.
    pub(crate) fn len(&self) -> usize {
        self.frame.len()
    }

    /// The bytes a server connection writes for this message: every path that writes a
    /// broadcast to a member takes them here.
    pub(crate) fn wire(&self) -> &Bytes {
        &self.frame
    }

    /// The frame a member that writes as `writes` says takes: the plain frame, or the one
    /// compressed for its key. `None` when the member must compress it on its own (its key is
    /// not the one this broadcast was compressed with, or compressing failed).
    pub(crate) fn frame_for(&self, writes: Option<&SharedWrites>) -> Option<&Bytes> {
        match writes {
            Some(writes) if self.payload_len() >= writes.threshold => {
                self.compressed_frame(writes.key).ok().flatten()
            }
            _ => Some(&self.frame),
        }
    }

    /// The bytes of the message's payload.
    pub(crate) fn payload_len(&self) -> usize {
        self.frame.len() - usize::from(self.header_len)
    }

    /// The message's payload.
    fn payload(&self) -> Bytes {
        self.frame.slice(usize::from(self.header_len)..)
    }

    /// The whole frame compressed under `key`: framed by the first member that needs it, and
    /// shared after. `None` when an earlier member used another key (the caller compresses on
    /// its own).
    fn compressed_frame(&self, key: SharedKey) -> io::Result<Option<&Bytes>> {
        if let Some((shared, frame)) = self.compressed.get() {
            return Ok((*shared == key).then_some(frame));
        }
        let payload = key.compress(&self.frame[usize::from(self.header_len)..])?;
        let mut header = [0; MAX_HEADER];
        let header_len =
            frame::encode_header(&mut header, true, true, self.opcode, payload.len(), None);
        let mut frame = BytesMut::with_capacity(header_len + payload.len());
        frame.put_slice(&header[..header_len]);
        frame.put_slice(&payload);
        // Members on other threads may have raced here with the same key: any of the frames
        // serves.
        let (shared, frame) = self.compressed.get_or_init(|| (key, frame.freeze()));
        Ok((*shared == key).then_some(frame))
    }
}

/// Whoever writes whole frames straight to a server connection's TCP socket while the
/// connection itself writes nothing (the outbox, for rooms' broadcasts), seen from the engine.
///
/// Between [`open`](Self::open) and [`stop`](Self::stop) the socket is theirs to write
/// (whole frames, one writer at a time under their own lock); the engine writes nothing. The
/// socket is shared ([`SharedTcp`]), so it stays open for as long as they hold it.
pub(crate) trait DirectWrites: Send + Sync {
    /// Others may write whole frames to `socket` until [`stop`](Self::stop): plain ones, or
    /// compressed as `compressed` says when the connection compresses.
    fn open(&self, socket: &SharedTcp, compressed: Option<SharedWrites>);
    /// Ends their turn; returns the rest of a frame one of them began to write, which must go
    /// out before anything else.
    fn stop(&self) -> Option<Bytes>;
}

/// The engine's side of sharing its socket with [`DirectWrites`]: the one place that opens the
/// socket to them and takes it back. [`Engine::poll_write`], which every write of the engine's
/// goes through, takes it back first, as [`Engine::send_now`] does before its own write; so
/// does dropping it.
pub(crate) struct SocketShare {
    writers: Arc<dyn DirectWrites>,
    open: bool,
}

impl SocketShare {
    fn open(&mut self, socket: &SharedTcp, compressed: Option<SharedWrites>) {
        if !self.open {
            self.writers.open(socket, compressed);
            self.open = true;
        }
    }

    /// Takes the socket back: the rest of a frame a direct write began, to write before
    /// anything else.
    fn take_back(&mut self) -> Option<Bytes> {
        if !self.open {
            return None;
        }
        self.open = false;
        self.writers.stop()
    }
}

impl Drop for SocketShare {
    fn drop(&mut self) {
        self.take_back();
    }
}

/// How a connection that compresses without context takeover writes a broadcast: with the
/// shared compressor of `key`, from `threshold` bytes up. Any frame so compressed is one it
/// could have written itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedWrites {
    key: SharedKey,
    threshold: usize,
}

/// Limits and buffers of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EngineSettings {
    /// Bytes read from the socket at a time; the buffer they are read into is only held while
    /// data is arriving.
    pub(crate) read_buffer: usize,
    pub(crate) max_message: usize,
    pub(crate) max_frame: usize,
}

/// Outgoing compression of one connection that negotiated permessage-deflate.
struct Deflating {
    deflater: Deflater,
    /// Shorter messages go out uncompressed.
    threshold: usize,
}

impl Deflating {
    /// `payload` compressed, if it is long enough to be worth it.
    fn compress(&mut self, payload: &[u8]) -> io::Result<Option<Bytes>> {
        if payload.len() < self.threshold {
            return Ok(None);
        }
        let mut out = BytesMut::with_capacity(payload.len() / 2 + 64);
        self.deflater.compress(payload, &mut out)?;
        Ok(Some(out.freeze()))
    }

    /// How others may write a broadcast for this connection, when it keeps no context.
    fn shared_writes(&self) -> Option<SharedWrites> {
        Some(SharedWrites {
            key: self.deflater.shared_key()?,
            threshold: self.threshold,
        })
    }
}

/// Where the close handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Open,
    /// Our close frame is queued or sent; the peer's answer is awaited.
    Sent,
    /// The peer's close frame arrived; our answer is queued.
    Answering,
    /// Both close frames went through.
    Done,
}

/// One WebSocket connection's framing: reads frames (answering pings and the close handshake
/// on its own) and writes them.
pub(crate) struct Engine {
    transport: Transport,
    role: Role,
    read_buffer: usize,
    reader: Reader,
    /// Bytes read but not yet fed to the reader, from `backlog_at` on; empty (and unallocated)
    /// unless one read brought more than the frame it completed.
    backlog: Vec<u8>,
    backlog_at: usize,
    /// Reading frames is over: the peer left or broke the protocol.
    read_done: bool,
    /// The peer ended its stream (a read returned nothing).
    eof: bool,
    /// The server shut its sending side, or let go of its socket.
    shut: bool,
    /// `next` has returned `None`.
    finished: bool,
    /// The frame being written.
    out: Option<Outgoing>,
    /// Frames being written together, from `batch_at` on; empty (and unallocated) between
    /// batches.
    batch: Vec<Outgoing>,
    batch_at: usize,
    /// Control frames to write, framed in order: pongs, then maybe the close frame.
    control: BytesMut,
    /// The code of the close frame this side sent first, or echoed (for the log).
    close_code: Option<CloseCode>,
    /// Bytes were written since the last flush.
    unflushed: bool,
    closing: Closing,
    /// Who may write straight to the socket while this engine writes nothing (a server's
    /// plain TCP connection only).
    share: Option<SocketShare>,
    /// With permessage-deflate negotiated: how data messages are compressed (boxed, as the
    /// reader's inflater is).
    deflating: Option<Box<Deflating>>,
}

/// What the client learns from the server's `101` response.
pub(crate) struct Switched {
    pub(crate) engine: Engine,
    pub(crate) headers: HeaderMap,
}

/// A frame on its way out: its header and payload, and how much of both is written.
struct Outgoing {
    header: [u8; MAX_HEADER],
    header_len: u8,
    payload: Bytes,
    written: usize,
}

impl Outgoing {
    /// A final frame, RSV1 set for a compressed message; a client's is masked with a fresh key.
    fn new(opcode: OpCode, payload: Bytes, role: Role, compressed: bool) -> Self {
        let key: Option<[u8; 4]> = match role {
            Role::Server => None,
            Role::Client => Some(rand::random()),
        };
        let mut header = [0; MAX_HEADER];
        let header_len =
            frame::encode_header(&mut header, true, compressed, opcode, payload.len(), key);
        let payload = match key {
            None => payload,
            Some(key) => {
                let mut masked = BytesMut::from(&payload[..]);
                frame::apply_mask(&mut masked, key, 0);
                masked.freeze()
            }
        };
        Outgoing {
            header,
            header_len: header_len as u8,
            payload,
            written: 0,
        }
    }

    /// Bytes framed beforehand, written as they are.
    fn framed(bytes: Bytes) -> Self {
        Outgoing {
            header: [0; MAX_HEADER],
            header_len: 0,
            payload: bytes,
            written: 0,
        }
    }

    fn len(&self) -> usize {
        usize::from(self.header_len) + self.payload.len()
    }

    /// What is left to write: the rest of the header, then of the payload.
    fn unwritten(&self) -> [IoSlice<'_>; 2] {
        let header_len = usize::from(self.header_len);
        [
            IoSlice::new(&self.header[self.written.min(header_len)..header_len]),
            IoSlice::new(&self.payload[self.written.saturating_sub(header_len)..]),
        ]
    }
}

/// What one read brought.
enum Step {
    Frame(Frame),
    More,
    Eof,
}

/// Writes what `transport` takes of `slices`, from the first byte on; a write of nothing is an
/// error. One slice with bytes is written as it is, small slices are copied together first,
/// and only larger ones go to a vectored write: for the kernel, a `writev` of a frame's header
/// and payload costs more than a `send` of the same bytes in one piece, while copying a message
/// of a few hundred bytes costs a few nanoseconds (bench/README.md has the echo's figures).
fn poll_write_some(
    transport: &mut Transport,
    cx: &mut Context<'_>,
    slices: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let mut with_bytes = slices.iter().filter(|slice| !slice.is_empty());
    let written = match (with_bytes.next(), with_bytes.next()) {
        (None, _) => Ok(0),
        (Some(only), None) => ready!(Pin::new(transport).poll_write(cx, only)),
        _ => {
            let copied = gathered(slices, |bytes| {
                Pin::new(&mut *transport).poll_write(cx, bytes)
            });
            match copied {
                Some(written) => ready!(written),
                None => ready!(Pin::new(transport).poll_write_vectored(cx, slices)),
            }
        }
    };
    match written {
        Ok(0) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
        written => Poll::Ready(written),
    }
}

/// `write` given `slices` copied together into one buffer on the stack, when they come to
/// [`GATHER`] bytes or fewer (`None` otherwise): a buffer of [`SMALL_GATHER`] bytes for most.
fn gathered<T>(slices: &[IoSlice<'_>], write: impl FnOnce(&[u8]) -> T) -> Option<T> {
    match slices.iter().map(|slice| slice.len()).sum::<usize>() {
        ..=SMALL_GATHER => Some(gathered_into::<SMALL_GATHER, T>(slices, write)),
        total if total <= GATHER => Some(gathered_into::<GATHER, T>(slices, write)),
        _ => None,
    }
}

/// `write` given `slices` copied together into one buffer of `N` bytes, which they fit.
fn gathered_into<const N: usize, T>(slices: &[IoSlice<'_>], write: impl FnOnce(&[u8]) -> T) -> T {
    let mut gathered = [0; N];
    let mut len = 0;
    for slice in slices {
        gathered[len..len + slice.len()].copy_from_slice(slice);
        len += slice.len();
    }
    write(&gathered[..len])
}

impl Engine {
    /// `deflate`: the permessage-deflate parameters agreed on, and this side's settings.
    fn new(
        transport: Transport,
        role: Role,
        leftover: Vec<u8>,
        settings: EngineSettings,
        deflate: Option<(Negotiated, &DeflateConfig)>,
    ) -> Self {
        let inflater = deflate.map(|(negotiated, _)| Inflater::new(&negotiated, role));
        let deflating = deflate.map(|(negotiated, config)| {
            Box::new(Deflating {
                deflater: Deflater::new(&negotiated, role, config.level),
                threshold: config.threshold,
            })
        });
        Engine {
            transport,
            role,
            read_buffer: settings.read_buffer.max(MAX_HEADER),
            reader: Reader::new(role, settings.max_frame, settings.max_message, inflater),
            backlog: leftover,
            backlog_at: 0,
            read_done: false,
            eof: false,
            shut: false,
            finished: false,
            out: None,
            batch: Vec::new(),
            batch_at: 0,
            control: BytesMut::new(),
            close_code: None,
            unflushed: false,
            closing: Closing::Open,
            share: None,
            deflating,
        }
    }

    /// Lets `writers` write whole frames to the socket whenever [`open_direct`](Self::open_direct)
    /// allows it. Only a server's plain TCP connection takes them: TLS and other transports
    /// frame or buffer the bytes themselves.
    pub(crate) fn share_socket(&mut self, writers: Arc<dyn DirectWrites>) {
        // A connection that keeps a compression context writes bytes only it can make: it
        // queues, and writes them itself.
        let shareable = self
            .deflating
            .as_ref()
            .is_none_or(|deflating| deflating.deflater.shared_key().is_some());
        if self.role == Role::Server && self.transport.shared().is_some() && shareable {
            self.share = Some(SocketShare {
                writers,
                open: false,
            });
        }
    }

    /// Opens the socket to direct writes if nothing of this engine's is in progress or waiting.
    pub(crate) fn open_direct(&mut self) {
        if self.share.is_none() {
            return;
        }
        let idle = self.out.is_none()
            && self.batch.is_empty()
            && self.control.is_empty()
            && !self.unflushed
            && self.closing == Closing::Open
            && !self.read_done
            && !self.finished;
        if let (true, Some(share), Some(socket)) = (idle, &mut self.share, self.transport.shared())
        {
            let compressed = self.deflating.as_deref().and_then(Deflating::shared_writes);
            share.open(socket, compressed);
        }
    }

    /// Writes what is in progress or waiting (the rest of a frame a direct write began, first).
    pub(crate) async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// The server side, once the `101` is written; `leftover` holds the bytes the client sent
    /// right behind its request, `deflate` what the handshake agreed on for permessage-deflate.
    pub(crate) fn server(
        transport: Transport,
        leftover: Vec<u8>,
        settings: EngineSettings,
        deflate: Option<(Negotiated, &DeflateConfig)>,
    ) -> Self {
        let transport = transport.into_shareable();
        Engine::new(transport, Role::Server, leftover, settings, deflate)
    }

    /// The client side: sends the opening handshake for `uri` with `headers` over `transport`
    /// (offering permessage-deflate when `compression` is given) and checks the answer.
    pub(crate) async fn client(
        uri: &Uri,
        headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
        mut transport: Transport,
        settings: EngineSettings,
        compression: Option<&DeflateConfig>,
    ) -> Result<Switched, Error> {
        let upgraded = handshake::client(uri, headers, &mut transport, compression).await?;
        let deflate = upgraded.deflate.zip(compression);
        Ok(Switched {
            engine: Engine::new(
                transport,
                Role::Client,
                upgraded.leftover,
                settings,
                deflate,
            ),
            headers: upgraded.headers,
        })
    }

    /// The next frame; `None` once the connection is closed. Cancel-safe: a frame is never
    /// half-consumed.
    pub(crate) async fn next(&mut self) -> Option<Result<Frame, Error>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Writes a data message as far as the socket takes it now, without waiting: what
    /// [`send`](Self::send) does when nothing holds it up, without a future for it.
    /// [`SendNow::Queued`]: the message is framed and waits in the engine, [`flush`](Self::flush)
    /// writes the rest; [`SendNow::Busy`]: what was queued before it has not all gone out, and
    /// the message is handed back unframed (`send` waits for that).
    pub(crate) fn send_now(&mut self, message: Message) -> SendNow {
        if self.closing != Closing::Open {
            return SendNow::Done(Err(Error::Closed));
        }
        let mut cx = Context::from_waker(Waker::noop());
        // Most messages find nothing of the engine's waiting to be written.
        self.take_socket_back();
        if self.has_output() {
            match self.poll_write(&mut cx) {
                Poll::Pending => return SendNow::Busy(message),
                Poll::Ready(Err(error)) => return SendNow::Done(Err(error.into())),
                Poll::Ready(Ok(())) => {}
            }
        }
        let (opcode, payload) = opcode_and_payload(message);
        let mut outgoing = match self.data_frame(opcode, payload) {
            Ok(outgoing) => outgoing,
            Err(error) => return SendNow::Done(Err(error.into())),
        };
        match self.write_at_once(&mut cx, &outgoing) {
            Some(Ok(written)) if written == outgoing.len() => return SendNow::Done(Ok(())),
            Some(Ok(written)) => outgoing.written = written,
            Some(Err(error)) if error.kind() != io::ErrorKind::WouldBlock => {
                return SendNow::Done(Err(error.into()));
            }
            Some(Err(_)) | None => {}
        }
        self.out = Some(outgoing);
        match self.poll_write(&mut cx) {
            Poll::Ready(written) => SendNow::Done(written.map_err(Error::from)),
            Poll::Pending => SendNow::Queued,
        }
    }

    /// Writes `frame` and flushes it. Cancelled halfway, the rest of the frame stays queued
    /// and goes out first on the next write.
    pub(crate) async fn send(&mut self, frame: Frame) -> Result<(), Error> {
        let (opcode, payload) = match frame {
            Frame::Message(message) => opcode_and_payload(message),
            Frame::Ping(data) => (OpCode::Ping, data),
            Frame::Pong(data) => (OpCode::Pong, data),
            Frame::Close(frame) => return self.close(frame).await,
        };
        if self.closing != Closing::Open {
            return Err(Error::Closed);
        }
        if opcode.is_control() && payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(frame::protocol(
                "a control frame's payload is over 125 bytes",
            ));
        }
        let outgoing = if opcode.is_control() {
            Outgoing::new(opcode, payload, self.role, false)
        } else {
            self.data_frame(opcode, payload)?
        };
        self.write(outgoing).await
    }

    /// Writes `batch`, in order, in as few writes as the socket allows (one when it takes them
    /// all), then flushes. Cancelled halfway, the rest stays queued and goes out first on the
    /// next write.
    pub(crate) async fn send_batch(&mut self, batch: Vec<Data>) -> Result<(), Error> {
        if self.closing != Closing::Open {
            return Err(Error::Closed);
        }
        let mut frames = Vec::with_capacity(batch.len());
        for data in batch {
            frames.push(self.frame(data)?);
        }
        let mut frames = Some(frames);
        poll_fn(|cx| {
            ready!(self.poll_write(cx))?;
            if let Some(frames) = frames.take() {
                self.batch = frames;
                ready!(self.poll_write(cx))?;
            }
            Poll::Ready(Ok::<(), io::Error>(()))
        })
        .await?;
        Ok(())
    }

    /// Frames a data message and queues it behind what waits to be written, without writing:
    /// [`poll_flush`](Self::poll_flush) writes it. A `Sink`'s `start_send`, which cannot wait.
    pub(crate) fn queue_data(&mut self, data: Data) -> Result<(), Error> {
        if self.closing != Closing::Open {
            return Err(Error::Closed);
        }
        self.take_socket_back();
        let frame = self.frame(data)?;
        self.batch.push(frame);
        Ok(())
    }

    /// The frame of a data message to write.
    fn frame(&mut self, data: Data) -> io::Result<Outgoing> {
        match data {
            Data::Message(message) => {
                let (opcode, payload) = opcode_and_payload(message);
                self.data_frame(opcode, payload)
            }
            Data::Encoded(encoded) => self.encoded_frame(&encoded),
        }
    }

    /// Writes a frame of up to [`GATHER`] bytes straight to a plain TCP socket in one `send`,
    /// when nothing of the engine's is waiting ([`send_now`](Self::send_now) has taken the
    /// socket back): how much the socket took, or `None` where the frame takes the general
    /// path of [`poll_write`](Self::poll_write). That is a larger frame, another transport,
    /// or a task out of its scheduling budget, which yields there as a socket's writes make it.
    ///
    /// Most messages go out here, through a few calls where tokio's readiness takes several
    /// more, each of which costs its return after the system call. A socket that takes nothing
    /// leaves tokio's readiness set, and the general path's next write finds it full again and
    /// waits for it.
    fn write_at_once(
        &self,
        cx: &mut Context<'_>,
        outgoing: &Outgoing,
    ) -> Option<io::Result<usize>> {
        // Given back when dropped without a write.
        let Poll::Ready(budget) = tokio::task::coop::poll_proceed(cx) else {
            return None;
        };
        let written = gathered(&outgoing.unwritten(), |bytes| {
            self.transport.try_write_now(bytes)
        })??;
        if written.is_ok() {
            budget.made_progress();
        }
        Some(written)
    }

    /// Writes and flushes what is in progress or waiting, as [`flush`](Self::flush) does.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_write(cx).map_err(Error::from)
    }

    /// A data message's frame: compressed when the connection compresses and the message
    /// reaches the threshold.
    fn data_frame(&mut self, opcode: OpCode, payload: Bytes) -> io::Result<Outgoing> {
        let compressed = match &mut self.deflating {
            Some(deflating) => deflating.compress(&payload)?,
            None => None,
        };
        Ok(match compressed {
            Some(compressed) => Outgoing::new(opcode, compressed, self.role, true),
            None => Outgoing::new(opcode, payload, self.role, false),
        })
    }

    /// Writes a message framed beforehand, as [`send`](Self::send) does: a server writes the
    /// bytes as they are, a client masks the payload anew.
    pub(crate) async fn send_encoded(&mut self, encoded: Encoded) -> Result<(), Error> {
        if self.closing != Closing::Open {
            return Err(Error::Closed);
        }
        let outgoing = self.encoded_frame(&encoded)?;
        self.write(outgoing).await
    }

    /// The frame this connection writes for a message framed beforehand: a server writes the
    /// shared frame (plain, or compressed once for every connection with its compressor); a
    /// client masks anew, and a kept context compresses on its own.
    fn encoded_frame(&mut self, encoded: &Encoded) -> io::Result<Outgoing> {
        let shared = match (self.role, &self.deflating) {
            (Role::Server, None) => Some(encoded.wire().clone()),
            (Role::Server, Some(deflating)) => deflating
                .shared_writes()
                .and_then(|writes| encoded.frame_for(Some(&writes)).cloned()),
            (Role::Client, _) => None,
        };
        match shared {
            Some(frame) => Ok(Outgoing::framed(frame)),
            None => self.data_frame(encoded.opcode, encoded.payload()),
        }
    }

    /// Writes what is queued, then `outgoing`, and flushes.
    async fn write(&mut self, outgoing: Outgoing) -> Result<(), Error> {
        let mut outgoing = Some(outgoing);
        poll_fn(|cx| {
            ready!(self.poll_write(cx))?;
            if let Some(outgoing) = outgoing.take() {
                self.out = Some(outgoing);
                ready!(self.poll_write(cx))?;
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Starts the close handshake with `frame`. Once the handshake has started (by either
    /// side), `frame` is ignored and this only writes out what is queued: the first close frame
    /// is the one the peer hears.
    pub(crate) async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.queue_close(frame);
        self.flush().await
    }

    /// Starts the close handshake with `frame` without writing, as [`close`](Self::close) does:
    /// [`poll_flush`](Self::poll_flush) writes it.
    pub(crate) fn queue_close(&mut self, frame: Option<CloseFrame>) {
        if self.closing == Closing::Open {
            self.close_code = frame.as_ref().map(|frame| frame.code);
            self.queue_control(OpCode::Close, &close_payload(frame.as_ref()));
            self.closing = Closing::Sent;
        }
    }

    /// Frames a control frame into the buffer of those waiting to be written; a client's is
    /// masked with a fresh key.
    fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        let key: Option<[u8; 4]> = match self.role {
            Role::Server => None,
            Role::Client => Some(rand::random()),
        };
        let mut header = [0; MAX_HEADER];
        let header_len = frame::encode_header(&mut header, true, false, opcode, payload.len(), key);
        if self.control.is_empty() {
            // Sized to the frame: a buffer that is full when `poll_write` takes it becomes
            // `Bytes` without an allocation of its own.
            self.control = BytesMut::with_capacity(header_len + payload.len());
        }
        self.control.put_slice(&header[..header_len]);
        let start = self.control.len();
        self.control.put_slice(payload);
        if let Some(key) = key {
            frame::apply_mask(&mut self.control[start..], key, 0);
        }
    }

    /// Whether anything of this engine's waits to be written or flushed.
    fn has_output(&self) -> bool {
        self.out.is_some() || !self.batch.is_empty() || !self.control.is_empty() || self.unflushed
    }

    /// Takes the socket back from direct writes, if it was open to them: the rest of a frame
    /// one of them began goes out before anything of this engine's.
    fn take_socket_back(&mut self) {
        if let Some(rest) = self.share.as_mut().and_then(SocketShare::take_back) {
            // Opened only while nothing was in progress, and nothing was queued since.
            debug_assert!(
                self.out.is_none() && self.batch.is_empty(),
                "a frame in progress while the socket was open"
            );
            self.out = Some(Outgoing::framed(rest));
        }
    }

    /// Writes what is queued, in order: the rest of a frame a direct write began, the frame in
    /// progress, the control frames; then flushes. Every write of the engine's goes through
    /// here, and takes the socket back from direct writes first.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.take_socket_back();
        loop {
            if let Some(out) = &mut self.out {
                while out.written < out.len() {
                    let slices = out.unwritten();
                    match ready!(poll_write_some(&mut self.transport, cx, &slices)) {
                        Ok(written) => out.written += written,
                        Err(error) => {
                            self.out = None;
                            return Poll::Ready(Err(error));
                        }
                    }
                }
                self.out = None;
                self.unflushed = true;
            }
            while self.batch_at < self.batch.len() {
                let mut slices = [IoSlice::new(&[]); 2 * BATCH_WRITE_FRAMES];
                let frames = self.batch[self.batch_at..].iter().take(BATCH_WRITE_FRAMES);
                for (slots, frame) in slices.chunks_exact_mut(2).zip(frames) {
                    slots.copy_from_slice(&frame.unwritten());
                }
                let mut written = match ready!(poll_write_some(&mut self.transport, cx, &slices)) {
                    Ok(written) => written,
                    Err(error) => {
                        self.batch = Vec::new();
                        self.batch_at = 0;
                        return Poll::Ready(Err(error));
                    }
                };
                while written > 0 {
                    let frame = &mut self.batch[self.batch_at];
                    let step = written.min(frame.len() - frame.written);
                    frame.written += step;
                    written -= step;
                    if frame.written == frame.len() {
                        self.batch_at += 1;
                    }
                }
                if self.batch_at == self.batch.len() {
                    self.batch = Vec::new();
                    self.batch_at = 0;
                    self.unflushed = true;
                }
            }
            if self.control.is_empty() {
                break;
            }
            // Taken whole, so that an idle connection keeps no buffer.
            self.out = Some(Outgoing::framed(std::mem::take(&mut self.control).freeze()));
        }
        if self.unflushed {
            ready!(Pin::new(&mut self.transport).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// [`next`](Self::next), polled.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame, Error>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if (self.has_output() || self.closing == Closing::Answering)
            && let Some(done) = self.write_before_reading(cx)
        {
            return done;
        }
        if self.read_done || self.closing == Closing::Done {
            return self.poll_end(cx);
        }
        loop {
            if self.backlog_at < self.backlog.len() {
                let fed = self.reader.feed(&self.backlog[self.backlog_at..]);
                let (taken, frame) = match fed {
                    Ok(fed) => fed,
                    Err(error) => return self.failed(error),
                };
                self.backlog_at += taken;
                if self.backlog_at == self.backlog.len() {
                    self.backlog = Vec::new();
                    self.backlog_at = 0;
                }
                if let Some(frame) = frame {
                    return self.deliver(cx, frame);
                }
                continue;
            }
            // What the frames read so far asked for goes out before waiting for more.
            if !self.control.is_empty()
                && let Poll::Ready(Err(error)) = self.poll_write(cx)
            {
                self.read_done = true;
                return Poll::Ready(Some(Err(error.into())));
            }
            let left = self.reader.data_left();
            let step = if left >= self.read_buffer {
                self.poll_read_payload(cx, left)
            } else {
                self.poll_read(cx)
            };
            match ready!(step) {
                Ok(Step::Frame(frame)) => return self.deliver(cx, frame),
                Ok(Step::More) => {}
                Ok(Step::Eof) => return self.peer_ended(cx),
                Err(error) => return self.failed(error),
            }
        }
    }

    /// Writes what waits before reading on, where [`poll_next`](Self::poll_next) must: what it
    /// returns then, if anything. Pongs wait while frames read in the same go remain: a burst
    /// of pings is answered in one write once they are all read (or past `CONTROL_BATCH`).
    #[cold]
    #[inline(never)]
    fn write_before_reading(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Option<Poll<Option<Result<Frame, Error>>>> {
        let batching = self.closing == Closing::Open
            && self.out.is_none()
            && self.batch.is_empty()
            && !self.unflushed
            && self.backlog_at < self.backlog.len()
            && self.control.len() < CONTROL_BATCH;
        if batching {
            return None;
        }
        match self.poll_write(cx) {
            // The peer closed and went away before taking our answer: the close handshake
            // is over all the same.
            Poll::Ready(Err(_)) if self.closing == Closing::Answering => {
                self.read_done = true;
                self.closing = Closing::Done;
                self.finished = true;
                Some(Poll::Ready(None))
            }
            Poll::Ready(Err(error)) => {
                self.read_done = true;
                Some(Poll::Ready(Some(Err(error.into()))))
            }
            Poll::Ready(Ok(())) if self.closing == Closing::Answering => {
                self.closing = Closing::Done;
                None
            }
            // Nothing may follow the peer's close frame: read no more until it is answered.
            // Nor while pongs pile up unwritten: a peer that pings without reading waits.
            Poll::Pending if self.closing == Closing::Answering || !self.control.is_empty() => {
                Some(Poll::Pending)
            }
            _ => None,
        }
    }

    /// The peer ended its stream: with no close frame before, an abnormal close (1006) is
    /// handed out and none is owed (RFC 6455 section 7.1.5).
    #[cold]
    #[inline(never)]
    fn peer_ended(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame, Error>>> {
        self.read_done = true;
        self.eof = true;
        if self.closing == Closing::Open {
            self.closing = Closing::Done;
            let abnormal = CloseFrame {
                code: CloseCode::ABNORMAL,
                reason: "".into(),
            };
            return Poll::Ready(Some(Ok(Frame::Close(Some(abnormal)))));
        }
        self.poll_end(cx)
    }

    /// Reads up to `read_buffer` bytes into the thread's buffer and feeds them to the reader;
    /// what follows a complete frame waits in the backlog.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Step, Error>> {
        SCRATCH.with_borrow_mut(|scratch| {
            if scratch.len() < self.read_buffer {
                scratch.resize(self.read_buffer, 0);
            }
            let mut buf = ReadBuf::new(&mut scratch[..self.read_buffer]);
            ready!(Pin::new(&mut self.transport).poll_read(cx, &mut buf))?;
            let read = buf.filled();
            if read.is_empty() {
                return Poll::Ready(Ok(Step::Eof));
            }
            let (taken, frame) = self.reader.feed(read)?;
            self.backlog.extend_from_slice(&read[taken..]);
            Poll::Ready(Ok(frame.map_or(Step::More, Step::Frame)))
        })
    }

    /// Reads the rest of a large data frame, up to `left` bytes, straight into its message.
    /// The read of the frame's last bytes has room for what follows them too, which goes to
    /// the backlog: a read that then brings less than it could shows the socket drained (and
    /// clears its readiness), where one that filled the frame exactly would leave a read that
    /// fails with `WouldBlock` to find out.
    fn poll_read_payload(
        &mut self,
        cx: &mut Context<'_>,
        left: usize,
    ) -> Poll<Result<Step, Error>> {
        let chunk = left.min(DIRECT_READ_MAX.max(self.read_buffer));
        let room = if chunk == left {
            chunk + self.read_buffer
        } else {
            chunk
        };
        let buffer = self.reader.payload_buffer();
        buffer.reserve(room);
        let read = ready!(self.transport.poll_read_buf(cx, &mut buffer.limit(room)))?;
        if read == 0 {
            return Poll::Ready(Ok(Step::Eof));
        }
        let payload = read.min(chunk);
        if read > payload {
            let end = buffer.len() - (read - payload);
            self.backlog.extend_from_slice(&buffer[end..]);
            buffer.truncate(end);
        }
        let frame = self.reader.payload_read(payload)?;
        Poll::Ready(Ok(frame.map_or(Step::More, Step::Frame)))
    }

    /// Acts on a frame before handing it out: queues the pong for a ping and the answer to a
    /// close. Pongs waiting for the rest of a burst go out before a data message is handed
    /// out, whose handling may take a while.
    fn deliver(
        &mut self,
        cx: &mut Context<'_>,
        frame: Frame,
    ) -> Poll<Option<Result<Frame, Error>>> {
        match (&frame, self.closing) {
            (Frame::Ping(payload), Closing::Open) => self.queue_control(OpCode::Pong, payload),
            (Frame::Close(close), Closing::Open) => {
                let code = close.as_ref().map(|close| CloseFrame {
                    code: close.code,
                    reason: "".into(),
                });
                self.queue_control(OpCode::Close, &close_payload(code.as_ref()));
                self.close_code = code.map(|code| code.code);
                self.closing = Closing::Answering;
            }
            (Frame::Close(_), Closing::Sent) => self.closing = Closing::Done,
            (Frame::Message(_), _) if !self.control.is_empty() => {
                // Written now if the socket takes it; a write that fails shows again on the
                // next one.
                let _ = self.poll_write(cx);
            }
            _ => {}
        }
        Poll::Ready(Some(Ok(frame)))
    }

    /// Whether permessage-deflate was negotiated.
    pub(crate) fn is_compressed(&self) -> bool {
        self.deflating.is_some()
    }

    /// The code of the close frame this side sent (its own, or the peer's echoed), once the
    /// close handshake has started.
    pub(crate) fn close_code(&self) -> Option<CloseCode> {
        self.close_code
    }

    #[cold]
    fn failed(&mut self, error: Error) -> Poll<Option<Result<Frame, Error>>> {
        self.read_done = true;
        Poll::Ready(Some(Err(error)))
    }

    /// Ends the connection once what is queued is written: the server shuts its side and,
    /// unless the close handshake completed, drops what the peer still sends until it closes
    /// (RFC 6455 section 7.1.1: a socket closed with unread input resets the connection, and
    /// the peer loses what it had not read yet); the client waits for the server to close
    /// (unless reading is over already).
    ///
    /// A plain TCP socket that the close handshake completed on, and that nothing else holds,
    /// is let go of instead of shut: closing it sends the same FIN, without the extra system
    /// call, and at once, though the handler may hold the engine a while longer.
    #[cold]
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame, Error>>> {
        if ready!(self.poll_write(cx)).is_ok() {
            let drain = match self.role {
                Role::Server => {
                    let drain = self.closing != Closing::Done;
                    if !self.shut {
                        if !drain && self.transport.closes_when_dropped() {
                            self.transport = Transport::Closed;
                        } else {
                            let _ = ready!(Pin::new(&mut self.transport).poll_shutdown(cx));
                        }
                        self.shut = true;
                    }
                    drain
                }
                Role::Client => !self.read_done,
            };
            while drain && !self.eof {
                match ready!(self.poll_discard(cx)) {
                    Ok(0) | Err(_) => self.eof = true,
                    Ok(_) => {}
                }
            }
        }
        self.finished = true;
        Poll::Ready(None)
    }

    /// Reads and drops what the peer still sends.
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        SCRATCH.with_borrow_mut(|scratch| {
            if scratch.len() < self.read_buffer {
                scratch.resize(self.read_buffer, 0);
            }
            let mut buf = ReadBuf::new(&mut scratch[..self.read_buffer]);
            ready!(Pin::new(&mut self.transport).poll_read(cx, &mut buf))?;
            Poll::Ready(Ok(buf.filled().len()))
        })
    }
}

/// A data message's opcode, and its payload's bytes.
fn opcode_and_payload(message: Message) -> (OpCode, Bytes) {
    match message {
        Message::Text(text) => (OpCode::Text, text.into_bytes()),
        Message::Binary(data) => (OpCode::Binary, data),
    }
}

/// The payload of a close frame: the code and reason, or nothing.
fn close_payload(frame: Option<&CloseFrame>) -> Bytes {
    let Some(frame) = frame else {
        return Bytes::new();
    };
    // A frame built by hand may carry a longer reason than `CloseFrame::new` allows.
    let reason = close::fitting_reason(&frame.reason).as_bytes();
    let mut payload = BytesMut::with_capacity(2 + reason.len());
    payload.put_u16(frame.code.as_u16());
    payload.put_slice(reason);
    payload.freeze()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// An engine on one end of a TCP connection, and the raw other end.
    async fn pair(role: Role) -> (Engine, TcpStream) {
        let (ours, peer) = tcp_pair().await;
        (
            Engine::new(Transport::Tcp(ours), role, Vec::new(), SETTINGS, None),
            peer,
        )
    }

    const SETTINGS: EngineSettings = EngineSettings {
        read_buffer: 4 << 10,
        max_message: 64 << 20,
        max_frame: 64 << 20,
    };

    /// Both ends of a TCP connection on 127.0.0.1.
    async fn tcp_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (ours, _) = listener.accept().await.unwrap();
        (ours, peer)
    }

    /// Direct writers that only count the turns the engine gives them and takes back.
    #[derive(Default)]
    struct Turns {
        opened: AtomicUsize,
        stopped: AtomicUsize,
    }

    impl Turns {
        fn opened(&self) -> usize {
            self.opened.load(Relaxed)
        }

        fn stopped(&self) -> usize {
            self.stopped.load(Relaxed)
        }
    }

    impl DirectWrites for Turns {
        fn open(&self, _: &SharedTcp, _: Option<SharedWrites>) {
            self.opened.fetch_add(1, Relaxed);
        }

        fn stop(&self) -> Option<Bytes> {
            self.stopped.fetch_add(1, Relaxed);
            None
        }
    }

    /// A server engine on a shared socket, `deflate` agreed on, that gives `turns` the socket.
    async fn sharing(
        deflate: Option<(Negotiated, &DeflateConfig)>,
    ) -> (Engine, Arc<Turns>, TcpStream) {
        let (ours, peer) = tcp_pair().await;
        let mut engine = Engine::server(Transport::Tcp(ours), Vec::new(), SETTINGS, deflate);
        let turns = Arc::new(Turns::default());
        engine.share_socket(turns.clone());
        (engine, turns, peer)
    }

    #[tokio::test]
    async fn the_socket_opens_to_direct_writes_only_while_nothing_of_the_engines_is_in_progress() {
        let (mut engine, turns, _peer) = sharing(None).await;
        engine.open_direct();
        assert_eq!(turns.opened(), 1, "an idle engine opens its socket");
        engine.open_direct();
        assert_eq!(turns.opened(), 1, "once, until it takes the socket back");
        engine.take_socket_back();
        assert_eq!(turns.stopped(), 1);

        // Each of these alone keeps the socket the engine's.
        type MakeBusy = fn(&mut Engine);
        let busy: [(&str, MakeBusy); 7] = [
            ("a frame in progress", |engine| {
                engine.out = Some(Outgoing::framed(Bytes::from_static(b"\x81\x00")));
            }),
            ("a batch in progress", |engine| {
                engine.batch = vec![Outgoing::framed(Bytes::from_static(b"\x81\x00"))];
            }),
            ("a pong waiting", |engine| {
                engine.queue_control(OpCode::Pong, b"");
            }),
            ("bytes written and not flushed", |engine| {
                engine.unflushed = true;
            }),
            ("the close handshake begun", |engine| {
                engine.closing = Closing::Sent;
            }),
            ("the peer's side read to its end", |engine| {
                engine.read_done = true
            }),
            ("the connection over", |engine| engine.finished = true),
        ];
        for (what, make_busy) in busy {
            let (mut engine, turns, _peer) = sharing(None).await;
            make_busy(&mut engine);
            engine.open_direct();
            assert_eq!(turns.opened(), 0, "opened with {what}");
        }

        drop(engine);
        assert_eq!(
            turns.stopped(),
            1,
            "taken back once, not again when dropped"
        );
        let (mut engine, turns, _peer) = sharing(None).await;
        engine.open_direct();
        drop(engine);
        assert_eq!(
            turns.stopped(),
            1,
            "an engine dropped takes its socket back"
        );
    }

    #[tokio::test]
    async fn a_message_sent_at_once_waits_for_a_frame_or_batch_cancelled_halfway() {
        let big = || Message::Binary(Bytes::from(vec![b'x'; 8 << 20]));
        for batch in [false, true] {
            let (mut engine, mut peer) = pair(Role::Server).await;
            let sending = async {
                if batch {
                    engine.send_batch(vec![Data::Message(big())]).await
                } else {
                    engine.send(Frame::Message(big())).await
                }
            };
            let cancelled = tokio::time::timeout(Duration::from_millis(50), sending).await;
            assert!(
                cancelled.is_err(),
                "the peer reads nothing, so the write must wait"
            );
            let SendNow::Busy(returned) = engine.send_now("after".into()) else {
                panic!("a message cut in before the rest of the frame (batch: {batch})");
            };
            let reader = tokio::spawn(async move {
                let mut wire = vec![0; 10 + (8 << 20) + 7];
                peer.read_exact(&mut wire).await.unwrap();
                wire
            });
            engine.send(Frame::Message(returned)).await.unwrap();
            let wire = reader.await.unwrap();
            assert_eq!(wire[..2], [0x82, 127]);
            assert!(wire[10..10 + (8 << 20)].iter().all(|&byte| byte == b'x'));
            assert_eq!(&wire[10 + (8 << 20)..], b"\x81\x05after");
        }
    }

    /// A client's text frame carrying `payload`.
    fn masked_text(payload: &[u8]) -> Vec<u8> {
        let key = [9, 8, 7, 6];
        let mut header = [0; MAX_HEADER];
        let len = frame::encode_header(
            &mut header,
            true,
            false,
            OpCode::Text,
            payload.len(),
            Some(key),
        );
        let mut masked = payload.to_vec();
        frame::apply_mask(&mut masked, key, 0);
        [&header[..len], &masked].concat()
    }

    /// An engine whose send of 8 MiB was cancelled halfway: the peer reads nothing, so most
    /// of the frame waits to be written.
    async fn with_a_frame_waiting() -> (Engine, TcpStream) {
        let (mut engine, peer) = pair(Role::Server).await;
        let big = Message::Binary(Bytes::from(vec![b'x'; 8 << 20]));
        let sending = engine.send(Frame::Message(big));
        let cancelled = tokio::time::timeout(Duration::from_millis(50), sending).await;
        assert!(
            cancelled.is_err(),
            "the peer reads nothing, so the write must wait"
        );
        (engine, peer)
    }

    #[tokio::test]
    async fn the_rest_of_a_frame_goes_out_while_the_engine_waits_for_the_peer() {
        for part_of_a_frame_read in [false, true] {
            let (mut engine, mut peer) = with_a_frame_waiting().await;
            if part_of_a_frame_read {
                // Bytes read earlier that end in the middle of a frame wait in the backlog.
                engine.backlog = masked_text(b"half of this arrived")[..10].to_vec();
            }
            the_rest_goes_out_while_next_waits(&mut engine, &mut peer).await;
        }
    }

    async fn the_rest_goes_out_while_next_waits(engine: &mut Engine, peer: &mut TcpStream) {
        let reading = async {
            let mut wire = vec![0; 10 + (8 << 20)];
            peer.read_exact(&mut wire).await.unwrap();
            wire
        };
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! {
                wire = reading => wire,
                frame = engine.next() => panic!("the peer sent nothing, yet: {frame:?}"),
            }
        });
        let wire = waited.await.expect("the rest of the frame never went out");
        assert!(wire[10..].iter().all(|&byte| byte == b'x'));
    }

    #[tokio::test]
    async fn frames_are_read_while_a_frame_waits_to_be_written() {
        let (mut engine, mut peer) = with_a_frame_waiting().await;
        peer.write_all(&masked_text(b"meanwhile")).await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(10), engine.next()).await;
        assert!(
            matches!(&read, Ok(Some(Ok(Frame::Message(Message::Text(text))))) if text == "meanwhile"),
            "{read:?}"
        );
    }

    /// Resets the connection from `peer`'s end, and gives the runtime time to see it: a write
    /// of the engine's then fails before its next read does.
    async fn reset(peer: TcpStream) {
        socket2::SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(peer);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    #[tokio::test]
    async fn a_peer_that_resets_while_a_frame_waits_ends_the_connection_with_an_error() {
        let (mut engine, peer) = with_a_frame_waiting().await;
        // The rest of the frame can never go out.
        reset(peer).await;
        let read = tokio::time::timeout(Duration::from_secs(10), engine.next()).await;
        assert!(matches!(read, Ok(Some(Err(_)))), "{read:?}");
    }

    #[tokio::test]
    async fn a_large_frame_sent_to_a_peer_that_reset_fails() {
        // A server's socket, shared with direct writes; a frame too large to gather goes out
        // in one vectored write of its header and payload, which fails.
        let (ours, peer) = tcp_pair().await;
        let shared = Transport::Tcp(ours).into_shareable();
        let mut engine = Engine::new(shared, Role::Server, Vec::new(), SETTINGS, None);
        reset(peer).await;
        let big = Message::Binary(Bytes::from(vec![b'x'; 64 << 10]));
        let sent = tokio::time::timeout(Duration::from_secs(10), engine.send(Frame::Message(big)));
        let sent = sent.await.expect("a failing write ends the send");
        assert!(sent.is_err(), "{sent:?}");
    }

    #[tokio::test]
    async fn a_client_waits_for_the_server_to_end_the_tcp_connection_after_the_close() {
        let (mut engine, mut peer) = pair(Role::Client).await;
        engine.close(None).await.unwrap();
        // The client's close: its header, the masking key, no payload.
        let mut close = [0; 6];
        peer.read_exact(&mut close).await.unwrap();
        assert_eq!(close[..2], [0x88, 0x80]);
        peer.write_all(&[0x88, 0]).await.unwrap();
        let answer = engine.next().await;
        assert!(matches!(answer, Some(Ok(Frame::Close(None)))), "{answer:?}");
        // RFC 6455 section 7.1.1: the server ends the TCP connection first.
        let waiting = tokio::time::timeout(Duration::from_millis(300), engine.next()).await;
        assert!(
            waiting.is_err(),
            "the client ended before the server did: {waiting:?}"
        );
        drop(peer);
        let ended = tokio::time::timeout(Duration::from_secs(10), engine.next()).await;
        assert!(matches!(ended, Ok(None)), "{ended:?}");
    }

    #[test]
    fn a_connection_whose_first_read_on_a_thread_drains_it_reads_into_a_buffer_of_its_size() {
        // The thread's read buffer starts empty: the drain after the close handshake is the
        // first read on this thread (the server's close came with the handshake's answer).
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let (ours, mut peer) = tcp_pair().await;
                let close = vec![0x88, 0];
                let mut engine =
                    Engine::new(Transport::Tcp(ours), Role::Client, close, SETTINGS, None);
                peer.write_all(b"after the close").await.unwrap();
                drop(peer);
                let frame = engine.next().await;
                assert!(matches!(frame, Some(Ok(Frame::Close(None)))), "{frame:?}");
                assert!(engine.next().await.is_none());
            });
        })
        .join()
        .expect("the drain panicked");
    }

    #[tokio::test]
    async fn a_peer_that_closes_then_resets_before_taking_the_answer_ends_the_connection_cleanly() {
        let (mut engine, mut peer) = with_a_frame_waiting().await;
        peer.write_all(&[0x88, 0x80, 1, 2, 3, 4]).await.unwrap();
        let close = tokio::time::timeout(Duration::from_secs(10), engine.next()).await;
        assert!(
            matches!(close, Ok(Some(Ok(Frame::Close(None))))),
            "{close:?}"
        );
        reset(peer).await;
        // The answer can never go out: the close handshake is over all the same.
        let end = tokio::time::timeout(Duration::from_secs(10), engine.next()).await;
        assert!(matches!(end, Ok(None)), "{end:?}");
    }

    #[tokio::test]
    async fn a_ping_carries_125_bytes_at_most() {
        let (mut engine, mut peer) = pair(Role::Server).await;
        let most = Bytes::from(vec![b'p'; MAX_CONTROL_PAYLOAD]);
        engine.send(Frame::Ping(most.clone())).await.unwrap();
        let mut wire = vec![0; 2 + MAX_CONTROL_PAYLOAD];
        peer.read_exact(&mut wire).await.unwrap();
        assert_eq!(wire[..2], [0x89, 125]);
        assert_eq!(wire[2..], most[..]);
        let over = Bytes::from(vec![b'p'; MAX_CONTROL_PAYLOAD + 1]);
        assert!(matches!(
            engine.send(Frame::Ping(over)).await,
            Err(Error::Protocol(_))
        ));
    }

    #[tokio::test]
    async fn a_message_is_compressed_from_the_threshold_up() {
        let config = DeflateConfig::default();
        let agreed = Negotiated {
            server_max_window_bits: 12,
            client_max_window_bits: 12,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
        };
        let (ours, mut peer) = tcp_pair().await;
        let deflate = Some((agreed, &config));
        let mut engine = Engine::new(
            Transport::Tcp(ours),
            Role::Server,
            Vec::new(),
            SETTINGS,
            deflate,
        );
        for (len, compressed) in [(config.threshold - 1, false), (config.threshold, true)] {
            let text = "a".repeat(len);
            engine.send(Frame::Message(text.into())).await.unwrap();
            let mut header = [0; 4];
            peer.read_exact(&mut header[..2]).await.unwrap();
            let payload_len = match header[1] {
                126 => {
                    peer.read_exact(&mut header[2..]).await.unwrap();
                    usize::from(u16::from_be_bytes([header[2], header[3]]))
                }
                short => usize::from(short),
            };
            let mut payload = vec![0; payload_len];
            peer.read_exact(&mut payload).await.unwrap();
            assert_eq!(header[0] & 0x40 != 0, compressed, "RSV1 on {len} bytes");
        }
    }

    #[tokio::test]
    async fn only_a_server_connection_that_compresses_without_a_kept_context_shares_its_socket() {
        let config = DeflateConfig::default();
        let agreed = |no_context_takeover| Negotiated {
            server_max_window_bits: 12,
            client_max_window_bits: 12,
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: no_context_takeover,
        };
        let (mut engine, turns, _peer) = sharing(Some((agreed(true), &config))).await;
        engine.open_direct();
        assert_eq!(
            turns.opened(),
            1,
            "a shared compressor: broadcasts written directly"
        );
        let (mut engine, turns, _peer) = sharing(Some((agreed(false), &config))).await;
        engine.open_direct();
        assert_eq!(
            turns.opened(),
            0,
            "a kept context writes bytes only it can make"
        );

        let (ours, _peer) = tcp_pair().await;
        let shared = Transport::Tcp(ours).into_shareable();
        let mut client = Engine::new(shared, Role::Client, Vec::new(), SETTINGS, None);
        let turns = Arc::new(Turns::default());
        client.share_socket(turns.clone());
        client.open_direct();
        assert_eq!(
            turns.opened(),
            0,
            "a client masks its frames: it writes them itself"
        );
    }

    #[test]
    fn a_broadcast_is_compressed_once_for_every_member_with_the_same_key() {
        let agreed = |bits| super::super::deflate::negotiation::Negotiated {
            server_max_window_bits: bits,
            client_max_window_bits: bits,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
        };
        let key = |bits| {
            Deflater::new(&agreed(bits), Role::Server, 6)
                .shared_key()
                .unwrap()
        };
        let encoded = Encoded::new(&Message::text("compress me, ".repeat(100)));
        let member = encoded.clone();
        let first = encoded.compressed_frame(key(12)).unwrap().unwrap();
        let second = member.compressed_frame(key(12)).unwrap().unwrap();
        assert_eq!(
            first.as_ptr(),
            second.as_ptr(),
            "one compressed frame, shared"
        );
        assert_eq!(first[0], 0xC1, "FIN, RSV1, text");
        assert!(first.len() < encoded.len() / 4);
        assert!(
            member.compressed_frame(key(9)).unwrap().is_none(),
            "another window compresses on its own"
        );
    }

    #[tokio::test]
    async fn next_survives_being_cancelled_while_a_frame_arrives_in_pieces() {
        let (mut engine, mut peer) = pair(Role::Server).await;
        let key = [9, 8, 7, 6];
        let mut frame = vec![0x81, 0x80 | 13];
        frame.extend(key);
        let mut payload = b"hello, pieces".to_vec();
        frame::apply_mask(&mut payload, key, 0);
        frame.extend(payload);
        let writer = tokio::spawn(async move {
            for piece in frame.chunks(3) {
                peer.write_all(piece).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peer
        });
        let mut cancelled = 0;
        let frame = loop {
            tokio::select! {
                frame = engine.next() => break frame,
                () = tokio::time::sleep(Duration::from_millis(2)) => cancelled += 1,
            }
        };
        assert!(cancelled > 0);
        assert!(
            matches!(frame, Some(Ok(Frame::Message(Message::Text(text)))) if text == "hello, pieces")
        );
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn a_batch_goes_out_in_order_and_one_cancelled_halfway_is_completed_first() {
        let (mut engine, mut peer) = pair(Role::Server).await;
        let big = Message::Binary(Bytes::from(vec![b'x'; 8 << 20]));
        let batch = vec![
            Data::Message("one".into()),
            Data::Encoded(Encoded::new(&big)),
            Data::Message("three".into()),
        ];
        let cancelled = tokio::time::timeout(Duration::from_millis(50), engine.send_batch(batch));
        assert!(
            cancelled.await.is_err(),
            "the peer reads nothing, so the write must wait"
        );
        let reader = tokio::spawn(async move {
            let mut wire = vec![0; 5 + 10 + (8 << 20) + 7 + 7];
            peer.read_exact(&mut wire).await.unwrap();
            wire
        });
        engine.send(Frame::Message("after".into())).await.unwrap();
        let wire = reader.await.unwrap();
        assert_eq!(&wire[..5], b"\x81\x03one");
        assert_eq!(wire[5..15], [0x82, 127, 0, 0, 0, 0, 0, 0x80, 0, 0]);
        assert!(wire[15..15 + (8 << 20)].iter().all(|&byte| byte == b'x'));
        assert_eq!(&wire[15 + (8 << 20)..], b"\x81\x05three\x81\x05after");
    }

    #[tokio::test]
    async fn messages_sent_into_a_filling_socket_arrive_whole_and_in_order() {
        let (ours, peer) = tcp_pair().await;
        socket2::SockRef::from(&ours)
            .set_send_buffer_size(8 << 10)
            .unwrap();
        socket2::SockRef::from(&peer)
            .set_recv_buffer_size(8 << 10)
            .unwrap();
        let mut engine = Engine::server(Transport::Tcp(ours), Vec::new(), SETTINGS, None);
        // Frames of 2 to 2,010 bytes, each written at once, in part, or not at all as the
        // socket fills: till one waits.
        let mut sent = Vec::new();
        loop {
            let text = format!("{}:{}", sent.len(), "x".repeat(sent.len() * 37 % 2000));
            let outcome = engine.send_now(Message::from(&text));
            sent.push(text);
            match outcome {
                SendNow::Done(Ok(())) => {}
                SendNow::Queued => break,
                SendNow::Done(Err(error)) => panic!("{error}"),
                SendNow::Busy(_) => panic!("nothing was waiting"),
            }
        }
        let mut client = Engine::new(
            Transport::Tcp(peer),
            Role::Client,
            Vec::new(),
            SETTINGS,
            None,
        );
        let count = sent.len();
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < count {
                match client.next().await {
                    Some(Ok(Frame::Message(Message::Text(text)))) => got.push(text.to_string()),
                    other => panic!("{other:?} after {} messages", got.len()),
                }
            }
            got
        });
        engine.flush().await.unwrap();
        assert_eq!(reading.await.unwrap(), sent);
    }

    #[tokio::test]
    async fn a_message_sent_into_a_full_socket_waits_and_goes_out_after_what_filled_it() {
        let (ours, mut peer) = tcp_pair().await;
        // Filled before the engine has it, until the kernel takes no more.
        ours.writable().await.unwrap();
        let filler = vec![b'x'; 64 << 10];
        let mut filled = 0;
        loop {
            match ours.try_write(&filler) {
                Ok(written) => filled += written,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => panic!("{error}"),
            }
        }
        let mut engine = Engine::server(Transport::Tcp(ours), Vec::new(), SETTINGS, None);
        assert!(matches!(
            engine.send_now(Message::from("after")),
            SendNow::Queued
        ));
        let reader = tokio::spawn(async move {
            let mut wire = vec![0; filled + 7];
            peer.read_exact(&mut wire).await.unwrap();
            wire
        });
        engine.flush().await.unwrap();
        let wire = reader.await.unwrap();
        assert!(wire[..filled].iter().all(|&byte| byte == b'x'));
        assert_eq!(&wire[filled..], b"\x81\x05after");
    }

    #[tokio::test]
    async fn messages_written_at_once_spend_the_tasks_budget_so_that_it_yields() {
        let (mut engine, _peer) = pair(Role::Server).await;
        let mut sent = 0;
        while tokio::task::coop::has_budget_remaining() {
            assert!(matches!(
                engine.send_now(Message::from("x")),
                SendNow::Done(Ok(()))
            ));
            sent += 1;
            assert!(sent < 1000, "sends do not spend the budget");
        }
        // The next one waits for the task's next turn.
        assert!(matches!(
            engine.send_now(Message::from("x")),
            SendNow::Queued
        ));
    }

    #[tokio::test]
    async fn a_send_cancelled_halfway_is_completed_before_the_next_frame() {
        let (mut engine, mut peer) = pair(Role::Server).await;
        let big = Bytes::from(vec![b'x'; 16 << 20]);
        let sending = engine.send(Frame::Message(Message::Binary(big)));
        let cancelled = tokio::time::timeout(Duration::from_millis(50), sending).await;
        assert!(
            cancelled.is_err(),
            "the peer reads nothing, so the write must wait"
        );
        let reader = tokio::spawn(async move {
            let mut wire = vec![0; 10 + (16 << 20) + 7];
            peer.read_exact(&mut wire).await.unwrap();
            wire
        });
        engine.send(Frame::Message("after".into())).await.unwrap();
        let wire = reader.await.unwrap();
        assert_eq!(wire[..2], [0x82, 127]);
        assert_eq!(
            u64::from_be_bytes(wire[2..10].try_into().unwrap()),
            16 << 20
        );
        assert!(wire[10..10 + (16 << 20)].iter().all(|&byte| byte == b'x'));
        assert_eq!(&wire[10 + (16 << 20)..], b"\x81\x05after");
    }
}
