//! The framing engine, behind one seam: tungstenite frames, parses, masks and validates; this
//! module is the only one in the crate that names it. Everything else talks in [`Frame`]s of
//! ws-routes' own types.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WireCode;
use tokio_tungstenite::tungstenite::protocol::{
    CloseFrame as WireCloseFrame, Role, WebSocketConfig,
};
use tokio_tungstenite::tungstenite::{self, Utf8Bytes as WireText};

use super::transport::Transport;
use super::{CloseCode, CloseFrame, Message, Utf8Bytes};
use crate::error::Error;
use crate::http::{HeaderMap, HeaderName, HeaderValue, Uri};

/// A frame as the connection code sees it: a data message, or a control frame.
#[derive(Debug)]
pub(crate) enum Frame {
    Message(Message),
    Ping(Bytes),
    Pong(Bytes),
    /// A close frame; `None` for one without a code.
    Close(Option<CloseFrame>),
}

/// Limits and buffers of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Bytes read from the socket at a time (the buffer grows for larger frames).
    pub(crate) read_buffer: usize,
    pub(crate) max_message: usize,
    pub(crate) max_frame: usize,
}

impl Settings {
    fn tungstenite(self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer)
            .write_buffer_size(0)
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_frame))
    }
}

/// One WebSocket connection's framing: reads frames (answering pings and the close handshake
/// on its own) and writes them.
pub(crate) struct Engine {
    stream: WebSocketStream<Transport>,
}

/// What the client learns from the server's `101` response.
pub(crate) struct Switched {
    pub(crate) engine: Engine,
    pub(crate) headers: HeaderMap,
}

impl Engine {
    /// The server side, once the `101` is written; `leftover` holds the bytes the client sent
    /// right behind its request.
    pub(crate) async fn server(
        transport: Transport,
        leftover: Vec<u8>,
        settings: Settings,
    ) -> Self {
        let stream = WebSocketStream::from_partially_read(
            transport,
            leftover,
            Role::Server,
            Some(settings.tungstenite()),
        )
        .await;
        Engine { stream }
    }

    /// The client side: sends the opening handshake for `uri` with `headers` over `transport`
    /// and checks the answer.
    pub(crate) async fn client(
        uri: &Uri,
        headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
        transport: Transport,
        settings: Settings,
    ) -> Result<Switched, Error> {
        let mut request = uri.clone().into_client_request().map_err(error)?;
        request.headers_mut().extend(headers);
        let (stream, response) = tokio_tungstenite::client_async_with_config(
            request,
            transport,
            Some(settings.tungstenite()),
        )
        .await
        .map_err(error)?;
        Ok(Switched {
            engine: Engine { stream },
            headers: response.into_parts().0.headers,
        })
    }

    /// The next frame; `None` once the connection is closed. Cancel-safe: a frame is never
    /// half-consumed.
    pub(crate) async fn next(&mut self) -> Option<Result<Frame, Error>> {
        loop {
            let frame = match self.stream.next().await? {
                Ok(tungstenite::Message::Text(text)) => {
                    let text = Utf8Bytes::from_bytes_unchecked(Bytes::from(text));
                    Frame::Message(Message::Text(text))
                }
                Ok(tungstenite::Message::Binary(data)) => Frame::Message(Message::Binary(data)),
                Ok(tungstenite::Message::Ping(data)) => Frame::Ping(data),
                Ok(tungstenite::Message::Pong(data)) => Frame::Pong(data),
                Ok(tungstenite::Message::Close(frame)) => {
                    Frame::Close(frame.map(|frame| CloseFrame {
                        code: CloseCode::from(u16::from(frame.code)),
                        reason: Utf8Bytes::from_bytes_unchecked(Bytes::from(frame.reason)),
                    }))
                }
                Ok(tungstenite::Message::Frame(_)) => continue,
                Err(failure) => return Some(Err(error(failure))),
            };
            return Some(Ok(frame));
        }
    }

    /// Writes `frame` and flushes it.
    pub(crate) async fn send(&mut self, frame: Frame) -> Result<(), Error> {
        let message = match frame {
            Frame::Message(Message::Text(text)) => tungstenite::Message::Text(wire_text(text)),
            Frame::Message(Message::Binary(data)) => tungstenite::Message::Binary(data),
            Frame::Ping(data) => tungstenite::Message::Ping(data),
            Frame::Pong(data) => tungstenite::Message::Pong(data),
            Frame::Close(frame) => return self.close(frame).await,
        };
        self.stream.send(message).await.map_err(error)
    }

    /// Starts (or answers) the close handshake with `frame`.
    pub(crate) async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        let frame = frame.map(|frame| WireCloseFrame {
            code: WireCode::from(frame.code.as_u16()),
            reason: wire_text(frame.reason),
        });
        self.stream.close(frame).await.map_err(error)
    }
}

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &[u8]) -> String {
    derive_accept_key(key)
}

fn wire_text(text: Utf8Bytes) -> WireText {
    // SAFETY: `Utf8Bytes` holds valid UTF-8 by construction.
    unsafe { WireText::from_bytes_unchecked(text.into_bytes()) }
}

fn error(failure: tungstenite::Error) -> Error {
    use tungstenite::Error as E;
    match failure {
        E::ConnectionClosed | E::AlreadyClosed => Error::Closed,
        E::Io(failure) => Error::Io(failure),
        E::Capacity(_) => Error::MessageTooBig,
        E::Utf8(_) => Error::InvalidUtf8,
        E::Url(failure) => Error::Url(failure.to_string()),
        E::Http(response) => {
            let (parts, body) = (*response).into_parts();
            Error::Refused {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        }
        other => Error::Protocol(other.to_string()),
    }
}
