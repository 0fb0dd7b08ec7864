//! Typed broadcasts: a serde value encoded once, with a codec, for every member.

use serde::Serialize;

use super::Rooms;
use crate::codec::{self, Codec};
use crate::socket::Sender;

impl Rooms {
    /// Sends `value`, encoded once with codec `C` for every member, to every member of `room`;
    /// see [`broadcast`](Self::broadcast). Fails, sending nothing, when `value` cannot be
    /// encoded.
    ///
    /// ```
    /// use ws_routes::codec::JsonCodec;
    /// use ws_routes::Rooms;
    ///
    /// #[derive(serde::Serialize)]
    /// struct Tick {
    ///     n: u64,
    /// }
    ///
    /// let rooms = Rooms::new();
    /// let queued = rooms.broadcast_as::<JsonCodec>("lobby", &Tick { n: 1 })?;
    /// assert_eq!(queued, 0); // nobody is in the lobby
    /// # Ok::<(), ws_routes::codec::JsonError>(())
    /// ```
    pub fn broadcast_as<C: Codec>(
        &self,
        room: &str,
        value: &(impl Serialize + ?Sized),
    ) -> Result<usize, C::Error> {
        Ok(self.broadcast(room, codec::encode::<C>(value)?))
    }

    /// Sends `value`, encoded once with codec `C`, to every member of `room` but `except`; see
    /// [`broadcast_except`](Self::broadcast_except).
    pub fn broadcast_except_as<C: Codec>(
        &self,
        room: &str,
        value: &(impl Serialize + ?Sized),
        except: &Sender,
    ) -> Result<usize, C::Error> {
        Ok(self.broadcast_except(room, codec::encode::<C>(value)?, except))
    }

    /// Sends `value`, written as JSON once for every member, to every member of `room`; see
    /// [`broadcast`](Self::broadcast). Fails, sending nothing, when `value` cannot be written
    /// as JSON.
    ///
    /// ```
    /// use ws_routes::Rooms;
    ///
    /// #[derive(serde::Serialize)]
    /// #[serde(tag = "type", rename_all = "lowercase")]
    /// enum ServerEvent {
    ///     Presence { count: usize },
    /// }
    ///
    /// let rooms = Rooms::new();
    /// let queued = rooms.broadcast_json("lobby", &ServerEvent::Presence { count: 0 })?;
    /// assert_eq!(queued, 0); // nobody is in the lobby
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[cfg(feature = "json")]
    pub fn broadcast_json<T: Serialize + ?Sized>(
        &self,
        room: &str,
        value: &T,
    ) -> Result<usize, serde_json::Error> {
        Ok(self.broadcast(room, crate::Message::json(value)?))
    }

    /// Sends `value` as JSON to every member of `room` but `except`; see
    /// [`broadcast_except`](Self::broadcast_except).
    #[cfg(feature = "json")]
    pub fn broadcast_json_except<T: Serialize + ?Sized>(
        &self,
        room: &str,
        value: &T,
        except: &Sender,
    ) -> Result<usize, serde_json::Error> {
        Ok(self.broadcast_except(room, crate::Message::json(value)?, except))
    }

    /// Sends `value`, encoded once with codec `C`, to every connection of `user`; see
    /// [`to_user`](Self::to_user).
    pub fn to_user_as<C: Codec>(
        &self,
        user: &str,
        value: &(impl Serialize + ?Sized),
    ) -> Result<usize, C::Error> {
        Ok(self.to_user(user, codec::encode::<C>(value)?))
    }

    /// Sends `value` as JSON to every connection of `user`; see [`to_user`](Self::to_user).
    #[cfg(feature = "json")]
    pub fn to_user_json<T: Serialize + ?Sized>(
        &self,
        user: &str,
        value: &T,
    ) -> Result<usize, serde_json::Error> {
        Ok(self.to_user(user, crate::Message::json(value)?))
    }
}
