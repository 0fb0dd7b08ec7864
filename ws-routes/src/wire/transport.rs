//! The byte stream under a WebSocket: plain TCP, TLS on either side, an in-process pipe (the
//! test server), or a connection another HTTP server upgraded (a mounted route table).

use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

#[derive(Debug)]
pub(crate) enum Transport {
    /// Plain TCP, on either side.
    Tcp(TcpStream),
    /// A server's plain TCP connection, shared with the broadcasts that write whole frames
    /// straight to it while the connection writes nothing (see
    /// [`SocketShare`](super::engine::SocketShare)).
    Shared(SharedSocket),
    /// A server connection over TLS (boxed: its buffers are much larger than a socket).
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// A client connection over TLS.
    #[cfg(feature = "tls")]
    TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// One end of an in-process pipe: the [`TestServer`](crate::test::TestServer) and its
    /// clients.
    Duplex(tokio::io::DuplexStream),
    /// A connection hyper upgraded, for a route table mounted in a hyper, tower or axum app.
    #[cfg(feature = "tower")]
    Upgraded(Box<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>),
    /// A socket let go of once its connection ended ([`closes_when_dropped`](Self::closes_when_dropped)):
    /// reads find the end of the stream, writes fail.
    Closed,
}

/// `$call` on the stream of whatever transport `$self` is; `$closed` on a closed one.
macro_rules! delegate {
    ($self:ident, $stream:ident => $call:expr, closed => $closed:expr) => {
        match $self.get_mut() {
            Transport::Tcp($stream) => $call,
            Transport::Shared($stream) => $call,
            #[cfg(feature = "tls")]
            Transport::Tls($stream) => $call,
            #[cfg(feature = "tls")]
            Transport::TlsClient($stream) => $call,
            Transport::Duplex($stream) => $call,
            #[cfg(feature = "tower")]
            Transport::Upgraded($stream) => $call,
            Transport::Closed => $closed,
        }
    };
}

fn not_connected<T>() -> Poll<io::Result<T>> {
    Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, stream => Pin::new(stream).poll_read(cx, buf), closed => Poll::Ready(Ok(())))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, stream => Pin::new(stream).poll_write(cx, buf), closed => not_connected())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, stream => Pin::new(stream).poll_flush(cx), closed => Poll::Ready(Ok(())))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, stream => Pin::new(stream).poll_shutdown(cx), closed => Poll::Ready(Ok(())))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, stream => Pin::new(stream).poll_write_vectored(cx, bufs), closed => not_connected())
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Tcp(stream) => stream.is_write_vectored(),
            Transport::Shared(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tls")]
            Transport::Tls(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tls")]
            Transport::TlsClient(stream) => stream.is_write_vectored(),
            Transport::Duplex(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tower")]
            Transport::Upgraded(stream) => stream.is_write_vectored(),
            Transport::Closed => false,
        }
    }
}

impl Transport {
    /// Reads into `buffer`'s spare capacity (bounded by `buffer` itself, e.g. with
    /// [`BufMut::limit`]); the number of bytes read, 0 at the end of the stream.
    pub(crate) fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut impl BufMut,
    ) -> Poll<io::Result<usize>> {
        tokio_util::io::poll_read_buf(Pin::new(self), cx, buffer)
    }

    /// A plain TCP connection made shareable with direct writes; any other transport as it is.
    pub(crate) fn into_shareable(self) -> Transport {
        match self {
            Transport::Tcp(tcp) => {
                let (read, write) = tcp.into_split();
                Transport::Shared(SharedSocket {
                    read,
                    write: SharedTcp::new(write),
                })
            }
            other => other,
        }
    }

    /// Whether dropping this transport now closes its socket, which sends the FIN that shutting
    /// its sending side would: plain TCP that no broadcast holds. (TLS has its `close_notify`
    /// to send; the other transports end their stream when shut.) Such a transport is replaced
    /// by [`Transport::Closed`] once its connection ends.
    pub(crate) fn closes_when_dropped(&mut self) -> bool {
        match self {
            Transport::Tcp(_) => true,
            Transport::Shared(shared) => Arc::get_mut(&mut shared.write.half).is_some(),
            _ => false,
        }
    }

    /// Writes what a plain TCP socket takes of `bytes` now, in one `send` without tokio's
    /// readiness bookkeeping (see [`SharedTcp::try_write`]); `None` for other transports.
    pub(crate) fn try_write_now(&self, bytes: &[u8]) -> Option<io::Result<usize>> {
        match self {
            Transport::Shared(shared) => Some(shared.write.try_write(bytes)),
            Transport::Tcp(tcp) => Some(send_once(tcp, bytes)),
            _ => None,
        }
    }

    /// The shared TCP connection, for direct writes.
    pub(crate) fn shared(&self) -> Option<&SharedTcp> {
        match self {
            Transport::Shared(shared) => Some(&shared.write),
            _ => None,
        }
    }
}

/// A server's plain TCP connection once broadcasts may write to it: the engine alone reads its
/// read half, through tokio's own `poll_read` (a read that brings less than it could empties
/// the socket's receive buffer and clears its readiness, so the next read waits for new data
/// instead of finding out with a system call that fails with `WouldBlock`), and writes through
/// the [`SharedTcp`] it shares with the broadcasts.
#[derive(Debug)]
pub(crate) struct SharedSocket {
    read: OwnedReadHalf,
    write: SharedTcp,
}

impl AsyncRead for SharedSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().read).poll_read(cx, buf)
    }
}

impl AsyncWrite for SharedSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write.poll_write_with(cx, |tcp| tcp.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write
            .poll_write_with(cx, |tcp| tcp.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts the sending side, as an owned `TcpStream` does.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(self.write.stream()).shutdown(Shutdown::Write))
    }
}

/// The writing side of a plain TCP connection, which its engine and the broadcasts writing
/// straight to it hold together: the socket stays open until they and the engine's read half
/// have all let go, so a write can never reach a closed (or reused) descriptor.
#[derive(Debug, Clone)]
pub(crate) struct SharedTcp {
    half: Arc<WriteHalf>,
    /// The socket's descriptor, kept here so that a direct write reads it where its holder
    /// keeps this, not from the stream's own allocation (one cache miss less per member of a
    /// broadcast). Open as long as `half` is.
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

/// A write half that leaves the socket as it is when dropped: the socket closes, which sends its
/// FIN, once the read half is gone too, as an owned `TcpStream` closes when dropped. (tokio's
/// own would shut the sending side first: the same FIN, for one more system call.)
#[derive(Debug)]
struct WriteHalf(Option<OwnedWriteHalf>);

impl Drop for WriteHalf {
    fn drop(&mut self) {
        if let Some(half) = self.0.take() {
            half.forget();
        }
    }
}

impl SharedTcp {
    pub(crate) fn new(half: OwnedWriteHalf) -> Self {
        #[cfg(unix)]
        let fd = std::os::fd::AsRawFd::as_raw_fd(half.as_ref());
        SharedTcp {
            half: Arc::new(WriteHalf(Some(half))),
            #[cfg(unix)]
            fd,
        }
    }

    fn stream(&self) -> &TcpStream {
        self.half
            .0
            .as_ref()
            .expect("the write half is taken only when dropped")
            .as_ref()
    }

    /// Writes what the socket takes of `bytes` now, without waiting: `WouldBlock` when it takes
    /// nothing. One `send` to the socket, without tokio's readiness bookkeeping (which the
    /// engine's own writes keep): a broadcast to thousands of members pays one system call
    /// each and nothing more.
    pub(crate) fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        #[cfg(unix)]
        // SAFETY: `self.half`, held as long as `self`, keeps the descriptor open.
        let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        #[cfg(not(unix))]
        let socket = self.stream();
        send_once(&socket, bytes)
    }

    /// Writes with `write` once the socket is writable, as an owned `TcpStream`'s writes do:
    /// a `WouldBlock` clears tokio's readiness and waits for the next.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let tcp = self.stream();
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            match write(tcp) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                written => return Poll::Ready(written),
            }
        }
    }
}

/// One `send` of `bytes` to `socket`: what it took, `WouldBlock` when it took nothing.
fn send_once<'s, S>(socket: &'s S, bytes: &[u8]) -> io::Result<usize>
where
    socket2::SockRef<'s>: From<&'s S>,
{
    match socket2::SockRef::from(socket).send(bytes) {
        Ok(0) if !bytes.is_empty() => Err(io::ErrorKind::WriteZero.into()),
        written => written,
    }
}
