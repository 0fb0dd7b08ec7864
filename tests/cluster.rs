//! Rooms shared through a real local Redis Cluster (`RoomsBuilder::redis_cluster`), started
//! here: broadcasts cross between servers for rooms on every master; a server reads only its
//! rooms' partitions; a master killed mid-stream fails over to its replica with what was lost
//! counted; a slot moved to another master is followed.
//!
//! They need `redis-server` and `redis-cli`: `#[ignore]`d, and run by `scripts/test`.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use ws_routes::rooms::RoomsBuilder;
use ws_routes::{Rooms, Server, WebSocket, routes};

use support::cluster::Cluster;
use support::redis::{connected, reading, stats, wait_until};
use support::rooms::member;
use support::{spawn_server, text};

const PARTITIONS: u16 = 16;

fn builder(cluster: &Cluster) -> RoomsBuilder {
    Rooms::builder()
        .redis_cluster(cluster.urls())
        .redis_prefix("cl")
        .redis_partitions(PARTITIONS)
        .presence_ttl(Duration::from_secs(3))
}

async fn server(cluster: &Cluster) -> (SocketAddr, Rooms) {
    let rooms = builder(cluster).build().expect("valid seed URLs");
    connected(&rooms).await;
    let addr = spawn_server(Server::new(routes![member]).with_state(rooms.clone())).await;
    (addr, rooms)
}

async fn join(addr: SocketAddr, room: &str) -> WebSocket {
    support::rooms::join(addr, &format!("/room/{room}")).await
}

fn partition(room: &str) -> u16 {
    support::redis::partition(room, PARTITIONS)
}

/// The key of a room's stream (without history: an interest stream).
fn stream_key(room: &str) -> String {
    format!("{{cl:i{}}}:stream", partition(room))
}

/// One room per partition.
fn a_room_per_partition() -> Vec<String> {
    let mut seen = HashSet::new();
    (0..)
        .map(|i| format!("room-{i}"))
        .filter(|room| seen.insert(partition(room)))
        .take(usize::from(PARTITIONS))
        .collect()
}

/// The next text, within twenty seconds (a failover takes a few).
async fn next_text(ws: &mut WebSocket) -> String {
    tokio::time::timeout(Duration::from_secs(20), text(ws))
        .await
        .expect("a message within twenty seconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server and redis-cli: `scripts/test` installs them and runs this"]
async fn rooms_on_every_master_cross_between_servers() {
    let cluster = Cluster::start(3, 0);
    let (addr_a, rooms_a) = server(&cluster).await;
    let (addr_b, rooms_b) = server(&cluster).await;
    let rooms = a_room_per_partition();
    let masters: HashSet<u16> = rooms
        .iter()
        .map(|room| cluster.master_of(cluster.slot(&stream_key(room))).0)
        .collect();
    assert_eq!(masters.len(), 3, "the partitions spread over every master");

    let mut members = Vec::new();
    for room in &rooms {
        members.push(join(addr_b, room).await);
    }
    // The shared streams, and one interest stream per room.
    reading(&rooms_b, 2 * usize::from(PARTITIONS)).await;
    for room in &rooms {
        rooms_a.broadcast(room, format!("to {room}"));
    }
    for (room, ws) in rooms.iter().zip(&mut members) {
        assert_eq!(next_text(ws).await, format!("to {room}"));
    }
    // Back the other way, to everyone, and presence on the cluster too.
    let mut on_a = join(addr_a, &rooms[0]).await;
    members[0].send("from b").await.unwrap();
    assert_eq!(next_text(&mut on_a).await, "from b");
    rooms_b.broadcast_all("everyone");
    assert_eq!(next_text(&mut on_a).await, "everyone");
    assert_eq!(rooms_a.count(&rooms[0]).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server and redis-cli: `scripts/test` installs them and runs this"]
async fn a_server_reads_only_its_rooms_partitions_on_the_cluster() {
    let cluster = Cluster::start(3, 0);
    let (addr_a, rooms_a) = server(&cluster).await;
    let (_, rooms_b) = server(&cluster).await;
    let mut mine = join(addr_a, "room-7").await;
    reading(&rooms_a, usize::from(PARTITIONS) + 1).await;
    let before = stats(&rooms_a).read;
    let rooms: Vec<String> = (0..300).map(|i| format!("room-{i}")).collect();
    for room in &rooms {
        rooms_b.broadcast(room, "tick");
    }
    let expected = rooms
        .iter()
        .filter(|room| partition(room) == partition("room-7"))
        .count() as u64;
    assert_eq!(next_text(&mut mine).await, "tick");
    wait_until("A read its partition", Duration::from_secs(20), || async {
        stats(&rooms_a).read - before >= expected
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stats(&rooms_a).read - before, expected);
}

/// Broadcasts `from..to` to `room`, one every two milliseconds.
async fn publish(rooms: &Rooms, room: &str, numbers: std::ops::Range<u64>) {
    for n in numbers {
        rooms.broadcast(room, n.to_string());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server and redis-cli: `scripts/test` installs them and runs this"]
async fn a_master_fails_over_and_every_loss_is_counted() {
    let mut cluster = Cluster::start(3, 1);
    let (_, rooms_a) = server(&cluster).await;
    let (addr_b, rooms_b) = server(&cluster).await;
    let room = "failing";
    let mut ws = join(addr_b, room).await;
    // The shared streams, and the room's.
    reading(&rooms_b, usize::from(PARTITIONS) + 1).await;
    rooms_a.broadcast(room, "0");
    assert_eq!(next_text(&mut ws).await, "0");

    // Broadcasts go on while the master of the room's stream is killed and its replica takes
    // over; then more, after.
    let before = tokio::spawn({
        let rooms_a = rooms_a.clone();
        async move { publish(&rooms_a, room, 1..500).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let slot = cluster.slot(&stream_key(room));
    tokio::task::block_in_place(|| cluster.kill_master_of(slot));
    before.await.unwrap();
    publish(&rooms_a, room, 500..600).await;

    // Every broadcast made after the failover arrives; what went missing is counted.
    let mut received = HashSet::new();
    while !received.contains(&599) {
        let n: u64 = next_text(&mut ws).await.parse().unwrap();
        assert!(received.insert(n), "{n} arrived twice");
    }
    for n in 500..600 {
        assert!(
            received.contains(&n),
            "{n}, sent after the failover, is missing"
        );
    }
    let missing = 599 - received.len() as u64;
    println!(
        "failover: {missing} of 599 broadcasts lost, {:?}",
        stats(&rooms_b)
    );
    // Every reader finds its stream's master again, the promoted replica included.
    wait_until("B is connected again", Duration::from_secs(20), || async {
        stats(&rooms_b).connected
    })
    .await;
    wait_until("B counted every loss", Duration::from_secs(20), || async {
        stats(&rooms_b).lost == missing
    })
    .await;
    assert!(stats(&rooms_a).published >= 599);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server and redis-cli: `scripts/test` installs them and runs this"]
async fn a_slot_moved_to_another_master_is_followed() {
    let cluster = Cluster::start(3, 0);
    let (_, rooms_a) = server(&cluster).await;
    let (addr_b, rooms_b) = server(&cluster).await;
    let room = "moving";
    let mut ws = join(addr_b, room).await;
    // The shared streams, and the room's.
    reading(&rooms_b, usize::from(PARTITIONS) + 1).await;
    publish(&rooms_a, room, 0..50).await;
    let slot = cluster.slot(&stream_key(room));
    let (from, _) = cluster.master_of(slot);
    let (to, _) = cluster
        .masters()
        .into_iter()
        .find(|(port, _)| *port != from)
        .expect("another master");
    tokio::task::block_in_place(|| cluster.move_slot(slot, to));
    assert_eq!(cluster.master_of(slot).0, to);
    publish(&rooms_a, room, 50..100).await;
    for n in 0..100 {
        assert_eq!(next_text(&mut ws).await, n.to_string());
    }
    assert_eq!(stats(&rooms_b).lost, 0);
}
