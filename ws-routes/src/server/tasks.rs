//! The tasks of a bound server's connections: each spawned on its own, so that one ending
//! costs the accept loop nothing (a `JoinSet` would wake it to collect every task that ends),
//! counted, waited for at shutdown, and cancelled together once the grace period is over or
//! the accept loop is dropped.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt;
use slab::Slab;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// The running tasks. Only its owner, the accept loop, spawns them; each removes itself from
/// here when it ends or is cancelled.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each running task's handle, once `spawn` has stored it.
    running: Mutex<Slab<Option<AbortHandle>>>,
    /// Told when the last running task ends.
    none_left: Notify,
}

impl Inner {
    fn running(&self) -> MutexGuard<'_, Slab<Option<AbortHandle>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Held by a task for as long as it exists: dropping it, as the task ends or is cancelled,
/// takes the task off the list.
struct Running {
    inner: Arc<Inner>,
    key: usize,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self.inner.running();
        running.try_remove(self.key);
        if running.is_empty() {
            drop(running);
            self.inner.none_left.notify_one();
        }
    }
}

impl Tasks {
    /// Spawns `task` on the current runtime.
    ///
    /// The lock is not held while spawning: a runtime that is shutting down drops a task it
    /// is given at once, and the task's `Running` takes the lock. Its place is taken first,
    /// and its handle stored after, unless it has ended already: `&mut self` makes this the
    /// only spawner, so a place the task left stays empty until then.
    pub(crate) fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        let key = self.inner.running().insert(None);
        let running = Running {
            inner: Arc::clone(&self.inner),
            key,
        };
        // `map`, not an `async` block: a block would keep `task` twice, as it was given and
        // as it is awaited, for as long as the connection lasts.
        let handle = tokio::spawn(task.map(move |()| drop(running)));
        if let Some(place) = self.inner.running().get_mut(key) {
            *place = Some(handle.abort_handle());
        }
    }

    /// How many tasks are running.
    pub(crate) fn len(&self) -> usize {
        self.inner.running().len()
    }

    /// Completes once no task is running.
    pub(crate) async fn all_ended(&self) {
        // A task that ends between the check and the wait leaves its notification behind
        // (`notify_one`), and the next check sees it gone.
        while self.len() > 0 {
            self.inner.none_left.notified().await;
        }
    }

    /// Cancels every running task: each is dropped where it waits, the next time its runtime
    /// gets to it.
    pub(crate) fn abort_all(&self) {
        let handles: Vec<AbortHandle> = self
            .inner
            .running()
            .iter()
            .filter_map(|(_, handle)| handle.clone())
            .collect();
        for handle in handles {
            handle.abort();
        }
    }
}

/// Dropping them, as dropping (or aborting) the accept loop's future does, cancels every
/// connection: a server that is gone leaves none behind.
impl Drop for Tasks {
    fn drop(&mut self) {
        self.abort_all();
    }
}
