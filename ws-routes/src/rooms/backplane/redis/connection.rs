//! Where the backplane's commands go: one Redis, or a Redis Cluster.
//!
//! On a cluster, the publisher and presence go through one cluster connection, which routes
//! each command (and each pipeline: their keys share a slot) to the master of its slot and
//! follows the cluster's redirections and failovers. A reader blocks in `XREAD` on one stream:
//! it has a plain connection of its own to the master of that stream's slot, found by
//! following the `MOVED` a seed answers with.

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Pipeline,
    RedisFuture, Value,
};

use super::shared::REDIS_TIMEOUT;
use crate::error::BackplaneError;

/// A connection for commands to any key.
#[derive(Clone)]
pub(super) enum Connection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(connection) => connection.req_packed_commands(cmd, offset, count),
            Connection::Cluster(connection) => connection.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
        }
    }
}

/// One Redis, or the seeds of a cluster.
pub(super) enum Target {
    Single(redis::Client),
    Cluster {
        client: ClusterClient,
        /// The seed nodes, whose settings (credentials, TLS) a reader's connection to another
        /// node takes.
        seeds: Vec<ConnectionInfo>,
    },
}

impl Target {
    /// One Redis at `url`.
    pub(super) fn single(url: &str) -> Result<Self, BackplaneError> {
        redis::Client::open(url)
            .map(Target::Single)
            .map_err(|error| BackplaneError::InvalidUrl(Box::new(error)))
    }

    /// The cluster that `urls` (some of its nodes) belong to.
    pub(super) fn cluster(urls: &[String]) -> Result<Self, BackplaneError> {
        let invalid = |error: redis::RedisError| BackplaneError::InvalidUrl(Box::new(error));
        let seeds = urls
            .iter()
            .map(|url| url.as_str().into_connection_info())
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let client = ClusterClient::builder(seeds.clone())
            .connection_timeout(REDIS_TIMEOUT)
            .response_timeout(REDIS_TIMEOUT)
            .build()
            .map_err(invalid)?;
        Ok(Target::Cluster { client, seeds })
    }

    /// Whether it is a cluster.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Target::Cluster { .. })
    }

    /// A connection for commands to any key, whose replies may take `response_timeout`.
    pub(super) async fn connect(
        &self,
        response_timeout: Duration,
    ) -> redis::RedisResult<Connection> {
        match self {
            Target::Single(client) => {
                let config = config(response_timeout);
                let connection = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(Connection::Single(connection))
            }
            Target::Cluster { client, .. } => {
                Ok(Connection::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// A connection of its own for a reader: to `node` (`host:port`) when a redirection
    /// named it, else to one of the seeds, taken in turn by `attempt`.
    pub(super) async fn connect_reader(
        &self,
        node: Option<&str>,
        attempt: usize,
        response_timeout: Duration,
    ) -> redis::RedisResult<MultiplexedConnection> {
        let config = config(response_timeout);
        let client = match self {
            Target::Single(client) => {
                return client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await;
            }
            Target::Cluster { seeds, .. } => {
                let seed = &seeds[attempt % seeds.len()];
                let info = match node.and_then(|node| at_node(seed, node)) {
                    Some(info) => info,
                    None => seed.clone(),
                };
                redis::Client::open(info)?
            }
        };
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }
}

fn config(response_timeout: Duration) -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(response_timeout))
}

/// `seed`'s settings, at `node` (`host:port`).
fn at_node(seed: &ConnectionInfo, node: &str) -> Option<ConnectionInfo> {
    let (host, port) = node.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addr = match seed.addr() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host,
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(host, port),
    };
    Some(seed.clone().set_addr(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_goes_to_the_node_it_is_sent_to_with_the_seed_s_settings() {
        let seed = "redis://:secret@10.0.0.1:7000/"
            .into_connection_info()
            .unwrap();
        let node = at_node(&seed, "10.0.0.2:7001").unwrap();
        assert_eq!(node.addr(), &ConnectionAddr::Tcp("10.0.0.2".into(), 7001));
        assert_eq!(node.redis_settings().password(), Some("secret"));
        assert!(at_node(&seed, "nonsense").is_none());
    }
}
