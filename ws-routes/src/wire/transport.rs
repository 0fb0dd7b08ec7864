//! The byte stream under a WebSocket: plain TCP, TLS on either side, an in-process pipe (the
//! test server), or a connection another HTTP server upgraded (a mounted route table).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

#[derive(Debug)]
pub(crate) enum Transport {
    /// Plain TCP, on either side.
    Tcp(TcpStream),
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
}

macro_rules! delegate {
    ($self:ident, $stream:ident => $call:expr) => {
        match $self.get_mut() {
            Transport::Tcp($stream) => $call,
            #[cfg(feature = "tls")]
            Transport::Tls($stream) => $call,
            #[cfg(feature = "tls")]
            Transport::TlsClient($stream) => $call,
            Transport::Duplex($stream) => $call,
            #[cfg(feature = "tower")]
            Transport::Upgraded($stream) => $call,
        }
    };
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, stream => Pin::new(stream).poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, stream => Pin::new(stream).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, stream => Pin::new(stream).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, stream => Pin::new(stream).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, stream => Pin::new(stream).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Tcp(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tls")]
            Transport::Tls(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tls")]
            Transport::TlsClient(stream) => stream.is_write_vectored(),
            Transport::Duplex(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tower")]
            Transport::Upgraded(stream) => stream.is_write_vectored(),
        }
    }
}
