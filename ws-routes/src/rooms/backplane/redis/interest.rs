//! Which interest streams this server reads: one while it has a reason to (a member in one of
//! the stream's rooms, a connection of one of its users, a watcher of one of its rooms'
//! presence), and a reader for each, started when the first reason comes and stopped when the
//! last goes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Instant;

use tokio::sync::watch;
use tracing::{Instrument, debug, info_span};

use super::link;
use super::reader::Reader;
use super::shared::Shared;
use super::streams::Stream;
use crate::rooms::backplane::LocalRooms;

/// A reason to read an interest stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Reason {
    /// A room without history with members here.
    Room(String),
    /// A user with connections here.
    User(String),
    /// A room whose presence is watched here.
    Watched(String),
}

impl Reason {
    /// The room's or user's name, which gives the stream.
    fn name(&self) -> &str {
        match self {
            Reason::Room(name) | Reason::User(name) | Reason::Watched(name) => name,
        }
    }
}

/// The interest streams this server has a reason to read, with their reasons and since when
/// it has one.
#[derive(Debug, Default)]
pub(super) struct Interest {
    streams: HashMap<Stream, (HashSet<Reason>, Instant)>,
}

impl Interest {
    /// Records whether `reason` to read `stream` holds; `true` when that started or ended the
    /// stream's interest.
    fn note(&mut self, stream: Stream, reason: Reason, holds: bool) -> bool {
        if holds {
            let (reasons, _) = self
                .streams
                .entry(stream)
                .or_insert_with(|| (HashSet::new(), Instant::now()));
            reasons.insert(reason);
            return reasons.len() == 1;
        }
        let Some((reasons, _)) = self.streams.get_mut(&stream) else {
            return false;
        };
        if !reasons.remove(&reason) || !reasons.is_empty() {
            return false;
        }
        self.streams.remove(&stream);
        true
    }

    /// The streams to read, and since when.
    fn wanted(&self) -> Vec<(Stream, Instant)> {
        self.streams
            .iter()
            .map(|(stream, (_, since))| (*stream, *since))
            .collect()
    }
}

/// Records whether `reason` holds now; the readers follow.
pub(super) fn update(shared: &Shared, reason: Reason, holds: bool) {
    let stream = shared.keys.interest(reason.name());
    if !matches!(stream, Stream::Interest(_)) {
        return;
    }
    if shared.lock_interest().note(stream, reason, holds) {
        shared.interest_changed.notify_one();
    }
}

/// Keeps one reader per interest stream with a reason to read it, until the rooms stop
/// (`stop` changes).
pub(super) async fn keep_readers(
    shared: Arc<Shared>,
    rooms: Weak<dyn LocalRooms>,
    mut stop: watch::Receiver<()>,
) {
    // A reader stops when its sender here is dropped.
    let mut running: HashMap<Stream, watch::Sender<()>> = HashMap::new();
    loop {
        let wanted = shared.lock_interest().wanted();
        running.retain(|stream, _| wanted.iter().any(|(wanted, _)| wanted == stream));
        for (stream, since) in wanted {
            running.entry(stream).or_insert_with(|| {
                debug!(%stream, "reading an interest stream");
                let (stop_reader, stopped) = watch::channel(());
                let reader = Reader::new(&shared, rooms.clone(), stream, Some(since));
                let span = info_span!("backplane", server = %shared.name, %stream);
                tokio::spawn(link::keep_up(Arc::clone(&shared), reader, stopped).instrument(span));
                stop_reader
            });
        }
        tokio::select! {
            () = shared.interest_changed.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_wanted_from_its_first_reason_to_its_last() {
        let mut interest = Interest::default();
        let stream = Stream::Interest(3);
        let room = || Reason::Room("lobby".into());
        let user = || Reason::User("ann".into());
        assert!(
            interest.note(stream, room(), true),
            "the first reason starts it"
        );
        assert!(!interest.note(stream, user(), true));
        assert!(!interest.note(stream, room(), true), "a reason counts once");
        assert!(!interest.note(stream, room(), false));
        assert_eq!(interest.wanted().len(), 1);
        assert!(!interest.note(stream, Reason::Watched("x".into()), false));
        assert!(
            interest.note(stream, user(), false),
            "the last reason ends it"
        );
        assert!(interest.wanted().is_empty());
        assert!(!interest.note(stream, user(), false));
    }
}
