//! Numbering the broadcasts to rooms with history: one authority, Redis, gives each of them
//! its room's next offset as it appends it to the stream, so that every server keeps the same
//! history and a client recovers on whichever server it reconnects to.
//!
//! Each room with history has a hash, `P:history:ROOM`, with its `epoch` (a random token set
//! by the first broadcast that finds the hash missing: a Redis restarted empty, or a room idle
//! for [`META_TTL`], starts a new epoch), its last `offset`, and per origin server
//! (`s:ID`) the sequence number of the last broadcast numbered, so that a batch retried
//! after a lost reply is not numbered twice. The script that numbers a broadcast appends it
//! to the stream in the same step, with the fields `e` (epoch) and `o` (offset): the stream's
//! order is the offsets' order.

use std::time::Duration;

use super::connection::Connection;
use bytes::Bytes;
use redis::Pipeline;

use super::envelope;
use super::shared::Shared;
use super::streams::Stream;

/// The numbering script as Redis knows it once loaded: its SHA-1, for `EVALSHA`.
pub(super) struct Script(String);

/// Loads the numbering script into Redis (`SCRIPT LOAD`), once per connection.
pub(super) async fn load(connection: &mut Connection) -> redis::RedisResult<Script> {
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(SCRIPT)
        .query_async(connection)
        .await?;
    Ok(Script(sha))
}

/// How long a room's numbering outlives its last broadcast.
const META_TTL: Duration = Duration::from_secs(24 * 3600);

/// Numbers the broadcast in `ARGV[6]` and appends it to the stream `KEYS[1]`; returns the
/// entry's id, or nothing for a broadcast of an origin (`ARGV[1]`) numbered already
/// (`ARGV[2]`, its sequence number).
const SCRIPT: &str = r"
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= last then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSETNX', KEYS[2], 'epoch', ARGV[3])
local epoch = redis.call('HGET', KEYS[2], 'epoch')
local offset = redis.call('HINCRBY', KEYS[2], 'offset', 1)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local add = {'XADD', KEYS[1]}
if ARGV[5] ~= '' then
  table.insert(add, 'MINID')
  table.insert(add, '~')
  table.insert(add, ARGV[5])
end
for _, field in ipairs({'*', 'm', ARGV[6], 'e', epoch, 'o', tostring(offset)}) do
  table.insert(add, field)
end
if ARGV[7] ~= '' then
  table.insert(add, 't')
  table.insert(add, ARGV[7])
end
return redis.call(unpack(add))
";

/// Adds to `pipe` the command that appends `envelope` to the stream: numbered by the `script`
/// loaded on this connection when it is a room's with history, a plain `XADD` otherwise;
/// trimmed to `min_id` when given. (Should Redis forget the script, `SCRIPT FLUSH`, the batch
/// fails with `NOSCRIPT`, and is retried on a new connection that loads it again.)
pub(super) fn append(
    shared: &Shared,
    pipe: &mut Pipeline,
    stream: Stream,
    envelope: &Bytes,
    min_id: Option<u64>,
    script: &Script,
) {
    let tag = shared.signer.tag(envelope);
    let room = envelope::is_history(envelope)
        .then(|| envelope::decode(envelope.clone()))
        .flatten();
    let Some(envelope::Envelope { room, seq, .. }) = room else {
        let command = pipe.cmd("XADD").arg(shared.keys.stream(stream));
        if let Some(min_id) = min_id {
            command.arg("MINID").arg("~").arg(min_id);
        }
        command.arg("*").arg("m").arg(envelope.as_ref());
        if let Some(tag) = tag {
            command.arg("t").arg(&tag[..]);
        }
        return;
    };
    let ttl = u64::try_from(META_TTL.as_millis()).unwrap_or(u64::MAX);
    pipe.cmd("EVALSHA")
        .arg(&script.0)
        .arg(2)
        .arg(shared.keys.stream(stream))
        .arg(shared.keys.history(stream, &room))
        .arg(format!("s:{}", shared.name))
        .arg(seq)
        .arg(format!("{:08x}", rand::random::<u32>()))
        .arg(ttl)
        .arg(min_id.map(|id| id.to_string()).unwrap_or_default())
        .arg(envelope.as_ref())
        .arg(tag.as_ref().map_or(&[][..], |tag| &tag[..]));
}
