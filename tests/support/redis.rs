//! A `redis-server` of the tests' own, on a free port.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of our own, killed when dropped.
pub struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts one on a free port, or `None` (skip) when the binary is missing.
    pub fn start() -> Option<Redis> {
        let port = free_port();
        match Self::spawn(port) {
            Ok(redis) => Some(redis),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                assert!(
                    std::env::var_os("WS_ROUTES_REQUIRE_REDIS").is_none(),
                    "redis-server is not installed; `scripts/test` installs it"
                );
                eprintln!("skipped: redis-server is not installed; run `scripts/test`");
                None
            }
            Err(error) => panic!("could not start redis-server: {error}"),
        }
    }

    fn spawn(port: u16) -> std::io::Result<Redis> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let redis = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a fresh, empty one on the same port.
    pub fn start_again(&mut self) {
        let fresh = Self::spawn(self.port).expect("restart redis-server");
        *self = fresh;
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (redis-server cannot be told to pick one itself).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}
