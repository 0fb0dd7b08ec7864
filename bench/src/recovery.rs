//! The recovery load, on `ws-routes-fanout --history`: a room whose history is filled, then
//! clients that reconnect claiming its start, so that the server replays the whole history to
//! each of them.
//!
//! The server's `/member` joins the room with `join_since` and the position its client claims
//! (`?ws-resume=EPOCH.OFFSET.bench`): it sends the join's outcome (a text starting with
//! `\x1e!`, whose third field is `EPOCH.OFFSET`), then the replayed messages (texts starting
//! with `\x1e`), or `joined` to a member that claimed nothing.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

use crate::load::{self, Client, Error};

/// How long one step (a message, a join) may take before the run fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The room of `ws-routes-fanout`.
const ROOM: &str = "bench";

/// The next text from `client`, within the step timeout.
async fn text(client: &mut Client) -> Result<String, Error> {
    loop {
        match timeout(STEP_TIMEOUT, client.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Ok(text.to_string()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(other) => return Err(format!("expected a text, got {other:?}").into()),
            Err(_) => return Err("no message within 10 s ".into()),
        }
    }
}

/// Joins the room as a member, and returns it with the epoch of the room's history, which
/// its join's outcome names.
pub async fn member(addr: SocketAddr) -> Result<(Client, String), Error> {
    let mut client = load::connect_to(addr, "/member").await?;
    let outcome = text(&mut client).await?;
    let epoch = outcome
        .strip_prefix("\u{1e}!")
        .and_then(|fields| fields.split(' ').nth(2))
        .and_then(|position| position.split('.').next())
        .ok_or_else(|| format!("expected the join's outcome, got {outcome:?}"))?
        .to_owned();
    match text(&mut client).await?.as_str() {
        "joined" => Ok((client, epoch)),
        other => Err(format!("expected `joined`, got {other:?}").into()),
    }
}

/// Broadcasts `count` texts of `size` bytes through `/publish`, and waits until `member` has
/// had them all: the room's history holds them then.
pub async fn fill(
    addr: SocketAddr,
    member: &mut Client,
    count: usize,
    size: usize,
) -> Result<(), Error> {
    let mut publisher = load::connect_to(addr, "/publish").await?;
    let payload = load::payload(size);
    for _ in 0..count {
        publisher.send(Message::Text(payload.clone())).await?;
    }
    for received in 0..count {
        text(member)
            .await
            .map_err(|error| format!("the member had {received} of {count}: {error}"))?;
    }
    Ok(())
}

/// `clients` clients, one after the other, that connect claiming the start of the history
/// named `epoch` and read the `count` messages it replays; returns the time they took.
pub async fn replay(
    addr: SocketAddr,
    epoch: &str,
    clients: usize,
    count: usize,
) -> Result<Duration, Error> {
    let path = format!("/member?ws-resume={epoch}.0.{ROOM}");
    let start = Instant::now();
    for n in 0..clients {
        let mut client = load::connect_to(addr, &path).await?;
        let outcome = text(&mut client)
            .await
            .map_err(|error| format!("client {n}: {error}"))?;
        if !outcome.starts_with(&format!("\u{1e}!recovered {count} ")) {
            return Err(format!("expected {count} messages replayed, got {outcome:?}").into());
        }
        for _ in 0..count {
            if !text(&mut client).await?.starts_with('\u{1e}') {
                return Err("a replayed message without its envelope".into());
            }
        }
        client.close(None).await?;
    }
    Ok(start.elapsed())
}
