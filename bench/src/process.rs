//! Servers under test as child processes: started pinned to CPUs with `taskset`, found
//! through the `listening on ws://ADDR` line they print, measured through their own `/proc`
//! accounting, and killed when dropped.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::sys;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server under test; killed on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `program args... --addr 127.0.0.1:0` under `taskset -c CPUS` (a CPU list as the
    /// kernel writes it: `0`, `0-1`), with its standard error written to `log`, and waits for
    /// the address it prints.
    pub fn start(
        program: &Path,
        args: &[&OsStr],
        cpus: &str,
        log: &Path,
    ) -> io::Result<ServerProcess> {
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg(cpus)
            .arg(program)
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(log)?)
            .spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (line_sender, first_line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = line_sender.send(lines.next());
            // Keep draining, so that a chatty server never blocks on a full pipe.
            lines.for_each(drop);
        });
        let mut server = ServerProcess {
            child,
            // Replaced below; port 0 is never announced.
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let failed = |what: String| {
            io::Error::other(format!(
                "{} {what} (its standard error is in {})",
                program.display(),
                log.display()
            ))
        };
        let line = match first_line.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(Some(Err(error))) => return Err(failed(format!("printed no address: {error}"))),
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(failed("exited before printing its address".into()));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(failed(format!("printed no address in {START_TIMEOUT:?}")));
            }
        };
        server.addr = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("ws://")?.parse().ok())
            .ok_or_else(|| failed(format!("printed no ws:// address: {line:?}")))?;
        let allowed = sys::allowed_cpus(server.pid())?;
        if allowed != cpus {
            return Err(failed(format!("runs on CPUs {allowed}, not on {cpus}")));
        }
        Ok(server)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id (`taskset` execs the server, so it is the server's own).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The CPU time the server has used so far.
    pub fn cpu_time(&self) -> io::Result<Duration> {
        sys::process_cpu_time(self.pid())
    }

    /// The server's resident set size in bytes.
    pub fn rss(&self) -> io::Result<u64> {
        sys::process_rss(self.pid())
    }

    /// Fails when the server has exited.
    pub fn check_alive(&mut self) -> io::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(io::Error::other(format!("the server exited: {status}"))),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
