//! What the Redis backplane records on the `metrics` facade (feature `metrics`), read back
//! through a Prometheus recorder of this test binary's own: the broadcasts appended to the
//! stream, and a reconnect of each link after a real `redis-server` is killed and restarted.
//! In a binary of its own, so that no other test's backplane adds to the counts.

mod support;

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ws_routes::Rooms;

use support::redis::{Redis, connected, stats, wait_until};

const PUBLISHED: &str = "ws_routes_backplane_published_total";
const PUBLISHER_RECONNECTS: &str = r#"ws_routes_backplane_reconnects_total{link="publisher"}"#;
const READER_RECONNECTS: &str = r#"ws_routes_backplane_reconnects_total{link="reader"}"#;

/// The value of one series in the recorder's text rendering; 0 while it has none.
fn value(metrics: &PrometheusHandle, series: &str) -> u64 {
    metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |value| {
            value.trim().parse::<f64>().expect("a number") as u64
        })
}

/// How long a test waits for the backplane: a reconnect waits up to two seconds of backoff;
/// the rest is slack for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: `scripts/test` installs it and runs this"]
async fn the_backplane_counts_what_it_published_and_each_reconnect() {
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this binary");
    let mut redis = Redis::start();
    let rooms = Rooms::builder()
        .redis(redis.url())
        .redis_prefix("metrics")
        .build()
        .expect("a valid Redis URL");
    connected(&rooms).await;

    for number in 0..5 {
        rooms.broadcast("lobby", format!("{number}"));
    }
    wait_until("five broadcasts published", PATIENCE, || async {
        stats(&rooms).published == 5
    })
    .await;
    assert_eq!(value(&metrics, PUBLISHED), 5);
    assert_eq!(value(&metrics, PUBLISHER_RECONNECTS), 0);
    assert_eq!(value(&metrics, READER_RECONNECTS), 0);

    redis.stop();
    redis.start_again();
    // The publisher learns that its connection is gone when it next writes.
    rooms.broadcast("lobby", "after the restart");
    wait_until(
        "the broadcast after the restart published",
        PATIENCE,
        || async {
            let stats = stats(&rooms);
            stats.connected && stats.published == 6
        },
    )
    .await;
    assert_eq!(
        value(&metrics, PUBLISHED),
        6,
        "a retried broadcast counts once"
    );
    assert!(value(&metrics, PUBLISHER_RECONNECTS) >= 1);
    assert!(value(&metrics, READER_RECONNECTS) >= 1);
}
