//! Presence with who: the entries of the members that [track](crate::Rooms::track) their
//! presence in a room (a key such as a user id, and a small JSON value), listed across every
//! server sharing the rooms, and their changes as coalesced diffs.

mod watch;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub(crate) use self::watch::Watchers;
pub use self::watch::{PresenceEvent, PresenceEvents};

use super::{Rooms, Tracked};
use crate::error::Error;
use crate::socket::Sender;

impl Rooms {
    /// Puts `member` in `room`, as [`join`](Self::join) does, with a presence entry: `key`
    /// (typically the user's id) and `meta`, a small value written as JSON (a name, a device,
    /// a status) of at most [`max_presence_meta`](super::RoomsBuilder::max_presence_meta)
    /// bytes with the key. A member in the room already keeps its place and gets the new
    /// entry (its watchers see the old one leave and the new one join).
    ///
    /// The entry is listed by [`present`](Self::present) on every server sharing the rooms,
    /// and goes when the member leaves the room or its connection ends. `Ok(false)` when the
    /// member could not join (see [`join`](Self::join)).
    ///
    /// ```
    /// use ws_routes::{route, Rooms, State, WebSocket};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Meta<'a> {
    ///     name: &'a str,
    ///     device: &'a str,
    /// }
    ///
    /// #[route("/chat/{room}/{user}")]
    /// async fn chat(mut ws: WebSocket, room: String, user: String, State(rooms): State<Rooms>) {
    ///     let me = ws.sender();
    ///     let meta = Meta { name: &user, device: "web" };
    ///     if rooms.track(&room, &me, &user, &meta).is_err() {
    ///         return;
    ///     }
    ///     while let Some(Ok(_)) = ws.recv().await {}
    /// }
    /// ```
    #[cfg(feature = "json")]
    pub fn track(
        &self,
        room: &str,
        member: &Sender,
        key: &str,
        meta: &(impl serde::Serialize + ?Sized),
    ) -> Result<bool, TrackError> {
        let meta = serde_json::to_string(meta)?;
        let size = key.len() + meta.len();
        let limit = self.inner.max_presence_meta;
        if size > limit {
            return Err(TrackError::TooLarge { size, limit });
        }
        let tracked = Tracked {
            key: Arc::from(key),
            meta: Arc::from(meta),
        };
        Ok(self.enter(room, member, false, Some(tracked)))
    }

    /// Who is present in `room` on this server: the entries of its members that
    /// [track](Self::track) their presence.
    pub fn local_present(&self, room: &str) -> Presence {
        let server = self.inner.backplane.server_name();
        let mut presence = Presence::new();
        for (id, key, meta) in super::LocalRooms::tracked(&*self.inner, room) {
            presence.insert(&key, PresenceEntry::new(format!("{server}:{id}"), meta));
        }
        presence
    }

    /// Who is present in `room` on every server sharing these rooms: every key with its
    /// entries. Members that joined without [`track`](Self::track) are counted by
    /// [`count`](Self::count) but not listed. Fails only when the backplane cannot reach
    /// Redis.
    pub async fn present(&self, room: &str) -> Result<Presence, Error> {
        let mut presence = self.local_present(room);
        for entry in self.inner.backplane.remote_entries(room).await? {
            presence.insert(&entry.key, PresenceEntry::new(entry.id, entry.meta));
        }
        Ok(presence)
    }

    /// Subscribes to the presence of `room`: [`PresenceEvents::next`] gives who is present,
    /// then what changed, as diffs gathered over
    /// [`presence_window`](super::RoomsBuilder::presence_window), on every server sharing
    /// these rooms. The entries of a server that stops without a goodbye (killed, cut off
    /// from Redis) leave within the [presence TTL](super::RoomsBuilder::presence_ttl) and a
    /// third of it.
    ///
    /// One task per watched room does the reading, whatever the number of subscribers; it
    /// ends with the last subscriber. Needs a Tokio runtime.
    ///
    /// ```
    /// use ws_routes::rooms::PresenceEvent;
    /// use ws_routes::{Rooms, Server, State, WebSocket, route, routes};
    ///
    /// /// Sends its client who is in the lobby, then every change, as JSON.
    /// #[route("/lobby/{user}")]
    /// async fn lobby(mut ws: WebSocket, user: String, State(rooms): State<Rooms>) {
    ///     let me = ws.sender();
    ///     let _ = rooms.track("lobby", &me, &user, &());
    ///     let mut events = rooms.presence_events("lobby");
    ///     loop {
    ///         tokio::select! {
    ///             event = events.next() => match event {
    ///                 Some(PresenceEvent::State(state)) => { let _ = ws.send_json(&state).await; }
    ///                 Some(PresenceEvent::Diff(diff)) => { let _ = ws.send_json(&diff).await; }
    ///                 _ => break,
    ///             },
    ///             message = ws.recv() => if !matches!(message, Some(Ok(_))) { break },
    ///         }
    ///     }
    /// }
    /// # let _ = Server::new(routes![lobby]).with_state(Rooms::new());
    /// ```
    pub fn presence_events(&self, room: &str) -> PresenceEvents {
        self.inner.watchers.subscribe(room, &self.inner)
    }
}

/// One connection's entry in a room's [`Presence`]: its id, unique while the connection
/// lives, and the metadata it was tracked with.
#[derive(Clone, PartialEq, Eq)]
pub struct PresenceEntry {
    id: Arc<str>,
    meta: Arc<str>,
}

impl PresenceEntry {
    pub(crate) fn new(id: impl Into<Arc<str>>, meta: Arc<str>) -> Self {
        PresenceEntry {
            id: id.into(),
            meta,
        }
    }

    /// The entry's id, `SERVER:CONNECTION`: unique among every server's connections while the
    /// connection lives. A change of metadata keeps it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The metadata, as the JSON text it was tracked with.
    pub fn meta_json(&self) -> &str {
        &self.meta
    }

    /// The metadata, read as a `T`.
    ///
    /// ```
    /// # use ws_routes::rooms::Presence;
    /// # fn names(presence: &Presence) -> Result<Vec<String>, serde_json::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Meta {
    ///     name: String,
    /// }
    /// let mut names = Vec::new();
    /// for (_user, entries) in presence.iter() {
    ///     for entry in entries {
    ///         names.push(entry.meta::<Meta>()?.name);
    ///     }
    /// }
    /// # Ok(names)
    /// # }
    /// ```
    #[cfg(feature = "json")]
    pub fn meta<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.meta)
    }
}

impl fmt::Debug for PresenceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresenceEntry")
            .field("id", &self.id)
            .field("meta", &&*self.meta)
            .finish()
    }
}

/// Who is in a room: every key with its entries, one per connection (a user on a phone and a
/// laptop is one key with two entries), keys in order and each key's entries by id.
///
/// With the `json` feature it is written as
/// `{"KEY": [{"id": "SERVER:CONNECTION", "meta": META}, ...], ...}`, ready to send to clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presence {
    keys: BTreeMap<String, Vec<PresenceEntry>>,
}

impl Presence {
    /// Nobody.
    pub fn new() -> Self {
        Presence::default()
    }

    /// How many keys are present.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nobody is present.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many entries (connections) are present, over every key.
    pub fn entries(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }

    /// The entries of `key`, if it is present.
    pub fn get(&self, key: &str) -> Option<&[PresenceEntry]> {
        self.keys.get(key).map(Vec::as_slice)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }

    /// The keys present, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Every key with its entries, keys in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[PresenceEntry])> {
        self.keys
            .iter()
            .map(|(key, entries)| (key.as_str(), entries.as_slice()))
    }

    /// Brings this presence up to date with `diff`: its leaves go, then its joins come (an
    /// entry whose metadata changed is in both). Applying a diff twice changes nothing more.
    ///
    /// ```
    /// # async fn follow(rooms: ws_routes::Rooms) {
    /// use ws_routes::rooms::{Presence, PresenceEvent};
    ///
    /// let mut events = rooms.presence_events("lobby");
    /// let mut present = Presence::new();
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         PresenceEvent::State(state) => present = state,
    ///         PresenceEvent::Diff(diff) => present.apply(&diff),
    ///         _ => {}
    ///     }
    ///     println!("{} users online", present.len());
    /// }
    /// # }
    /// ```
    pub fn apply(&mut self, diff: &PresenceDiff) {
        for (key, entries) in &diff.leaves.keys {
            if let Some(present) = self.keys.get_mut(key) {
                present.retain(|entry| !entries.iter().any(|gone| gone.id == entry.id));
                if present.is_empty() {
                    self.keys.remove(key);
                }
            }
        }
        for (key, entries) in &diff.joins.keys {
            let present = self.keys.entry(key.clone()).or_default();
            for entry in entries {
                present.retain(|old| old.id != entry.id);
                present.push(entry.clone());
            }
            present.sort_by(|a, b| a.id.cmp(&b.id));
        }
    }

    /// What changed from `self` to `newer`.
    pub(crate) fn diff(&self, newer: &Presence) -> PresenceDiff {
        PresenceDiff {
            joins: newer.without(self),
            leaves: self.without(newer),
        }
    }

    /// The entries of `self` that `other` does not have (with the same metadata).
    fn without(&self, other: &Presence) -> Presence {
        let mut rest = Presence::new();
        for (key, entries) in &self.keys {
            let theirs = other.get(key).unwrap_or_default();
            let only: Vec<PresenceEntry> = entries
                .iter()
                .filter(|entry| !theirs.contains(entry))
                .cloned()
                .collect();
            if !only.is_empty() {
                rest.keys.insert(key.clone(), only);
            }
        }
        rest
    }

    /// Adds an entry of `key`.
    pub(crate) fn insert(&mut self, key: &str, entry: PresenceEntry) {
        let entries = self.keys.entry(key.to_owned()).or_default();
        entries.push(entry);
        entries.sort_by(|a, b| a.id.cmp(&b.id));
    }
}

/// What changed in a room's presence over a short window: the entries that joined and those
/// that left. An entry whose metadata changed leaves with its old metadata and joins with the
/// new one.
///
/// With the `json` feature it is written as `{"joins": PRESENCE, "leaves": PRESENCE}`, each as
/// [`Presence`] is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresenceDiff {
    joins: Presence,
    leaves: Presence,
}

impl PresenceDiff {
    /// The entries that joined (or changed their metadata).
    pub fn joins(&self) -> &Presence {
        &self.joins
    }

    /// The entries that left (or changed their metadata, with the old one).
    pub fn leaves(&self) -> &Presence {
        &self.leaves
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.joins.is_empty() && self.leaves.is_empty()
    }
}

/// Why [`Rooms::track`](crate::Rooms::track) refused the metadata.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrackError {
    /// The metadata could not be written as JSON.
    #[cfg(feature = "json")]
    #[error("presence metadata is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The metadata, as JSON, is longer than
    /// [`max_presence_meta`](crate::rooms::RoomsBuilder::max_presence_meta).
    #[error("presence metadata of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Its length as JSON.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

#[cfg(feature = "json")]
mod json {
    use serde::ser::{SerializeMap, SerializeSeq};
    use serde::{Serialize, Serializer};
    use serde_json::value::RawValue;

    use super::{Presence, PresenceDiff, PresenceEntry};

    impl Serialize for PresenceEntry {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            // Checked as JSON when tracked: reading it back as raw JSON cannot fail.
            let meta: &RawValue =
                serde_json::from_str(&self.meta).map_err(serde::ser::Error::custom)?;
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("id", &*self.id)?;
            map.serialize_entry("meta", meta)?;
            map.end()
        }
    }

    impl Serialize for Presence {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(self.keys.len()))?;
            for (key, entries) in &self.keys {
                map.serialize_entry(key, &Entries(entries))?;
            }
            map.end()
        }
    }

    struct Entries<'a>(&'a [PresenceEntry]);

    impl Serialize for Entries<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
            for entry in self.0 {
                seq.serialize_element(entry)?;
            }
            seq.end()
        }
    }

    impl Serialize for PresenceDiff {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("joins", &self.joins)?;
            map.serialize_entry("leaves", &self.leaves)?;
            map.end()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(entries: &[(&str, &str, &str)]) -> Presence {
        let mut presence = Presence::new();
        for (key, id, meta) in entries {
            presence.insert(key, PresenceEntry::new(*id, Arc::from(*meta)));
        }
        presence
    }

    #[test]
    fn a_diff_brings_the_old_presence_to_the_new() {
        let old = presence(&[
            ("ann", "s:1", "1"),
            ("ann", "s:2", "2"),
            ("bob", "s:3", "3"),
        ]);
        let new = presence(&[("ann", "s:2", "\"away\""), ("cy", "t:1", "4")]);
        let diff = old.diff(&new);
        assert_eq!(
            diff.joins,
            presence(&[("ann", "s:2", "\"away\""), ("cy", "t:1", "4")])
        );
        assert_eq!(
            diff.leaves,
            presence(&[
                ("ann", "s:1", "1"),
                ("ann", "s:2", "2"),
                ("bob", "s:3", "3")
            ])
        );
        let mut applied = old.clone();
        applied.apply(&diff);
        assert_eq!(applied, new);
        applied.apply(&diff);
        assert_eq!(applied, new, "applying a diff twice changes nothing more");
        assert!(new.diff(&new).is_empty());
        assert_eq!((new.len(), new.entries()), (2, 2));
    }

    #[cfg(feature = "json")]
    #[test]
    fn presence_is_written_as_keys_to_their_entries() {
        let new = presence(&[("ann", "s:2", "{\"name\":\"Ann\"}"), ("ann", "s:1", "null")]);
        assert_eq!(
            serde_json::to_string(&new).unwrap(),
            r#"{"ann":[{"id":"s:1","meta":null},{"id":"s:2","meta":{"name":"Ann"}}]}"#
        );
        let diff = Presence::new().diff(&new);
        let json = serde_json::to_string(&diff).unwrap();
        assert!(json.starts_with(r#"{"joins":{"ann":"#) && json.ends_with(r#""leaves":{}}"#));
    }
}
