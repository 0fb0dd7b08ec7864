//! The floor of the fan-out benchmark: raw tokio-tungstenite for the handshakes, then a
//! broadcast that frames each message once and writes the same bytes to every member's socket
//! in one loop, with `try_write`. A socket that would block gets the rest queued, and its own
//! task writes it once the socket is writable; later broadcasts queue behind it.
//!
//! `/member` joins the room (the server answers `joined` once it is in), `/publish` broadcasts
//! every text it sends. One thread, like every server under test.
//!
//! With `--bare`, the floor is barer still: a member's socket is kept in a list and nothing
//! else happens to it, no task reads it (its end goes unnoticed) and nothing is queued for it;
//! a broadcast is one loop of `try_write` over the list. A write that the socket does not take
//! whole is lost, which the load generator sees as a missing delivery (a round that fails).
//!
//! ```text
//! cargo run --release -p bench --bin raw-fanout -- --addr 127.0.0.1:8765 [--bare]
//! ```

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_tungstenite::accept_hdr_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// Broadcast to every member by writing one framed message to each socket.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: bench::server::Args,
    /// Members' sockets in a list, no task each, no queue: a broadcast is one `try_write` loop.
    #[arg(long)]
    bare: bool,
}

/// A member's socket and what waits to be written to it.
struct Member {
    tcp: TcpStream,
    out: Mutex<Pending>,
    /// Tells the member's task that `out` has bytes for it.
    ready: Notify,
}

#[derive(Default)]
struct Pending {
    queue: VecDeque<Bytes>,
    /// The member's task owns the socket's writing until `queue` is empty.
    writing: bool,
}

impl Member {
    /// Writes `frame` at once if nothing waits and the socket takes it; queues the rest.
    /// `false` when the socket failed.
    fn offer(&self, frame: &Bytes) -> bool {
        let mut out = self.out.lock().expect("member lock");
        if out.writing {
            out.queue.push_back(frame.clone());
            return true;
        }
        let rest = match self.tcp.try_write(frame) {
            Ok(written) if written == frame.len() => return true,
            Ok(written) => frame.slice(written..),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => frame.clone(),
            Err(_) => return false,
        };
        out.queue.push_back(rest);
        out.writing = true;
        drop(out);
        self.ready.notify_one();
        true
    }

    /// Writes what is queued, until nothing is.
    async fn drain(&self) -> io::Result<()> {
        loop {
            let next = {
                let mut out = self.out.lock().expect("member lock");
                match out.queue.pop_front() {
                    Some(next) => next,
                    None => {
                        out.writing = false;
                        return Ok(());
                    }
                }
            };
            let mut rest = &next[..];
            while !rest.is_empty() {
                self.tcp.writable().await?;
                match self.tcp.try_write(rest) {
                    Ok(written) => rest = &rest[written..],
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => return Err(error),
                }
            }
        }
    }
}

#[derive(Default)]
struct Room {
    members: Mutex<HashMap<u64, Arc<Member>>>,
    next_id: AtomicU64,
    /// With `--bare`: the members' sockets, and nothing else.
    bare: Mutex<Vec<TcpStream>>,
}

impl Room {
    /// Frames `text` once and offers it to every member.
    fn broadcast(&self, text: &str) {
        let frame = frame(text);
        let mut members = self.members.lock().expect("room lock");
        members.retain(|_, member| member.offer(&frame));
        drop(members);
        for tcp in self.bare.lock().expect("room lock").iter() {
            let _ = tcp.try_write(&frame);
        }
    }
}

/// An unmasked final text frame, as a server writes it.
fn frame(text: &str) -> Bytes {
    let frame = Frame::message(
        Bytes::copy_from_slice(text.as_bytes()),
        OpCode::Data(Data::Text),
        true,
    );
    let mut bytes = Vec::with_capacity(frame.len());
    frame.format(&mut bytes).expect("writing to a Vec");
    bytes.into()
}

/// A member: in the room, told so, then its socket is only read (to see it end) and written
/// when a broadcast left bytes queued.
async fn member(room: Arc<Room>, tcp: TcpStream) {
    let member = Arc::new(Member {
        tcp,
        out: Mutex::default(),
        ready: Notify::new(),
    });
    let id = room.next_id.fetch_add(1, Ordering::Relaxed);
    room.members
        .lock()
        .expect("room lock")
        .insert(id, Arc::clone(&member));
    if member.offer(&frame("joined")) {
        let mut discard = [0; 512];
        loop {
            tokio::select! {
                () = member.ready.notified() => {
                    if member.drain().await.is_err() {
                        break;
                    }
                }
                readable = member.tcp.readable() => {
                    if readable.is_err() {
                        break;
                    }
                    match member.tcp.try_read(&mut discard) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                    }
                }
            }
        }
    }
    room.members.lock().expect("room lock").remove(&id);
}

async fn serve_connection(room: Arc<Room>, tcp: TcpStream, bare: bool) {
    let _ = tcp.set_nodelay(true);
    let mut path = String::new();
    // The signature is tungstenite's handshake `Callback`, large error type included.
    #[allow(clippy::result_large_err)]
    let route = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        match request.uri().path() {
            found @ ("/member" | "/publish") => {
                path = found.to_owned();
                Ok(response)
            }
            _ => {
                let mut refusal = ErrorResponse::new(Some("no route for this path\n".into()));
                *refusal.status_mut() = StatusCode::NOT_FOUND;
                Err(refusal)
            }
        }
    };
    let Ok(mut ws) = accept_hdr_async(tcp, route).await else {
        return;
    };
    if path == "/member" {
        // A member sends nothing after the handshake but its close, so nothing is buffered.
        let tcp = ws.into_inner();
        if bare {
            if tcp.try_write(&frame("joined")).is_ok() {
                room.bare.lock().expect("room lock").push(tcp);
            }
            return;
        }
        return member(room, tcp).await;
    }
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            room.broadcast(&text);
        }
    }
}

fn main() -> io::Result<()> {
    let cli = Cli::parse();
    bench::server::run(&cli.server, async {
        let listener = TcpListener::bind(&cli.server.addr).await?;
        bench::server::announce(listener.local_addr()?)?;
        let room = Arc::new(Room::default());
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    tokio::spawn(serve_connection(Arc::clone(&room), tcp, cli.bare));
                }
                // Out of file descriptors, say: wait for connections to end.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    })
}
