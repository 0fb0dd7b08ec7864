//! What the Rust servers under test share: their command line, a single-threaded runtime with
//! a raised open-file limit, and the line that tells `compare` where they listen.

use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;

use crate::sys;

/// The open-file limit every server asks for: room for the idle run's 10,000 connections.
const OPEN_FILES: u64 = 65_536;

/// The command line of a server under test.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: String,
}

/// Raises the open-file limit and runs `serve` to completion on a current-thread tokio
/// runtime: every Rust server under test runs on one thread, as it is pinned to one CPU.
pub fn run(serve: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    sys::raise_open_files(OPEN_FILES)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve)
}

/// Prints `listening on ws://ADDR`, the line `compare` waits for.
pub fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on ws://{addr}")?;
    stdout.flush()
}
