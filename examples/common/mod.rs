//! What the examples share.

use std::fmt::Display;
use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

/// Logs to standard error at `info` (or as `RUST_LOG` says), keeping standard output for the
/// line that says where the example listens; colours only when standard error is a terminal.
#[allow(dead_code, reason = "the Autobahn client logs nothing")]
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The exit status of an example's run: on an error, says it on standard error with its
/// `Display` text (the one written for people) and fails.
pub fn exit_status<E: Display>(example: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{example}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The origins of the pages a server at `addr` serves itself: `http://ADDR`, and
/// `http://localhost:PORT` for a loopback address. A page from anywhere else (any site the
/// visitor has open) may not use its WebSockets.
#[allow(dead_code, reason = "only the examples that serve pages use it")]
pub fn own_origins(addr: std::net::SocketAddr) -> Vec<String> {
    let mut origins = vec![format!("http://{addr}")];
    if addr.ip().is_loopback() {
        origins.push(format!("http://localhost:{}", addr.port()));
    }
    origins
}
