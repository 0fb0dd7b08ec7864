//! The Redis backplane's settings, as [`RoomsBuilder`](crate::rooms::RoomsBuilder) collects them.

use std::time::Duration;

use super::signing::Secret;

/// The settings of the Redis backplane, which is on once it has a URL.
#[derive(Debug, Clone)]
pub(crate) struct RedisSettings {
    pub(crate) url: Option<String>,
    /// Seed nodes of a Redis Cluster, in place of `url`.
    pub(crate) cluster: Vec<String>,
    pub(crate) prefix: String,
    pub(crate) presence_ttl: Duration,
    pub(crate) retention: Duration,
    pub(crate) outbox_bytes: usize,
    pub(crate) max_message: usize,
    pub(crate) secret: Option<Secret>,
    /// `None`: one on a single Redis, 16 on a cluster.
    pub(crate) partitions: Option<u16>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: None,
            cluster: Vec::new(),
            prefix: "ws-routes".into(),
            presence_ttl: Duration::from_secs(15),
            retention: Duration::from_secs(60),
            outbox_bytes: 16 << 20,
            max_message: 1 << 20,
            secret: None,
            partitions: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_never_printed() {
        let settings = RedisSettings {
            secret: Some(Secret::new(b"hunter2")),
            ..RedisSettings::default()
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
