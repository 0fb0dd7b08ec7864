//! Presence across servers: each server keeps its room counts in a hash of its own that
//! expires without a heartbeat, and adds up the other live servers' hashes when asked.

use std::collections::{BTreeMap, HashMap};
use std::sync::Weak;

use redis::aio::MultiplexedConnection;
use tracing::debug;

use super::shared::Shared;
use crate::error::{BackplaneError, Error};
use crate::rooms::backplane::LocalRooms;

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
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<()> {
    shared.lock_dirty().clear();
    let Some(counts) = rooms.upgrade().map(|rooms| rooms.presence()) else {
        return Ok(());
    };
    let key = shared.presence_key(&shared.name);
    let counts: Vec<(String, usize)> = counts.into_iter().collect();
    let mut pipe = redis::pipe();
    pipe.atomic().del(&key).ignore();
    if !counts.is_empty() {
        pipe.hset_multiple(&key, &counts).ignore();
        pipe.pexpire(&key, ttl_ms(shared)).ignore();
    }
    pipe.sadd(&shared.servers_key, &shared.name).ignore();
    pipe.query_async::<()>(connection).await?;
    debug!(rooms = counts.len(), "presence written to Redis");
    Ok(())
}

/// The heartbeat: renews the expiry of this server's presence hash (`PEXPIRE`) and its place
/// in the servers set (`SADD`); changes keep the hash current, so it is rewritten whole only
/// when it is found gone (it expired, or Redis evicted or lost it) while rooms have members
/// here.
pub(super) async fn refresh(
    shared: &Shared,
    rooms: &Weak<dyn LocalRooms>,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<()> {
    let (held,): (bool,) = redis::pipe()
        .pexpire(shared.presence_key(&shared.name), ttl_ms(shared))
        .sadd(&shared.servers_key, &shared.name)
        .ignore()
        .query_async(connection)
        .await?;
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
    connection: &mut MultiplexedConnection,
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
    drop(local);
    let key = shared.presence_key(&shared.name);
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
    pipe.sadd(&shared.servers_key, &shared.name).ignore();
    match pipe.query_async::<(bool,)>(connection).await {
        Ok((false,)) if members_here(rooms) => write_all(shared, rooms, connection).await,
        Ok(_) => Ok(()),
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
pub(super) async fn remove(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<()> {
    redis::pipe()
        .del(shared.presence_key(&shared.name))
        .ignore()
        .srem(&shared.servers_key, &shared.name)
        .ignore()
        .query_async(connection)
        .await
}

/// The members of `room` on the other live servers.
pub(super) async fn remote_count(shared: &Shared, room: &str) -> Result<usize, Error> {
    let mut connection = connection(shared)?;
    let servers = other_servers(shared, &mut connection).await?;
    let mut pipe = redis::pipe();
    for server in &servers {
        pipe.hget(shared.presence_key(server), room);
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
        pipe.hgetall(shared.presence_key(server));
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
            .arg(&shared.servers_key)
            .arg(&expired)
            .query_async(&mut connection)
            .await;
    }
    Ok(presence)
}

/// The publisher's connection, for a query; none while Redis is unreachable.
fn connection(shared: &Shared) -> Result<MultiplexedConnection, Error> {
    shared
        .lock_connection()
        .clone()
        .ok_or(Error::Backplane(BackplaneError::Unreachable))
}

async fn other_servers(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
) -> Result<Vec<String>, Error> {
    let me = &shared.name;
    let servers: Vec<String> = redis::cmd("SMEMBERS")
        .arg(&shared.servers_key)
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

/// A Redis error of a presence query, kept as the source of the backplane's.
fn command_failed(error: redis::RedisError) -> Error {
    BackplaneError::Command(Box::new(error)).into()
}
