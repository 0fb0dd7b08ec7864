//! One user, any server: connections bound to a user id, reached (or closed) together on
//! every server sharing the rooms.

use std::sync::Arc;

use super::Rooms;
use super::backplane::Audience;
use crate::socket::Sender;
use crate::wire::{CloseCode, Message};

impl Rooms {
    /// Binds `member`'s connection to `user` (an id of the application's: typically who the
    /// route's `accept` hook authenticated), in place of any user it was bound to: from now
    /// on [`to_user`](Self::to_user) and [`close_user`](Self::close_user) reach it, on
    /// whichever server they are called. The binding ends with the connection. `false` when
    /// the connection has ended or `user` is longer than
    /// [`max_room_name`](super::RoomsBuilder::max_room_name).
    ///
    /// ```
    /// use ws_routes::{route, Rooms, State, WebSocket};
    ///
    /// #[route("/inbox/{user}")]
    /// async fn inbox(mut ws: WebSocket, user: String, State(rooms): State<Rooms>) {
    ///     // A real application binds who its `accept` hook authenticated, not a path segment.
    ///     rooms.bind_user(&ws.sender(), &user);
    ///     while let Some(Ok(_)) = ws.recv().await {}
    /// }
    ///
    /// // Anywhere, on any server sharing the rooms:
    /// fn notify(rooms: &Rooms) {
    ///     rooms.to_user("42", "you have mail");
    /// }
    /// ```
    pub fn bind_user(&self, member: &Sender, user: &str) -> bool {
        if member.is_closed() || user.len() > self.inner.max_room_name {
            return false;
        }
        let id = member.id();
        let (fresh, old) = {
            let mut guard = self.inner.write();
            let registry = &mut *guard;
            let fresh = !registry.members.contains_key(&id);
            let entry = registry
                .members
                .entry(id)
                .or_insert_with(|| super::Member::new(member));
            let bound: Arc<str> = match registry.users.get_key_value(user) {
                Some((name, _)) => Arc::clone(name),
                None => Arc::from(user),
            };
            let old = entry.user.replace(Arc::clone(&bound));
            if let Some(old) = &old {
                registry.unbind(old, id);
            }
            registry.users.entry(bound).or_default().insert(id);
            (fresh, old)
        };
        if let Some(old) = old {
            self.inner.backplane.user_changed(&old);
        }
        self.inner.backplane.user_changed(user);
        !fresh || self.inner.watch_end(member)
    }

    /// The user `member`'s connection is bound to, if any.
    pub fn user_of(&self, member: &Sender) -> Option<String> {
        let registry = self.inner.read();
        let user = registry.members.get(&member.id())?.user.as_deref()?;
        Some(user.to_owned())
    }

    /// How many connections of `user` this server has.
    pub fn local_connections_of(&self, user: &str) -> usize {
        super::LocalRooms::user_connections(&*self.inner, user)
    }

    /// Sends `message` to every connection of `user` ([`bind_user`](Self::bind_user)), on
    /// every server sharing these rooms, with the rules and guarantees of a room's broadcast
    /// (the [slow-consumer policy](super::SlowConsumer), the backplane's order and
    /// exactly-once delivery); returns how many connections of this server it was queued
    /// for.
    pub fn to_user(&self, user: &str, message: impl Into<Message>) -> usize {
        if user.len() > self.inner.max_room_name {
            return 0;
        }
        self.send(Audience::User(user), message.into(), None)
    }

    /// Closes every connection of `user` with `code` and `reason`, on every server sharing
    /// these rooms (kicking a user out); returns how many connections of this server it
    /// closed. The reason is cut to what a close frame holds (123 bytes).
    pub fn close_user(&self, user: &str, code: impl Into<CloseCode>, reason: &str) -> usize {
        if user.len() > self.inner.max_room_name {
            return 0;
        }
        let code: u16 = code.into().into();
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(crate::wire::fitting_reason(reason).as_bytes());
        self.send(Audience::UserClose(user), Message::binary(payload), None)
    }
}

/// The close code and reason a [`Audience::UserClose`] broadcast carries.
pub(super) fn close_frame(message: &Message) -> (CloseCode, &str) {
    let payload = message.as_bytes();
    match payload.split_first_chunk::<2>() {
        Some((code, reason)) => (
            CloseCode::from(u16::from_be_bytes(*code)),
            std::str::from_utf8(reason).unwrap_or_default(),
        ),
        None => (CloseCode::POLICY, ""),
    }
}
