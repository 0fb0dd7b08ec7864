//! Connection limits: how many connections the server holds at once, in all and per client
//! (an IPv4 address, or an IPv6 network of a configurable prefix). A connection holds a
//! [`Permit`] from accept to close.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::extract::Reject;
use crate::http::StatusCode;

#[derive(Debug)]
pub(crate) struct Limits {
    connections: Arc<AtomicUsize>,
    /// Told when the last connection closes.
    idle: Arc<Notify>,
    max: usize,
    per_ip: Option<usize>,
    ipv6_prefix: u8,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Limits {
    pub(crate) fn new(
        connections: Arc<AtomicUsize>,
        idle: Arc<Notify>,
        max: usize,
        per_ip: Option<usize>,
        ipv6_prefix: u8,
    ) -> Self {
        Limits {
            connections,
            idle,
            max,
            per_ip,
            ipv6_prefix,
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
        let ip = client(ip, self.ipv6_prefix);
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
        if self.limits.connections.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.limits.idle.notify_waiters();
        }
    }
}

/// The client an address counts for: IPv4-mapped IPv6 addresses as their IPv4 address, other
/// IPv6 addresses as their network of `prefix` bits.
fn client(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::client;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        assert_eq!(client(ip("::ffff:192.0.2.7"), 64), ip("192.0.2.7"));
        assert_eq!(client(ip("192.0.2.7"), 64), ip("192.0.2.7"));
    }

    #[test]
    fn ipv6_addresses_count_by_their_prefix() {
        assert_eq!(client(ip("2001:db8:1:2:aaaa::1"), 64), ip("2001:db8:1:2::"));
        assert_eq!(
            client(ip("2001:db8:1:2:aaaa::1"), 64),
            client(ip("2001:db8:1:2:bbbb::9"), 64)
        );
        assert_ne!(
            client(ip("2001:db8:1:2::1"), 64),
            client(ip("2001:db8:1:3::1"), 64)
        );
        assert_eq!(client(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(client(ip("2001:db8::1"), 0), ip("::"));
    }
}
