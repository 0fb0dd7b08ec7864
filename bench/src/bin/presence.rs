//! What presence and per-user sends cost, in-process rooms, over real sockets on 127.0.0.1:
//! a join with a presence entry and its leave (`Rooms::track` then `Rooms::leave`) against a
//! plain `join` and `leave`, with and without a subscriber watching the room; and a message
//! to one user (`Rooms::to_user`) against a broadcast to a room of the same one connection,
//! timed until every client has read every message.
//!
//! ```text
//! cargo run --release -p bench --bin presence -- --members 1000 --rounds 20
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::mpsc;
use ws_routes::{Rooms, Sender, Server, State, WebSocket, route, routes};

#[derive(Parser)]
#[command(about = "What presence and per-user sends cost, against plain joins and broadcasts")]
struct Cli {
    /// Connections, each its own user and its own room.
    #[arg(long, default_value_t = 1000)]
    members: usize,
    /// Rounds of each measure.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
}

/// Binds the connection to the user its path names and joins that user's room, then hands
/// its sender to the driver.
#[route("/member/{user}")]
async fn member(
    mut ws: WebSocket,
    user: String,
    State(state): State<(Rooms, mpsc::UnboundedSender<Sender>)>,
) {
    let (rooms, senders) = state;
    let me = ws.sender();
    rooms.bind_user(&me, &user);
    rooms.join(&format!("room-{user}"), &me);
    let _ = senders.send(me);
    while let Some(Ok(_)) = ws.recv().await {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let rooms = Rooms::new();
    let (senders, mut held) = mpsc::unbounded_channel();
    let server = Server::new(routes![member])
        .with_state((rooms.clone(), senders))
        .bind("127.0.0.1:0")
        .await?;
    let addr = server.local_addr()?;
    tokio::spawn(server.run());

    let received = Arc::new(AtomicUsize::new(0));
    let mut members = Vec::with_capacity(cli.members);
    for user in 0..cli.members {
        let mut ws = ws_routes::connect(&format!("ws://{addr}/member/{user}")).await?;
        members.push(held.recv().await.ok_or("the server stopped")?);
        let received = Arc::clone(&received);
        tokio::spawn(async move {
            while let Some(Ok(_)) = ws.recv().await {
                received.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    println!(
        "presence and per-user sends, {} connections, {} rounds, in-process rooms",
        cli.members, cli.rounds
    );

    let plain = per_op(cli.rounds, &members, |member, _| {
        rooms.join("lobby", member);
        rooms.leave("lobby", member);
    });
    let tracked = per_op(cli.rounds, &members, |member, i| {
        let _ = rooms.track("lobby", member, &format!("user-{i}"), &("web", i));
        rooms.leave("lobby", member);
    });
    let mut events = rooms.presence_events("lobby");
    events.next().await;
    let watched = per_op(cli.rounds, &members, |member, i| {
        let _ = rooms.track("lobby", member, &format!("user-{i}"), &("web", i));
        rooms.leave("lobby", member);
    });
    drop(events);
    println!("| join + leave | ns per pair | ratio |");
    println!("|---|---|---|");
    for (name, ns) in [
        ("join, leave", plain),
        ("track, leave", tracked),
        ("track, leave, room watched (its reads come after)", watched),
    ] {
        println!("| {name} | {ns:.0} | {:.2}x |", ns / plain);
    }

    let total = cli.members * cli.rounds;
    let broadcast = delivered(&received, total, || {
        for _ in 0..cli.rounds {
            for user in 0..cli.members {
                rooms.broadcast(&format!("room-{user}"), "hello");
            }
        }
    })
    .await?;
    let to_user = delivered(&received, total, || {
        for _ in 0..cli.rounds {
            for user in 0..cli.members {
                rooms.to_user(&user.to_string(), "hello");
            }
        }
    })
    .await?;
    println!();
    println!("| one message to one connection | us per delivery, sent to read | ratio |");
    println!("|---|---|---|");
    for (name, per) in [("broadcast to its room", broadcast), ("to_user", to_user)] {
        let us = per.as_secs_f64() * 1e6;
        println!(
            "| {name} | {us:.2} | {:.2}x |",
            per.as_secs_f64() / broadcast.as_secs_f64()
        );
    }
    Ok(())
}

/// Nanoseconds per call of `op`, over every member, `rounds` times.
fn per_op(rounds: usize, members: &[Sender], mut op: impl FnMut(&Sender, usize)) -> f64 {
    let started = Instant::now();
    for _ in 0..rounds {
        for (i, member) in members.iter().enumerate() {
            op(member, i);
        }
    }
    started.elapsed().as_nanos() as f64 / (rounds * members.len()) as f64
}

/// The time per delivery of what `send` sends, until the clients have read `count` more
/// messages.
async fn delivered(
    received: &AtomicUsize,
    count: usize,
    send: impl FnOnce(),
) -> Result<Duration, Box<dyn std::error::Error>> {
    let target = received.load(Ordering::Relaxed) + count;
    let started = Instant::now();
    send();
    while received.load(Ordering::Relaxed) < target {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("not every message arrived within 60 s".into());
        }
        tokio::task::yield_now().await;
    }
    Ok(started.elapsed() / u32::try_from(count)?)
}
