//! Class-style routes: an annotated `impl` block whose instance lives as long as its
//! connection, built by an optional `accept` hook during the handshake and driven through
//! lifecycle methods with a [`Session`].

pub(crate) mod accept;
pub(crate) mod payload;
mod session;

use std::future::Future;

use bytes::Bytes;

pub use accept::AcceptReturn;
pub use session::Session;

use crate::error::Error;
use crate::extract::Connection;
use crate::handler::Outcome;
use crate::wire::{CloseFrame, Message, Utf8Bytes};

/// The lifecycle of a class-style route, implemented by `#[route]` on an `impl` block by
/// forwarding to the methods the block defines. Not public API.
#[doc(hidden)]
pub trait ClassRoute: Send + Sized + 'static {
    fn __on_open(&mut self, _session: &mut Session) -> impl Future<Output = Outcome> + Send {
        async { Outcome::Finished }
    }

    /// A text message: to `on_text`, else to `on_message`.
    fn __on_text(
        &mut self,
        session: &mut Session,
        text: Utf8Bytes,
    ) -> impl Future<Output = Outcome> + Send {
        self.__on_message(session, Message::Text(text))
    }

    /// A binary message: to `on_binary`, else to `on_message`.
    fn __on_binary(
        &mut self,
        session: &mut Session,
        data: Bytes,
    ) -> impl Future<Output = Outcome> + Send {
        self.__on_message(session, Message::Binary(data))
    }

    /// A message `on_text` or `on_binary` did not take: decoded by `on_message`'s codec, which
    /// closes the connection on a message of the other kind (1003) or one that does not decode
    /// (1007). Without `on_message`, ignored.
    fn __on_message(
        &mut self,
        _session: &mut Session,
        _message: Message,
    ) -> impl Future<Output = Outcome> + Send {
        async { Outcome::Finished }
    }

    fn __on_error(
        &mut self,
        _session: &mut Session,
        _error: Error,
    ) -> impl Future<Output = Outcome> + Send {
        async { Outcome::Finished }
    }

    fn __on_close(&mut self, _frame: Option<CloseFrame>) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Runs a class-style route's lifecycle: `on_open`, then `on_text` / `on_binary` /
/// `on_message` per message (and `on_error` when the connection fails), then `on_close`
/// exactly once. A method that returns an error ends the connection with it.
///
/// A function returning a future, which holds the session once: an `async fn` would keep the
/// connection it was given for as long as the session lasts, beside the session made of it.
#[doc(hidden)]
pub fn run<C: ClassRoute>(
    mut instance: C,
    connection: Connection,
) -> impl Future<Output = Outcome> + Send {
    let (socket, request) = connection.into_parts();
    let mut session = socket.map(|socket| Session { socket, request });
    async move {
        let Some(session) = &mut session else {
            return Outcome::Failed("the connection has no socket".into());
        };
        let mut outcome = instance.__on_open(session).await;
        while matches!(outcome, Outcome::Finished) {
            outcome = match session.socket.recv().await {
                None => break,
                Some(Ok(Message::Text(text))) => instance.__on_text(session, text).await,
                Some(Ok(Message::Binary(data))) => instance.__on_binary(session, data).await,
                Some(Err(error)) => instance.__on_error(session, error).await,
            };
        }
        instance
            .__on_close(session.socket.close_frame().cloned())
            .await;
        outcome
    }
}
