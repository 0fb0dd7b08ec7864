//! What the examples share.

use tracing_subscriber::EnvFilter;

/// Logs to standard error at `info` (or as `RUST_LOG` says), keeping standard output for the
/// line that says where the example listens.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}
