//! Presence across servers: each server keeps its room counts in a hash of its own that
//! expires without a heartbeat, and adds up the other live servers' hashes when asked.
//!
//! Presence entries (who): each room has a hash `P:who:ROOM` of every server's entries there,
//! field `SERVER:CONNECTION`, value the key's length, `:`, the key, then the metadata. A server
//! writes its own fields as they change and announces the change on the stream (a
//! [`PresenceOf`](Audience::PresenceOf) broadcast); readers keep the fields of live servers
//! (whose count hash exists) and delete the others' as they find them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Weak};

use super::connection::Connection;
use tracing::debug;

use super::publisher;
use super::shared::Shared;
use crate::error::{BackplaneError, Error};
use crate::rooms::backplane::{Audience, Broadcast, Entry, LocalRooms, Numbering};
use crate::wire::Message;

/// Asks the publisher to write `room`'s count on this server to Redis.
pub(super) fn mark_changed(shared: &Shared, room: &str) {
    let mut dirty = shared.lock_dirty();
    if !dirty.contains(room) {
        dirty.insert(room.to_owned());
    }
    drop(dirty);
    shared.changed.notify_one();
}

/// Rewrites this server's presence hash with every room's count, and its expiry: after every
/// (re)connect, and when the hash is found gone.
pub(super) async fn write_all(
    shared: &Shared,
    rooms: &Weak<dyn LocalRooms>,
    connection: &mut Connection,
) -> redis::RedisResult<()> {
    shared.lock_dirty().clear();
    let Some(counts) = rooms.upgrade().map(|rooms| rooms.presence()) else {
        return Ok(());
    };
    let key = shared.keys.presence(&shared.name);
    let counts: Vec<(String, usize)> = counts.into_iter().collect();
    let mut pipe = redis::pipe();
    pipe.atomic().del(&key).ignore();
    if !counts.is_empty() {
        pipe.hset_multiple(&key, &counts).ignore();
        pipe.pexpire(&key, ttl_ms(shared)).ignore();
    }
    pipe.sadd(shared.keys.servers(), &shared.name).ignore();
    pipe.query_async::<()>(connection).await?;
    debug!(rooms = counts.len(), "presence written to Redis");
    let Some(local) = rooms.upgrade() else {
        return Ok(());
    };
    let rewritten: Vec<String> = {
        let mut written = shared.lock_written();
        let mut rooms: HashSet<String> = written.drain().map(|(room, _)| room).collect();
        rooms.extend(counts.into_iter().map(|(room, _)| room));
        rooms.into_iter().collect()
    };
    rewrite_entries(shared, &*local, &rewritten, connection).await
}

/// Writes this server's presence entries in `rooms` whole, deleting whatever else of its own
/// Redis holds there (writes that failed, or landed unseen, before a reconnect), and
/// announces them.
async fn rewrite_entries(
    shared: &Shared,
    local: &dyn LocalRooms,
    rooms: &[String],
    connection: &mut Connection,
) -> redis::RedisResult<()> {
    if rooms.is_empty() {
        return Ok(());
    }
    let mut keys = redis::pipe();
    for room in rooms {
        keys.hkeys(shared.keys.entries(room));
    }
    let fields: Vec<Vec<String>> = keys.query_async(connection).await?;
    let mine = format!("{}:", shared.name);
    let mut pipe = redis::pipe();
    let mut announced = Vec::new();
    {
        let mut written = shared.lock_written();
        for (room, fields) in rooms.iter().zip(fields) {
            let before: HashSet<u64> = fields
                .iter()
                .filter_map(|field| field.strip_prefix(&mine)?.parse().ok())
                .collect();
            written.insert(room.clone(), before);
            if write_room(shared, &mut pipe, room, local, &mut written) {
                announced.push(room.as_str());
            }
        }
    }
    if !announced.is_empty() {
        pipe.query_async::<()>(connection).await?;
        announce(shared, &announced);
    }
    Ok(())
}

/// Adds to `pipe` what brings this server's entries in `room` in Redis to what they are here,
/// from what it wrote before (`written`, which it updates). `false` when the room had no
/// entries here before or now: nothing to write or announce.
fn write_room(
    shared: &Shared,
    pipe: &mut redis::Pipeline,
    room: &str,
    local: &dyn LocalRooms,
    written: &mut HashMap<String, HashSet<u64>>,
) -> bool {
    let now = local.tracked(room);
    let before = written.remove(room).unwrap_or_default();
    if now.is_empty() && before.is_empty() {
        return false;
    }
    let key = shared.keys.entries(room);
    let ids: HashSet<u64> = now.iter().map(|(id, _, _)| *id).collect();
    let gone: Vec<String> = before
        .difference(&ids)
        .map(|id| field(shared, *id))
        .collect();
    if !gone.is_empty() {
        pipe.hdel(&key, gone).ignore();
    }
    if !now.is_empty() {
        let fields: Vec<(String, String)> = now
            .iter()
            .map(|(id, key, meta)| (field(shared, *id), value(key, meta)))
            .collect();
        pipe.hset_multiple(&key, &fields).ignore();
        pipe.pexpire(&key, entries_ttl_ms(shared)).ignore();
        written.insert(room.to_owned(), ids);
    }
    true
}

/// Tells the other servers (on the stream, after what was written) that the entries of
/// `rooms` changed.
fn announce(shared: &Shared, rooms: &[&str]) {
    let empty = Message::binary(Vec::new());
    for room in rooms {
        publisher::enqueue(
            shared,
            &Broadcast {
                audience: Audience::PresenceOf(room),
                message: &empty,
                except: None,
                numbering: Numbering::None,
            },
        );
    }
}

/// The field of this server's connection `id` in a room's entries hash.
fn field(shared: &Shared, id: u64) -> String {
    format!("{}:{id}", shared.name)
}

/// The value of an entry in a room's entries hash.
fn value(key: &str, meta: &str) -> String {
    format!("{}:{key}{meta}", key.len())
}

/// The key and metadata of an entry's value.
fn parse_value(value: &str) -> Option<(&str, &str)> {
    let (length, rest) = value.split_once(':')?;
    let length: usize = length.parse().ok()?;
    if !rest.is_char_boundary(length) {
        return None;
    }
    Some(rest.split_at(length))
}

/// The heartbeat: renews the expiry of this server's presence hash (`PEXPIRE`) and its place
/// in the servers set (`SADD`); changes keep the hash current, so it is rewritten whole only
/// when it is found gone (it expired, or Redis evicted or lost it) while rooms have members
/// here.
pub(super) async fn refresh(
    shared: &Shared,
    rooms: &Weak<dyn LocalRooms>,
    connection: &mut Connection,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.pexpire(shared.keys.presence(&shared.name), ttl_ms(shared))
        .sadd(shared.keys.servers(), &shared.name)
        .ignore();
    for room in shared.lock_written().keys() {
        pipe.pexpire(shared.keys.entries(room), entries_ttl_ms(shared))
            .ignore();
    }
    let (held,): (bool,) = pipe.query_async(connection).await?;
    if held || !members_here(rooms) {
        return Ok(());
    }
    debug!("this server's presence hash is gone from Redis: writing it whole");
    write_all(shared, rooms, connection).await
}

/// Writes the counts of the rooms that changed since the last write (`HSET`, or `HDEL` for a
/// room with no member left here): absolute counts, so a retry never counts twice. When the
/// hash was gone before this write (no rooms here until now, or it expired), what this wrote
/// is followed by the whole hash.
pub(super) async fn write_changes(
    shared: &Shared,
    rooms: &Weak<dyn LocalRooms>,
    connection: &mut Connection,
) -> redis::RedisResult<()> {
    let changed = std::mem::take(&mut *shared.lock_dirty());
    let Some(local) = rooms.upgrade() else {
        return Ok(());
    };
    if changed.is_empty() {
        return Ok(());
    }
    let counts: Vec<(String, usize)> = changed
        .into_iter()
        .map(|room| {
            let count = local.count(&room);
            (room, count)
        })
        .collect();
    let key = shared.keys.presence(&shared.name);
    let mut pipe = redis::pipe();
    // Whether the hash was there before this write.
    pipe.pexpire(&key, ttl_ms(shared));
    for (room, count) in &counts {
        if *count == 0 {
            pipe.hdel(&key, room).ignore();
        } else {
            pipe.hset(&key, room, count).ignore();
        }
    }
    pipe.pexpire(&key, ttl_ms(shared)).ignore();
    pipe.sadd(shared.keys.servers(), &shared.name).ignore();
    // The rooms' entries in the same pipeline; should it fail, the reconnect rewrites every
    // entry ([`rewrite_entries`]).
    let mut announced = Vec::new();
    {
        let mut written = shared.lock_written();
        for (room, _) in &counts {
            if write_room(shared, &mut pipe, room, &*local, &mut written) {
                announced.push(room.as_str());
            }
        }
    }
    // Not held across the round trip: the rooms may be dropped meanwhile.
    drop(local);
    match pipe.query_async::<(bool,)>(connection).await {
        Ok((false,)) if members_here(rooms) => write_all(shared, rooms, connection).await,
        Ok(_) => {
            announce(shared, &announced);
            Ok(())
        }
        Err(error) => {
            // Written in full after reconnecting.
            shared
                .lock_dirty()
                .extend(counts.into_iter().map(|(room, _)| room));
            Err(error)
        }
    }
}

/// On the way out: removes this server's presence hash and its place in the servers set.
pub(super) async fn remove(shared: &Shared, connection: &mut Connection) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.del(shared.keys.presence(&shared.name))
        .ignore()
        .srem(shared.keys.servers(), &shared.name)
        .ignore();
    for (room, ids) in shared.lock_written().drain() {
        let fields: Vec<String> = ids.into_iter().map(|id| field(shared, id)).collect();
        if !fields.is_empty() {
            pipe.hdel(shared.keys.entries(&room), fields).ignore();
        }
    }
    pipe.query_async(connection).await
}

/// The presence entries of `room` on the other live servers; those of servers found gone
/// are deleted.
pub(super) async fn remote_entries(shared: &Shared, room: &str) -> Result<Vec<Entry>, Error> {
    let mut connection = connection(shared)?;
    let key = shared.keys.entries(room);
    let fields: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .map_err(command_failed)?;
    let mut servers: Vec<&str> = fields
        .keys()
        .filter_map(|field| Some(field.split_once(':')?.0))
        .filter(|server| *server != shared.name)
        .collect();
    servers.sort_unstable();
    servers.dedup();
    if servers.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for server in &servers {
        pipe.exists(shared.keys.presence(server));
    }
    let live: Vec<bool> = pipe
        .query_async(&mut connection)
        .await
        .map_err(command_failed)?;
    let live: HashSet<&str> = servers
        .iter()
        .zip(live)
        .filter_map(|(server, live)| live.then_some(*server))
        .collect();
    let mut entries = Vec::new();
    let mut gone = Vec::new();
    for (field, value) in &fields {
        let Some((server, _)) = field.split_once(':') else {
            continue;
        };
        if server == shared.name {
            continue;
        }
        if !live.contains(server) {
            gone.push(field.as_str());
            continue;
        }
        if let Some((key, meta)) = parse_value(value) {
            entries.push(Entry {
                id: field.clone(),
                key: key.to_owned(),
                meta: Arc::from(meta),
            });
        }
    }
    if !gone.is_empty() {
        debug!(%room, entries = gone.len(), "deleting the presence entries of servers gone");
        let _: Result<(), _> = redis::cmd("HDEL")
            .arg(&key)
            .arg(&gone)
            .query_async(&mut connection)
            .await;
    }
    Ok(entries)
}

/// The members of `room` on the other live servers.
pub(super) async fn remote_count(shared: &Shared, room: &str) -> Result<usize, Error> {
    let mut connection = connection(shared)?;
    let servers = other_servers(shared, &mut connection).await?;
    let mut pipe = redis::pipe();
    for server in &servers {
        pipe.hget(shared.keys.presence(server), room);
    }
    let counts: Vec<Option<usize>> = pipe
        .query_async(&mut connection)
        .await
        .map_err(command_failed)?;
    Ok(counts.into_iter().flatten().sum())
}

/// Every room with members on the other live servers, with its count summed over them.
pub(super) async fn remote_presence(shared: &Shared) -> Result<BTreeMap<String, usize>, Error> {
    let mut connection = connection(shared)?;
    let servers = other_servers(shared, &mut connection).await?;
    let mut pipe = redis::pipe();
    for server in &servers {
        pipe.hgetall(shared.keys.presence(server));
    }
    let hashes: Vec<HashMap<String, usize>> = pipe
        .query_async(&mut connection)
        .await
        .map_err(command_failed)?;
    let mut presence = BTreeMap::new();
    // Expired (or no members): forget them, in one command; a live server adds itself
    // back on its next heartbeat.
    let mut expired = Vec::new();
    for (server, hash) in servers.iter().zip(hashes) {
        if hash.is_empty() {
            expired.push(server);
        }
        for (room, count) in hash {
            *presence.entry(room).or_default() += count;
        }
    }
    if !expired.is_empty() {
        let _: Result<(), _> = redis::cmd("SREM")
            .arg(shared.keys.servers())
            .arg(&expired)
            .query_async(&mut connection)
            .await;
    }
    Ok(presence)
}

/// The publisher's connection, for a query; none while Redis is unreachable.
fn connection(shared: &Shared) -> Result<Connection, Error> {
    shared
        .lock_connection()
        .clone()
        .ok_or(Error::Backplane(BackplaneError::Unreachable))
}

async fn other_servers(shared: &Shared, connection: &mut Connection) -> Result<Vec<String>, Error> {
    let me = &shared.name;
    let servers: Vec<String> = redis::cmd("SMEMBERS")
        .arg(shared.keys.servers())
        .query_async(connection)
        .await
        .map_err(command_failed)?;
    Ok(servers.into_iter().filter(|server| server != me).collect())
}

/// Whether any room has members on this server.
fn members_here(rooms: &Weak<dyn LocalRooms>) -> bool {
    rooms.upgrade().is_some_and(|rooms| rooms.has_members())
}

fn ttl_ms(shared: &Shared) -> i64 {
    i64::try_from(shared.presence_ttl.as_millis()).unwrap_or(i64::MAX)
}

/// How long a room's entries hash lives without a heartbeat of a server with entries there:
/// past the servers' own TTL, so that the hash never expires under a live server's entries.
fn entries_ttl_ms(shared: &Shared) -> i64 {
    ttl_ms(shared).saturating_mul(2)
}

/// A Redis error of a presence query, kept as the source of the backplane's.
fn command_failed(error: redis::RedisError) -> Error {
    BackplaneError::Command(Box::new(error)).into()
}
