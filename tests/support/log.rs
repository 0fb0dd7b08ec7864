//! What the server logs, captured for a test to read: on this thread, or in the whole
//! process.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// The log lines written so far, as `tracing`'s plain-text formatter writes them.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// Captures what this thread logs while the guard lives (on a current-thread runtime,
    /// every connection task runs on it too).
    pub fn capture_here() -> (Log, tracing::subscriber::DefaultGuard) {
        let log = Log::default();
        let guard = tracing::subscriber::set_default(log.subscriber());
        (log, guard)
    }

    /// Captures what the whole process logs (tasks on any thread), from the first call on:
    /// the same log for every test of the binary.
    pub fn capture_everywhere() -> Log {
        static LOG: OnceLock<Log> = OnceLock::new();
        LOG.get_or_init(|| {
            let log = Log::default();
            tracing::subscriber::set_global_default(log.subscriber())
                .expect("no other global subscriber");
            log
        })
        .clone()
    }

    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let log = self.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || log.clone())
            .finish()
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
