//! A local Redis Cluster of the tests' own: `redis-server` processes in cluster mode on free
//! ports, joined with `redis-cli --cluster create`, torn down when dropped; killing the master
//! of a slot and waiting for its replica to take over; moving a slot to another master.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis::{free_node_port, free_port};

/// One node: its process and port.
struct Node {
    child: Option<Child>,
    port: u16,
}

/// A cluster of `masters` masters with `replicas` replicas each.
pub struct Cluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

impl Cluster {
    /// Starts the nodes and creates the cluster; fails the test, saying so, when
    /// `redis-server` or `redis-cli` is missing.
    pub fn start(masters: usize, replicas: usize) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "ws-routes-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..masters * (1 + replicas) {
            let port = free_node_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                // A replica may take over however long ago it heard from its master.
                .args(["--cluster-replica-validity-factor", "0"])
                .arg("--cluster-config-file")
                .arg(cluster.dir.join(format!("nodes-{port}.conf")))
                .arg("--dir")
                .arg(&cluster.dir)
                .args(["--save", "", "--appendonly", "no"])
                // A replica's first sync starts at once, not after the 5 s Redis waits by
                // default for other replicas to share it: a cluster with replicas is ready
                // that much sooner, with that much more slack on a loaded machine.
                .args(["--repl-diskless-sync-delay", "0"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| {
                    panic!("could not start redis-server ({error}); `scripts/test` installs it")
                });
            cluster.nodes.push(Node {
                child: Some(child),
                port,
            });
        }
        for node in &cluster.nodes {
            wait("a node answers", || {
                cluster
                    .cli(node.port, &["PING"])
                    .is_some_and(|reply| reply == "PONG")
            });
        }
        let mut create = vec!["--cluster".to_owned(), "create".to_owned()];
        create.extend(
            cluster
                .nodes
                .iter()
                .map(|node| format!("127.0.0.1:{}", node.port)),
        );
        create.extend(["--cluster-replicas".into(), replicas.to_string()]);
        create.push("--cluster-yes".into());
        let mut creating = Command::new("redis-cli")
            .args(&create)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-cli --cluster create");
        // It waits for the nodes to meet without a deadline of its own.
        let mut created = None;
        wait("redis-cli --cluster create finishes", || {
            created = creating.try_wait().expect("wait for redis-cli");
            created.is_some()
        });
        assert!(
            created.is_some_and(|status| status.success()),
            "redis-cli --cluster create failed"
        );
        for node in &cluster.nodes {
            wait("the cluster is up on every node", || {
                cluster
                    .cli(node.port, &["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
            });
        }
        // Replicas in sync with their masters, so that a failover finds one ready.
        for (port, _) in cluster.masters() {
            wait("every replica is in sync", || {
                cluster
                    .cli(port, &["INFO", "replication"])
                    .is_some_and(|info| info.matches("state=online").count() == replicas)
            });
        }
        cluster
    }

    /// A URL per node, as seeds.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .map(|node| format!("redis://127.0.0.1:{}/", node.port))
            .collect()
    }

    /// Runs `redis-cli -p PORT ARGS...` and gives its output, `None` when it failed.
    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let output = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// A live node's port, to ask.
    fn any(&self) -> u16 {
        self.nodes
            .iter()
            .find(|node| node.child.is_some())
            .expect("a live node")
            .port
    }

    /// The slot of `key`.
    pub fn slot(&self, key: &str) -> u16 {
        self.cli(self.any(), &["CLUSTER", "KEYSLOT", key])
            .and_then(|slot| slot.parse().ok())
            .expect("CLUSTER KEYSLOT")
    }

    /// The lines of `CLUSTER NODES`: id, address, flags, ..., slots.
    fn nodes(&self) -> Vec<Vec<String>> {
        self.cli(self.any(), &["CLUSTER", "NODES"])
            .unwrap_or_default()
            .lines()
            .map(|line| line.split(' ').map(str::to_owned).collect())
            .collect()
    }

    /// The port and id of the master that serves `slot`.
    pub fn master_of(&self, slot: u16) -> (u16, String) {
        self.serving(slot)
            .unwrap_or_else(|| panic!("no master serves slot {slot}: {:?}", self.nodes()))
    }

    /// The port and id of the master that serves `slot`, if one does.
    fn serving(&self, slot: u16) -> Option<(u16, String)> {
        for fields in self.nodes() {
            let serves = fields
                .iter()
                .skip(8)
                .any(|range| match range.split_once('-') {
                    Some((start, end)) => {
                        start.parse().is_ok_and(|start: u16| start <= slot)
                            && end.parse().is_ok_and(|end: u16| slot <= end)
                    }
                    None => range.parse() == Ok(slot),
                });
            if serves && fields[2].contains("master") && !fields[2].contains("fail") {
                return Some((port_of(&fields[1]), fields[0].clone()));
            }
        }
        None
    }

    /// The ports of the masters.
    pub fn masters(&self) -> Vec<(u16, String)> {
        self.nodes()
            .into_iter()
            .filter(|fields| fields[2].contains("master") && !fields[2].contains("fail"))
            .map(|fields| (port_of(&fields[1]), fields[0].clone()))
            .collect()
    }

    /// Kills (SIGKILL) the master of `slot`, and waits until another node serves it.
    pub fn kill_master_of(&mut self, slot: u16) {
        let (port, _) = self.master_of(slot);
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .expect("the master is ours");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        wait("a replica takes over the slot", || {
            let (new, _) = self.serving(slot).unwrap_or((port, String::new()));
            new != port
                && self
                    .cli(new, &["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
        });
    }

    /// Moves `slot`, with its keys, from its master to the master on `to`.
    pub fn move_slot(&self, slot: u16, to: u16) {
        let (from, from_id) = self.master_of(slot);
        let to_id = self
            .masters()
            .into_iter()
            .find(|(port, _)| *port == to)
            .expect("a master on that port")
            .1;
        let slot = slot.to_string();
        let ok = |reply: Option<String>| assert_eq!(reply.as_deref(), Some("OK"));
        ok(self.cli(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]));
        ok(self.cli(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]));
        loop {
            let keys = self
                .cli(from, &["CLUSTER", "GETKEYSINSLOT", &slot, "100"])
                .unwrap_or_default();
            let keys: Vec<&str> = keys.lines().filter(|key| !key.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let to_port = to.to_string();
            let mut migrate = vec!["MIGRATE", "127.0.0.1", &to_port, "", "0", "5000", "KEYS"];
            migrate.extend(keys);
            self.cli(from, &migrate).expect("MIGRATE");
        }
        for (port, _) in self.masters() {
            ok(self.cli(port, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The port of an address of `CLUSTER NODES` (`IP:PORT@BUSPORT`).
fn port_of(address: &str) -> u16 {
    address
        .split(['@', ':'])
        .nth(1)
        .and_then(|port| port.parse().ok())
        .expect("an address")
}

/// Waits up to twenty seconds for `condition`.
fn wait(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
