//! Connection limits: how many connections the server holds at once, in all and per client
//! address. A connection holds a [`Permit`] from accept to close.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::extract::Reject;
use crate::http::StatusCode;

#[derive(Debug)]
pub(crate) struct Limits {
    connections: Arc<AtomicUsize>,
    max: usize,
    per_ip: Option<usize>,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Limits {
    pub(crate) fn new(connections: Arc<AtomicUsize>, max: usize, per_ip: Option<usize>) -> Self {
        Limits {
            connections,
            max,
            per_ip,
            by_ip: Mutex::default(),
        }
    }

    /// A permit for one more connection from `ip`, or the HTTP refusal that says why not.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Reject> {
        let admitted =
            self.connections
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
                    (count < self.max).then_some(count + 1)
                });
        if admitted.is_err() {
            return Err(Reject::new(StatusCode::SERVICE_UNAVAILABLE).body("too many connections\n"));
        }
        if let Some(limit) = self.per_ip {
            let mut by_ip = self.by_ip.lock().unwrap_or_else(PoisonError::into_inner);
            let count = by_ip.entry(ip).or_default();
            if *count >= limit {
                drop(by_ip);
                self.connections.fetch_sub(1, Ordering::AcqRel);
                return Err(Reject::new(StatusCode::TOO_MANY_REQUESTS)
                    .body("too many connections from this address\n"));
            }
            *count += 1;
        }
        Ok(Permit {
            limits: Arc::clone(self),
            ip,
        })
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Permit {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.limits.per_ip.is_some() {
            let mut by_ip = self
                .limits
                .by_ip
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = by_ip.get_mut(&self.ip) {
                *count -= 1;
                if *count == 0 {
                    by_ip.remove(&self.ip);
                }
            }
        }
        self.limits.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
