//! [`WebSocket`] as a [`Stream`] of the messages [`recv`](WebSocket::recv) yields and a
//! [`Sink`] of what [`send`](WebSocket::send) takes, so that `StreamExt::split` gives a reading
//! half and a writing half for two tasks, and `StreamExt::next`, `SinkExt::send` and
//! `StreamExt::forward` work as they do on other WebSocket crates' streams.
//!
//! The two halves share one connection: whichever of them polls the socket, a change in it
//! wakes both tasks, so that neither waits on a wake-up the other one took.

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker, ready};

use futures_util::task::AtomicWaker;
use futures_util::{Sink, Stream};
use tokio::time::Sleep;

use super::WebSocket;
use super::liveness::Liveness;
use super::send_queue::Queued;
use crate::error::Error;
use crate::wire::engine::Data;
use crate::wire::{CloseCode, CloseFrame, Message};

/// What polling a [`WebSocket`] as a [`Stream`] or a [`Sink`] keeps between polls; made on the
/// first poll.
pub(super) struct Polled {
    wakers: Arc<Wakers>,
    /// The waker every poll of the socket is made with: it wakes both halves' tasks.
    waker: Waker,
    /// When a write the sink waits on gives up (the server's write timeout), once it waits.
    write_deadline: Option<Pin<Box<Sleep>>>,
}

/// The tasks of the two halves: the one reading, and the one writing.
#[derive(Default)]
struct Wakers {
    read: AtomicWaker,
    write: AtomicWaker,
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.read.wake();
        self.write.wake();
    }
}

/// Which half a poll is for.
#[derive(Clone, Copy)]
enum Half {
    Read,
    Write,
}

impl WebSocket {
    /// Registers the task polling `half` and gives the waker to poll the socket with.
    fn shared_waker(&mut self, half: Half, task: &Waker) -> Waker {
        let polled = self.polled.get_or_insert_with(|| {
            let wakers = Arc::new(Wakers::default());
            Box::new(Polled {
                waker: Waker::from(Arc::clone(&wakers)),
                wakers,
                write_deadline: None,
            })
        });
        match half {
            Half::Read => polled.wakers.read.register(task),
            Half::Write => polled.wakers.write.register(task),
        }
        polled.waker.clone()
    }

    /// Writes what waits to be written. On the server, a write that does not finish within the
    /// write timeout gives up on the connection with [`Error::WriteTimeout`], as
    /// [`send`](Self::send) does.
    fn poll_written(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let waker = self.shared_waker(Half::Write, cx.waker());
        let mut cx = Context::from_waker(&waker);
        let written = self.stream().poll_flush(&mut cx);
        let limit = self.liveness.as_deref().map(Liveness::write_timeout);
        let Some(polled) = self.polled.as_mut() else {
            return written;
        };
        if written.is_ready() {
            polled.write_deadline = None;
            return written;
        }
        let Some(limit) = limit else {
            return Poll::Pending;
        };
        let deadline = polled
            .write_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(deadline.as_mut().poll(&mut cx));
        polled.write_deadline = None;
        self.abandon();
        Poll::Ready(Err(Error::WriteTimeout))
    }

    /// Queues a message to write, and counts it.
    fn queue(&mut self, data: Data, bytes: usize) -> Result<(), Error> {
        self.stream().queue_data(data)?;
        self.traffic.sent(bytes);
        Ok(())
    }

    /// Queues what [`Sender`](super::Sender)s queued and was not written yet, then the close
    /// frame (1000), as [`close`](Self::close) does; does nothing once the close has started.
    fn start_closing(&mut self) {
        if let Some(unsent) = self.take_unsent() {
            for queued in unsent {
                let bytes = super::queued_len(&queued);
                let data = match queued {
                    Queued::Message(message) => Data::Message(message),
                    Queued::Encoded(encoded) => Data::Encoded(encoded),
                    // Written by the next flush, which takes the socket back.
                    Queued::Rest => continue,
                };
                if self.queue(data, bytes).is_err() {
                    break;
                }
            }
        }
        if let Some(liveness) = &mut self.liveness {
            liveness.on_closing();
        }
        self.stream()
            .queue_close(Some(CloseFrame::new(CloseCode::NORMAL, "")));
    }
}

/// A [`Stream`][stream] of the messages [`recv`](WebSocket::recv) yields: text and binary,
/// then `None` once the connection is closed (an error that ends it comes once, before the
/// `None`).
///
/// Polling the stream is calling `recv`, with what it does while it waits (on the server:
/// writing what [`Sender`](super::Sender)s queued, keepalive, idle and shutdown), so a server
/// handler that splits its socket keeps polling the reading half. `recv` is cancel-safe, and
/// so is this stream: a `next()` dropped before it is ready loses no message.
///
/// ```
/// use futures_util::{SinkExt, StreamExt};
/// use ws_routes::{route, Message, WebSocket};
///
/// /// Echoes through split halves: a reader task feeds a writer task.
/// #[route("/echo")]
/// async fn echo(ws: WebSocket) {
///     let (mut tx, mut rx) = ws.split();
///     let (queue, mut queued) = tokio::sync::mpsc::channel::<Message>(16);
///     let writer = tokio::spawn(async move {
///         while let Some(message) = queued.recv().await {
///             if tx.send(message).await.is_err() {
///                 break;
///             }
///         }
///     });
///     while let Some(Ok(message)) = rx.next().await {
///         if queue.send(message).await.is_err() {
///             break;
///         }
///     }
///     drop(queue);
///     let _ = writer.await;
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = ws_routes::Server::new(ws_routes::routes![echo]).bind("127.0.0.1:0").await?;
/// # let addr = server.local_addr()?;
/// # tokio::spawn(server.run());
/// # let mut ws = ws_routes::connect(&format!("ws://{addr}/echo")).await?;
/// # ws.send("hello").await?;
/// # assert_eq!(ws.next().await.unwrap()?.as_text(), Some("hello"));
/// # Ok(())
/// # }
/// ```
///
/// [stream]: https://docs.rs/futures/0.3/futures/stream/trait.Stream.html
impl Stream for WebSocket {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let waker = this.shared_waker(Half::Read, cx.waker());
        // `recv` keeps nothing in its future that a later call needs: its waits live in the
        // socket, so a fresh call on every poll resumes where the last one stopped.
        pin!(this.recv()).poll(&mut Context::from_waker(&waker))
    }
}

/// A [`Sink`][sink] that sends what [`send`](WebSocket::send) sends: `&str` and `String` as
/// text, `Vec<u8>`, `&[u8]` and `Bytes` as binary, and [`Message`]s as they are.
///
/// One message waits at most: [`poll_ready`][poll-ready] writes the one before first, so a
/// slow peer slows the sender as `send` does. On the server, a write that does not finish
/// within the write timeout fails with [`Error::WriteTimeout`] and gives up on the connection.
/// [`close`][close] writes what [`Sender`](super::Sender)s queued, then starts the close
/// handshake with 1000: the reading half yields `None` once the peer answers.
/// Called on the socket itself, it needs the item type named, as the socket is a sink of
/// several: `SinkExt::<Message>::close(&mut ws)` (or the socket's own
/// [`close`](WebSocket::close), with a code and a reason).
///
/// [sink]: https://docs.rs/futures/0.3/futures/sink/trait.Sink.html
/// [poll-ready]: https://docs.rs/futures/0.3/futures/sink/trait.Sink.html#tymethod.poll_ready
/// [close]: https://docs.rs/futures/0.3/futures/sink/trait.SinkExt.html#method.close
impl<M: Into<Message>> Sink<M> for WebSocket {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_written(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: M) -> Result<(), Error> {
        let message = item.into();
        let bytes = message.len();
        self.get_mut().queue(Data::Message(message), bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_written(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.start_closing();
        this.poll_written(cx)
    }
}
