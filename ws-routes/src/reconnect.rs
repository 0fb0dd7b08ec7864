//! The reconnecting client: [`Reconnecting`], a connection that comes back after a drop, as
//! `async for websocket in connect(uri)` does in Python's `websockets`, and that resumes its
//! rooms' histories where it left them ([`Reconnecting::recv`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::time::Duration;

use tracing::{info, warn};

use crate::client::Client;
use crate::error::Error;
use crate::http::StatusCode;
use crate::rooms::Position;
use crate::rooms::recovery::{self, Received};
use crate::socket::WebSocket;
use crate::wire::{CloseCode, Message};

impl Client {
    /// Connections to `url`, one after the other: [`Reconnecting::next`] opens one, and once
    /// it has ended opens the next, waiting longer after each failure (exponential backoff
    /// with jitter), until the server says that trying again is pointless.
    ///
    /// Worth another try: a connection that dropped (1006, no close frame), or that the server
    /// closed with 1000, 1001 (going away), 1011 (internal error), 1012 (restart), 1013 (try
    /// again later) or 1014; a handshake that failed on the network (connection refused, reset, timed out) or
    /// was refused with a 5xx status, 408 or 429. Not worth it: a close with any other code
    /// (1008 policy, 4040 no route, 4000 bad parameter, every 4xxx application code...), a
    /// handshake refused with another 4xx status (401, 403, 404...), a bad URL, a protocol or
    /// TLS failure.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_routes::Client;
    /// # use ws_routes::{route, routes, WebSocket};
    /// # #[route("/ticks")]
    /// # async fn ticks(mut ws: WebSocket) {
    /// #     let _ = ws.send("tick").await;
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_routes::Error> {
    /// # let server = ws_routes::Server::new(routes![ticks]).bind("127.0.0.1:0").await?;
    /// # let url = format!("ws://{}/ticks", server.local_addr()?);
    /// # tokio::spawn(server.run());
    ///
    /// // url: "ws://127.0.0.1:8765/ticks", say
    /// let mut connections = Client::new()
    ///     .reconnecting(&url)
    ///     .initial_delay(Duration::from_millis(100))
    ///     .max_delay(Duration::from_secs(10));
    /// # let mut seen = 0;
    /// while let Some(ws) = connections.next().await {
    ///     let ws = ws?; // the server refused for good
    ///     while let Some(Ok(message)) = ws.recv().await {
    ///         println!("{}", message.as_text().unwrap_or_default());
    /// #       seen += 1;
    ///     }
    ///     // The connection ended (the ticks route closes with 1000): the next one opens.
    /// #   if seen == 2 { break; }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn reconnecting(&self, url: &str) -> Reconnecting {
        self.reconnecting_to([url])
    }

    /// Connections to any of `urls`, servers that share their rooms (through the Redis
    /// backplane, so that a client recovers its rooms on any of them), as
    /// [`reconnecting`](Self::reconnecting) opens them to one: the first to the first URL, each
    /// later one to the same URL as the last, unless it is worth moving on. An attempt that
    /// fails moves on to the next URL at once, and the backoff waits only once every URL has
    /// failed in a row; a server that closed the connection with 1001 (going away) or 1012
    /// (restarting) is left for the next URL at once, without a wait.
    ///
    /// # Panics
    ///
    /// When `urls` is empty.
    pub fn reconnecting_to<U: Into<String>>(
        &self,
        urls: impl IntoIterator<Item = U>,
    ) -> Reconnecting {
        let urls: Vec<String> = urls.into_iter().map(Into::into).collect();
        assert!(!urls.is_empty(), "reconnecting_to needs at least one URL");
        Reconnecting {
            client: self.clone(),
            urls,
            at: 0,
            initial_delay: Reconnecting::DEFAULT_INITIAL_DELAY,
            max_delay: Reconnecting::DEFAULT_MAX_DELAY,
            delay: Reconnecting::DEFAULT_INITIAL_DELAY,
            current: None,
            done: false,
            positions: BTreeMap::new(),
        }
    }
}

/// Connections to one URL (or one of several), opened again after each drop; made by
/// [`Client::reconnecting`] or [`Client::reconnecting_to`]. [`next`](Self::next) lends each
/// connection in turn.
pub struct Reconnecting {
    client: Client,
    urls: Vec<String>,
    /// The URL of the current connection, or of the next attempt.
    at: usize,
    initial_delay: Duration,
    max_delay: Duration,
    /// The wait before the next attempt, before jitter.
    delay: Duration,
    /// The connection lent last.
    current: Option<WebSocket>,
    /// The server said not to come back, or `next` returned a final error.
    done: bool,
    /// The position of the last message received in each room with history, through
    /// [`recv`](Self::recv).
    positions: BTreeMap<String, Position>,
}

impl Reconnecting {
    /// The default [`initial_delay`](Self::initial_delay): 1 s.
    pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_secs(1);
    /// The default [`max_delay`](Self::max_delay): 60 s.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60);

    /// The wait after a connection ends or the first attempt fails, before jitter; it doubles
    /// with each failure that follows, up to [`max_delay`](Self::max_delay), and comes back
    /// to this once a connection opens. Each wait is drawn at random between half the delay
    /// and the whole, so that clients dropped together do not come back together.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self.delay = delay;
        self
    }

    /// The longest wait between two attempts, before jitter.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The next connection: the first at once, each later one once the one before has ended
    /// and after the backoff. Calling `next` while the last connection is still open gives it
    /// up: it is closed with 1000, waiting up to a second for the server's answer.
    /// Attempts that fail in a way worth retrying (see [`Client::reconnecting`]) are retried
    /// here, each within the client's connect timeout, and logged at warn level.
    ///
    /// `Some(Err(_))` when an attempt failed in a way not worth retrying (a handshake refused
    /// with 403, say), and `None` after that, or when the server closed the last connection
    /// with a code not worth retrying (its [`close_frame`](WebSocket::close_frame) says which).
    pub async fn next(&mut self) -> Option<Result<&mut WebSocket, Error>> {
        if self.done {
            return None;
        }
        if let Some(previous) = self.current.take() {
            let code = previous.close_frame().map(|frame| frame.code);
            if let Some(code) = code
                && !retry_after_close(code)
            {
                info!(url = self.urls[self.at], %code, "closed for good: not reconnecting");
                self.done = true;
                return None;
            }
            let_go(previous).await;
            if code.is_some_and(|code| matches!(code.as_u16(), 1001 | 1012)) && self.urls.len() > 1
            {
                // That server is going away: another at once.
                self.at = (self.at + 1) % self.urls.len();
            } else {
                self.wait().await;
            }
        }
        // Failed attempts in a row: once every URL has failed, the backoff waits.
        let mut failed = 0;
        loop {
            let url = recovery::resume_url(
                &self.urls[self.at],
                self.positions
                    .iter()
                    .map(|(room, position)| (room.as_str(), position)),
            );
            match self.client.connect(&url).await {
                Ok(ws) => {
                    self.delay = self.initial_delay;
                    return Some(Ok(self.current.insert(ws)));
                }
                Err(error) if retry_after_error(&error) => {
                    warn!(url = self.urls[self.at], %error, "connecting failed; retrying");
                    self.at = (self.at + 1) % self.urls.len();
                    failed += 1;
                    if failed % self.urls.len() == 0 {
                        self.wait().await;
                    }
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }

    /// The next thing that happens, across connections: reads the current connection, and
    /// when it ends (or before the first), opens the next one as [`next`](Self::next) does
    /// and yields [`Received::Connected`]. `None` and `Some(Err(_))` as `next` returns them.
    ///
    /// It keeps the client's position in every room with history from what it yields (a
    /// room message's position, a join's), and each new connection presents them in its
    /// handshake, so that a route that re-joins the rooms with
    /// [`Rooms::join_since`](crate::Rooms::join_since) sends what was missed, each message
    /// once, in order. See [`Rooms::join_since`](crate::Rooms::join_since) for an example.
    pub async fn recv(&mut self) -> Option<Result<Received, Error>> {
        if let Some(ws) = self.current.as_mut()
            && let Some(Ok(message)) = ws.recv().await
        {
            return Some(Ok(self.received(message)));
        }
        match self.next().await? {
            Ok(_) => Some(Ok(Received::Connected)),
            Err(error) => Some(Err(error)),
        }
    }

    /// The connection [`next`](Self::next) or [`recv`](Self::recv) opened last, to send on;
    /// `None` before the first.
    pub fn current(&mut self) -> Option<&mut WebSocket> {
        self.current.as_mut()
    }

    /// The client's position in each room with history, as the next connection presents it.
    pub fn positions(&self) -> &BTreeMap<String, Position> {
        &self.positions
    }

    /// Takes a received message out of its envelope, and notes its position.
    fn received(&mut self, message: Message) -> Received {
        match recovery::unwrap(&message) {
            Some(received) => {
                if let Received::Room { room, position, .. }
                | Received::Joined { room, position, .. } = &received
                {
                    self.positions.insert(room.clone(), position.clone());
                }
                received
            }
            None => Received::Message(message),
        }
    }

    /// Sleeps the current delay with jitter, and doubles it for the next time.
    async fn wait(&mut self) {
        let jittered = self.delay.mul_f64(0.5 + rand::random::<f64>() / 2.0);
        self.delay = self.delay.saturating_mul(2).min(self.max_delay);
        tokio::time::sleep(jittered).await;
    }
}

impl fmt::Debug for Reconnecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnecting")
            .field("urls", &self.urls)
            .field("initial_delay", &self.initial_delay)
            .field("max_delay", &self.max_delay)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// How long giving up an open connection waits for the server to answer its close.
const LET_GO_WAIT: Duration = Duration::from_secs(1);

/// Closes `ws` with 1000 if it is still open, and waits a moment for the server's answer.
async fn let_go(mut ws: WebSocket) {
    let closing = async {
        // On a connection that has ended already, both return at once.
        if ws.close(CloseCode::NORMAL, "").await.is_ok() {
            while ws.recv().await.is_some() {}
        }
    };
    let _ = tokio::time::timeout(LET_GO_WAIT, closing).await;
}

/// Whether a connection the server closed with `code` is worth opening again.
fn retry_after_close(code: CloseCode) -> bool {
    matches!(code.as_u16(), 1000 | 1001 | 1006 | 1011..=1014)
}

/// Whether a failed attempt is worth another.
fn retry_after_error(error: &Error) -> bool {
    match error {
        Error::Refused { status, .. } => {
            status.is_server_error()
                || *status == StatusCode::REQUEST_TIMEOUT
                || *status == StatusCode::TOO_MANY_REQUESTS
        }
        // A TLS failure (a certificate the client does not trust, say) comes back the same.
        Error::Io(error) => error.kind() != io::ErrorKind::InvalidData,
        // The connection dropped during the handshake.
        Error::Closed => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ProtocolError, UrlError};

    fn refused(status: u16) -> Error {
        Error::Refused {
            status: StatusCode::from_u16(status).unwrap(),
            headers: Box::default(),
            body: None,
        }
    }

    #[test]
    fn failures_worth_another_attempt() {
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(retry_after_error(&refused(status)), "{status}");
        }
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::TimedOut,
        ] {
            assert!(retry_after_error(&Error::Io(kind.into())), "{kind:?}");
        }
        for code in [1000, 1001, 1006, 1011, 1012, 1013] {
            assert!(retry_after_close(code.into()), "{code}");
        }
    }

    #[test]
    fn failures_not_worth_another_attempt() {
        for status in [400, 401, 403, 404, 426] {
            assert!(!retry_after_error(&refused(status)), "{status}");
        }
        assert!(!retry_after_error(
            &UrlError::NoHost {
                url: "ws://".into()
            }
            .into()
        ));
        assert!(!retry_after_error(
            &ProtocolError::InvalidResponse("wrong or missing Sec-WebSocket-Accept").into()
        ));
        assert!(!retry_after_error(&Error::Io(
            io::ErrorKind::InvalidData.into()
        )));
        for code in [1002, 1003, 1007, 1008, 1009, 1010, 4000, 4040, 4999] {
            assert!(!retry_after_close(code.into()), "{code}");
        }
    }
}
