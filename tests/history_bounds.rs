//! A room history's byte bound at its edge, over real sockets: a client that comes back with a
//! position is caught up exactly when the messages it missed still fit the bound, however many
//! messages have passed through the history before; and the route learns which it was
//! (`Recovery::is_complete`), to send a client that lost messages the room's state anew, and
//! tells a first connection (`Resume::is_empty`) from one coming back.

mod support;

use std::net::SocketAddr;

use ws_routes::rooms::{History, Resume};
use ws_routes::{Rooms, Server, State, WebSocket, route, routes};

use support::{connect, spawn_server, text};

/// Re-joins the room of its path from the position its client claims there; then welcomes a
/// first connection, or tells one coming back whether it has every message (else it would send
/// the room's state), and reads until the client goes.
#[route("/feed/{room}")]
async fn feed(mut ws: WebSocket, room: String, resume: Resume, State(rooms): State<Rooms>) {
    let recovery = rooms.join_since(&room, &ws.sender(), resume.since(&room));
    let verdict = match recovery {
        _ if resume.is_empty() => "welcome",
        Some(recovery) if !recovery.is_complete() => "the state, anew",
        _ => "caught up",
    };
    if ws.send(verdict).await.is_err() {
        return;
    }
    while let Some(Ok(_)) = ws.recv().await {}
}

/// A message in its envelope, as a member that joined with positions receives it:
/// `\x1e` EPOCH (8 hex digits) `.` OFFSET ` news\n` PAYLOAD, for offsets of one digit and
/// payloads of two bytes.
const ENVELOPED: usize = 1 + 8 + 1 + 1 + " news\n".len() + 2;
/// What a message costs in the history, as `History::max_bytes` documents it: its frame (a
/// two-byte header and the envelope) and 64 bytes of bookkeeping.
const COST: usize = 2 + ENVELOPED + 64;

/// What a client joining "news" is sent: the join's outcome (its status and position), the
/// payloads of the messages replayed to it, and what the route sent. The route writes at once,
/// so its message may come before the outcome and the replay, which wait in the queue.
async fn joining(ws: &mut WebSocket) -> (String, String, Vec<String>, String) {
    let (mut outcome, mut replayed, mut verdict) = (None, Vec::new(), None);
    loop {
        let message = text(ws).await;
        if let Some(told) = message.strip_prefix("\u{1e}!") {
            // STATUS REPLAYED EPOCH.OFFSET ROOM
            let fields: Vec<&str> = told.split(' ').collect();
            let count: usize = fields[1].parse().unwrap();
            outcome = Some((fields[0].to_owned(), fields[2].to_owned(), count));
        } else if message.starts_with('\u{1e}') {
            replayed.push(message.rsplit('\n').next().unwrap().to_owned());
        } else {
            verdict = Some(message);
        }
        if let (Some((status, position, count)), Some(verdict)) = (&outcome, &verdict)
            && replayed.len() == *count
        {
            return (status.clone(), position.clone(), replayed, verdict.clone());
        }
    }
}

/// What a client claiming `offset` in `epoch` is told and replayed, and what the route then
/// sent it.
async fn come_back(addr: SocketAddr, epoch: &str, offset: u64) -> (String, Vec<String>, String) {
    let mut ws = connect(addr, &format!("/feed/news?ws-resume={epoch}.{offset}.news")).await;
    let (status, _, replayed, verdict) = joining(&mut ws).await;
    (status, replayed, verdict)
}

#[tokio::test]
async fn a_history_holds_exactly_what_fits_its_byte_bound() {
    // Room for two messages, to the byte.
    let rooms = Rooms::builder()
        .history(History::new().max_bytes(2 * COST))
        .build()
        .unwrap();
    let addr = spawn_server(Server::new(routes![feed]).with_state(rooms.clone())).await;
    let mut member = connect(addr, "/feed/news").await;
    let (status, position, replayed, verdict) = joining(&mut member).await;
    assert_eq!(
        (status.as_str(), replayed.len(), verdict.as_str()),
        ("new", 0, "welcome")
    );
    let epoch = position.split('.').next().unwrap().to_owned();
    for n in 1..=5 {
        rooms.broadcast("news", format!("m{n}"));
        let message = text(&mut member).await;
        assert_eq!(
            message.len(),
            ENVELOPED,
            "the envelope this test counts on: {message:?}"
        );
    }

    // Missing the last two: they fit exactly, and are replayed.
    assert_eq!(
        come_back(addr, &epoch, 3).await,
        (
            "recovered".into(),
            vec!["m4".into(), "m5".into()],
            "caught up".into()
        )
    );
    // Missing three: the third left the history when the fifth came.
    assert_eq!(
        come_back(addr, &epoch, 2).await,
        ("too-old".into(), vec![], "the state, anew".into())
    );
}
