//! The requests in flight on one connection, shared by its socket and its senders: who waits
//! for which answer, how many of the peer's requests wait for ours, and whether the connection
//! is over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::debug;

use super::Replies;
use crate::error::{Error, RequestError};
use crate::wire::Message;

/// What came back for a request.
#[derive(Debug)]
pub(crate) enum Answer {
    Reply(Message),
    Refused(String),
}

/// The requests in flight on one connection, both ways.
#[derive(Debug)]
pub(crate) struct Table {
    settings: Replies,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The number of this side's last request.
    last_id: u64,
    /// This side's requests waiting for their answers.
    waiting: HashMap<u64, oneshot::Sender<Answer>>,
    /// The peer's requests not answered yet.
    answering: usize,
    /// Answers that came for no request in flight (late, or never asked).
    unknown: u64,
    /// The connection is over: every request fails, and no new one starts.
    closed: bool,
}

impl Table {
    pub(crate) fn new(settings: Replies) -> Arc<Self> {
        Arc::new(Table {
            settings,
            state: Mutex::default(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; should something, the state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The timeout of a request that names none.
    pub(crate) fn default_timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// Numbers a new request and waits for its answer; fails at once on a closed connection or
    /// one at its limit.
    pub(crate) fn start(self: &Arc<Self>) -> Result<Waiting, RequestError> {
        let mut state = self.state();
        if state.closed {
            return Err(RequestError::Closed);
        }
        if state.waiting.len() >= self.settings.max_in_flight {
            return Err(RequestError::TooMany {
                limit: self.settings.max_in_flight,
            });
        }
        state.last_id += 1;
        let id = state.last_id;
        let (answer, answered) = oneshot::channel();
        state.waiting.insert(id, answer);
        Ok(Waiting {
            table: Arc::clone(self),
            id,
            answered,
        })
    }

    /// Hands `answer` to the request `id` waiting for it; an answer nobody waits for is
    /// counted and logged.
    pub(crate) fn answer(&self, id: u64, answer: Answer) {
        let mut state = self.state();
        let waiting = state.waiting.remove(&id);
        if let Some(waiting) = waiting
            && waiting.send(answer).is_ok()
        {
            return;
        }
        state.unknown += 1;
        debug!(
            id,
            ignored = state.unknown,
            "an answer to no request in flight was ignored (late, or never asked)"
        );
    }

    /// Takes a request of the peer in, unless as many wait for their answers already.
    pub(crate) fn admit(&self) -> bool {
        let mut state = self.state();
        let admitted = !state.closed && state.answering < self.settings.max_in_flight;
        if admitted {
            state.answering += 1;
        }
        admitted
    }

    /// One of the peer's requests was answered (or dropped).
    pub(crate) fn answered(&self) {
        let mut state = self.state();
        state.answering = state.answering.saturating_sub(1);
    }

    /// The limit on requests in flight each way.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.settings.max_in_flight
    }

    /// The connection is over: every request waiting fails with [`RequestError::Closed`] at
    /// once, as does every new one.
    pub(crate) fn close(&self) {
        let waiting = {
            let mut state = self.state();
            state.closed = true;
            std::mem::take(&mut state.waiting)
        };
        // Dropping the answers' senders wakes their requests.
        drop(waiting);
    }
}

/// A request waiting for its answer; dropping it (a timeout, a cancelled request) lets the
/// table forget it.
pub(crate) struct Waiting {
    table: Arc<Table>,
    id: u64,
    answered: oneshot::Receiver<Answer>,
}

impl Waiting {
    /// The request's number.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Waits for the answer.
    pub(crate) async fn answer(&mut self) -> Result<Message, Error> {
        settle((&mut self.answered).await.ok())
    }

    /// The answer, if it came.
    pub(crate) fn try_answer(&mut self) -> Option<Result<Message, Error>> {
        match self.answered.try_recv() {
            Ok(answer) => Some(settle(Some(answer))),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(settle(None)),
        }
    }
}

/// What a request returns for its answer (`None`: the connection closed first).
fn settle(answer: Option<Answer>) -> Result<Message, Error> {
    match answer {
        Some(Answer::Reply(message)) => Ok(message),
        Some(Answer::Refused(reason)) => Err(RequestError::Refused(reason).into()),
        None => Err(RequestError::Closed.into()),
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.table.state().waiting.remove(&self.id);
    }
}
