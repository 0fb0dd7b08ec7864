//! The backplane's Redis stream as an operator sees it, with a real `redis-server` on a free
//! port: a quiet server, publishing one broadcast at a time, still keeps the stream to the
//! retention window; an entry that is not a broadcast is counted and logged with its count;
//! broadcasts that all arrive are not reported lost.
//!
//! `#[ignore]`d like the other tests that need `redis-server` (`scripts/test` installs it and
//! runs them).

mod support;

use std::time::Duration;

use ws_routes::Rooms;
use ws_routes::rooms::BackplaneStats;

use support::log::Log;
use support::redis::Redis;
use support::wait_for;

fn stats(rooms: &Rooms) -> BackplaneStats {
    rooms.backplane_stats().expect("a Redis backplane")
}

/// Rooms on `redis` with their own key prefix and no retention: each publication trims the
/// stream to its own time.
async fn rooms(redis: &Redis, prefix: &str) -> Rooms {
    let rooms = Rooms::builder()
        .redis(redis.url())
        .redis_prefix(prefix)
        .redis_retention(Duration::ZERO)
        .build()
        .expect("a valid Redis URL");
    wait_for(|| stats(&rooms).connected).await;
    rooms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn a_stream_fed_one_broadcast_at_a_time_keeps_to_the_retention_window() {
    let redis = Redis::start();
    let rooms = rooms(&redis, "quiet").await;
    for number in 1..=300 {
        rooms.broadcast("lobby", format!("{number}"));
        wait_for(|| {
            let stats = stats(&rooms);
            stats.published == number && stats.waiting == 0
        })
        .await;
    }
    // Redis trims whole nodes of 100 entries: the first two are past the window.
    let length = redis.command(&[b"XLEN", b"quiet:stream"]);
    let length: u64 = length.trim_start_matches(':').parse().expect("a number");
    assert!(length <= 150, "{length} entries kept of 300");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn an_entry_that_is_no_broadcast_is_counted_and_logged_at_once() {
    let log = Log::capture_everywhere();
    let redis = Redis::start();
    let rooms = rooms(&redis, "forged").await;
    let added = redis.command(&[b"XADD", b"forged:stream", b"*", b"m", b"not an envelope"]);
    assert!(added.starts_with('$'), "{added}");
    wait_for(|| stats(&rooms).rejected == 1).await;
    let text = log.text();
    let line = text
        .lines()
        .find(|line| line.contains("dropped Redis stream entries"))
        .unwrap_or_else(|| panic!("no warning: {text}"));
    assert!(line.contains("rejected=1"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn broadcasts_that_all_arrive_are_not_reported_lost() {
    let log = Log::capture_everywhere();
    let redis = Redis::start();
    let (sender, receiver) = (rooms(&redis, "whole").await, rooms(&redis, "whole").await);
    for number in 1..=3 {
        sender.broadcast("lobby", format!("{number}"));
    }
    wait_for(|| stats(&receiver).received == 3).await;
    assert_eq!((stats(&receiver).lost, stats(&receiver).gaps), (0, 0));
    let text = log.text();
    assert!(!text.contains("never reached this one"), "{text}");
}
