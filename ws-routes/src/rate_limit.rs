//! [`RateLimit`]: how much a client may send on one connection, set with
//! [`Server::rate_limit`](crate::Server::rate_limit), and the allowance each connection keeps.

use tokio::time::Instant;

use crate::metrics;

/// How much a client may send on one connection: messages a second and bytes a second, each
/// on average and in a burst (a token bucket each, full when the connection opens). Set with
/// [`Server::rate_limit`](crate::Server::rate_limit); default: none.
///
/// A client that sends past either limit is closed with 1008 (policy violation) and the reason
/// `rate limit exceeded`; the message that went over is not delivered, the handler's
/// [`recv`](crate::WebSocket::recv) returns [`Error::RateLimited`](crate::Error::RateLimited)
/// once, then `None`, and the `ws_routes_rate_limited_total` counter (feature `metrics`)
/// counts the connection. Only data messages count: pings, pongs and the close handshake do
/// not, and the bytes are the payload's, after decompression.
///
/// ```
/// use ws_routes::{route, routes, RateLimit, Server, WebSocket};
///
/// #[route("/chat")]
/// async fn chat(mut ws: WebSocket) {
///     while let Some(Ok(message)) = ws.recv().await {
///         let _ = ws.send(message).await;
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// // 5 messages a second and 64 KiB a second on average; 20 messages or 256 KiB at once.
/// let limit = RateLimit::new().messages(5, 20).bytes(64 << 10, 256 << 10);
/// let server = Server::new(routes![chat]).rate_limit(limit);
/// server.bind("127.0.0.1:8765").await?.run().await
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateLimit {
    messages: Option<Rate>,
    bytes: Option<Rate>,
}

/// One bucket's refill a second and size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rate {
    per_second: f64,
    burst: f64,
}

impl Rate {
    /// What a bucket holding `left`, last counted `elapsed` seconds ago, holds now.
    fn refill(self, left: f64, elapsed: f64) -> f64 {
        (left + elapsed * self.per_second).min(self.burst)
    }
}

impl RateLimit {
    /// No limit; add them with [`messages`](Self::messages) and [`bytes`](Self::bytes).
    pub fn new() -> Self {
        RateLimit::default()
    }

    /// At most `per_second` messages a second on average, and `burst` back to back (at least
    /// one).
    pub fn messages(mut self, per_second: u32, burst: u32) -> Self {
        self.messages = Some(Rate {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
        });
        self
    }

    /// At most `per_second` payload bytes a second on average, and `burst` back to back. A
    /// message larger than `burst` is always over the limit: keep `burst` at least the
    /// largest message a client may send
    /// ([`max_message_size`](crate::Server::max_message_size)).
    pub fn bytes(mut self, per_second: u64, burst: u64) -> Self {
        self.bytes = Some(Rate {
            // Exact up to 2^53 bytes, far past any rate.
            per_second: per_second as f64,
            burst: burst as f64,
        });
        self
    }
}

/// What a connection may still send now, by [`RateLimit`].
#[derive(Debug)]
pub(crate) struct Allowance {
    limit: RateLimit,
    messages: f64,
    bytes: f64,
    counted: Instant,
    /// The route's pattern, for the metric.
    route: &'static str,
}

impl Allowance {
    /// A full allowance for a connection on `route`; `None` when `limit` limits nothing.
    pub(crate) fn new(limit: RateLimit, route: &'static str) -> Option<Box<Self>> {
        if limit == RateLimit::default() {
            return None;
        }
        Some(Box::new(Allowance {
            limit,
            messages: limit.messages.map_or(0.0, |rate| rate.burst),
            bytes: limit.bytes.map_or(0.0, |rate| rate.burst),
            counted: Instant::now(),
            route,
        }))
    }

    /// Takes a message of `bytes` bytes out of the allowance; `false`, and counted in the
    /// metrics, when it is over the limit.
    pub(crate) fn take(&mut self, bytes: usize) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.counted).as_secs_f64();
        self.counted = now;
        if let Some(rate) = self.limit.messages {
            self.messages = rate.refill(self.messages, elapsed);
        }
        if let Some(rate) = self.limit.bytes {
            self.bytes = rate.refill(self.bytes, elapsed);
        }
        let bytes = bytes as f64;
        let over = (self.limit.messages.is_some() && self.messages < 1.0)
            || (self.limit.bytes.is_some() && self.bytes < bytes);
        if over {
            metrics::rate_limited(self.route);
            return false;
        }
        self.messages -= 1.0;
        self.bytes -= bytes;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn no_limit_keeps_no_allowance() {
        assert!(Allowance::new(RateLimit::new(), "/").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_the_next_message_waits_for_the_refill() {
        let mut allowance = Allowance::new(RateLimit::new().messages(5, 3), "/").unwrap();
        assert!((0..3).all(|_| allowance.take(10)));
        assert!(!allowance.take(10));
        // One message's worth comes back in a fifth of a second, and no more than the burst.
        tokio::time::advance(Duration::from_millis(199)).await;
        assert!(!allowance.take(10));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(allowance.take(10));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!((0..3).all(|_| allowance.take(10)));
        assert!(!allowance.take(10));
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_count_apart_from_messages() {
        let limit = RateLimit::new().messages(1000, 1000).bytes(100, 250);
        let mut allowance = Allowance::new(limit, "/").unwrap();
        assert!(allowance.take(200));
        assert!(!allowance.take(51), "50 bytes left");
        assert!(allowance.take(50));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(allowance.take(100));
        assert!(!allowance.take(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_over_the_byte_burst_never_passes() {
        let mut allowance = Allowance::new(RateLimit::new().bytes(1000, 100), "/").unwrap();
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!allowance.take(101));
        assert!(allowance.take(100));
    }
}
