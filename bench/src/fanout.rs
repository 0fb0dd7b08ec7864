//! The fan-out load: members that join a fan-out server's room and count what reaches them,
//! and a publisher whose every text the server broadcasts to all of them.
//!
//! A fan-out server (`ws-routes-fanout`, `raw-fanout`, `axum-fanout`) answers `joined` on
//! `/member` once the connection is in the room, and broadcasts every text sent on
//! `/publish`. A round is one text from the publisher; it ends when every member has it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use crate::load::{self, Client, Error};

/// Members being connected at once.
const JOIN_CONCURRENCY: usize = 100;

/// What the members of the current round still have to receive.
struct Tally {
    remaining: AtomicUsize,
    /// Told (one permit) when `remaining` reaches zero.
    done: Notify,
}

/// A room full of members on one server, and its publisher.
pub struct Room {
    publisher: Client,
    members: usize,
    tally: Arc<Tally>,
    /// The members' tasks; aborted on drop.
    _readers: JoinSet<()>,
}

/// Connects a member and waits until the server says it is in the room. Connecting
/// thousands at once can meet a full accept queue (the kernel resets some): those retry.
async fn member(addr: SocketAddr) -> Result<Client, Error> {
    let mut attempts = 0;
    let mut client = loop {
        match load::connect_to(addr, "/member").await {
            Ok(client) => break client,
            Err(_) if attempts < 5 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100 * attempts)).await;
            }
            Err(error) => return Err(error),
        }
    };
    loop {
        match timeout(Duration::from_secs(10), client.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text == "joined" => return Ok(client),
            // The outcome of a join with `join_since` (ws-routes-fanout --history) comes first.
            Ok(Some(Ok(Message::Text(text)))) if text.starts_with('\u{1e}') => continue,
            Ok(other) => return Err(format!("expected `joined`, got {other:?}").into()),
            Err(_) => return Err("no `joined` within 10 s".into()),
        }
    }
}

impl Room {
    /// Connects `members` members and the publisher, failing at `deadline`.
    pub async fn join(addr: SocketAddr, members: usize, deadline: Instant) -> Result<Room, Error> {
        let tally = Arc::new(Tally {
            remaining: AtomicUsize::new(0),
            done: Notify::new(),
        });
        let mut readers = JoinSet::new();
        let mut joined = 0;
        while joined < members {
            let batch = (members - joined).min(JOIN_CONCURRENCY);
            let mut joining = JoinSet::new();
            for _ in 0..batch {
                joining.spawn(member(addr));
            }
            while let Some(client) = timeout_at(deadline, joining.join_next())
                .await
                .map_err(|_| format!("cut short by --time-limit after {joined} members"))?
            {
                let mut client = client??;
                let tally = Arc::clone(&tally);
                readers.spawn(async move {
                    while let Some(Ok(message)) = client.next().await {
                        if matches!(message, Message::Text(_))
                            && tally.remaining.fetch_sub(1, Ordering::AcqRel) == 1
                        {
                            tally.done.notify_one();
                        }
                    }
                });
                joined += 1;
            }
        }
        let publisher = load::connect_to(addr, "/publish").await?;
        Ok(Room {
            publisher,
            members,
            tally,
            _readers: readers,
        })
    }

    /// Publishes one text and waits until every member has it; returns the time from the
    /// send to the last receipt.
    pub async fn round(&mut self, text: &str, deadline: Instant) -> Result<Duration, Error> {
        self.tally.remaining.store(self.members, Ordering::Release);
        let sent = Instant::now();
        self.publisher.send(Message::text(text)).await?;
        let limit = deadline.min(sent + Duration::from_secs(60));
        timeout_at(limit, self.tally.done.notified())
            .await
            .map_err(|_| {
                let missing = self.tally.remaining.load(Ordering::Acquire);
                format!(
                    "{missing} of {} members did not receive it in time",
                    self.members
                )
            })?;
        Ok(sent.elapsed())
    }
}
