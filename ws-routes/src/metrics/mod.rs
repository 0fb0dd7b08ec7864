//! Metrics on the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): every
//! figure the server, the rooms and the Redis backplane record, in this one module.
//!
//! Nothing is recorded unless the application installs a recorder (such as
//! `metrics-exporter-prometheus`); without one, each call below is a branch on an empty
//! handle. Without the feature, every type here is empty and every function does nothing, so
//! the call sites need no `cfg`. Labels name the route pattern (`route="/echo/{room}"`), never a
//! parameter's value or a room's name, so that the number of series stays that of the table;
//! a connection to a path that matches no route is labelled `route="unmatched"` (no pattern
//! can be that: patterns start with `/`). A connection's labels are built once, when it
//! opens: a message costs two additions on handles it holds.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `ws_routes_connections_active` | gauge | `route` | WebSocket connections open now |
//! | `ws_routes_handshakes_total` | counter | `outcome` (`accepted`, `refused`, `failed`, `timed_out`), and `status` when refused | opening handshakes by how they ended: `refused` is any HTTP refusal (the limits' 503 and 429, 403 for an origin, an `accept` hook's `Reject`, 426, 400...), `failed` a connection that broke or spoke garbage before an answer, `timed_out` one over the handshake timeout (mounted, answered 408) |
//! | `ws_routes_handshake_duration_seconds` | histogram | `route` | from the first byte (TLS included) to the `101`; mounted, from the request to the `101` |
//! | `ws_routes_connection_duration_seconds` | histogram | `route`, `code` | from the `101` to the end of the close handshake, by the close code this side sent (its own or the client's echoed; `none` when the connection ended without one) |
//! | `ws_routes_close_codes_sent_total` | counter | `route`, `code` | close frames sent, by code |
//! | `ws_routes_messages_received_total`, `ws_routes_messages_sent_total` | counter | `route` | text and binary messages (pings, pongs and close frames are not counted); sent ones are those the connection writes itself, so a broadcast the broadcasting task wrote straight to an idle member's socket counts in `ws_routes_broadcast_recipients_total` only |
//! | `ws_routes_received_bytes_total`, `ws_routes_sent_bytes_total` | counter | `route` | their payload bytes, before framing and compression |
//! | `ws_routes_rate_limited_total` | counter | `route` | connections closed with 1008 for sending past the server's [`RateLimit`](crate::RateLimit) |
//! | `ws_routes_broadcasts_total` | counter | | [`Rooms`](crate::Rooms) broadcasts |
//! | `ws_routes_broadcast_recipients_total` | counter | | members of this server a broadcast was queued for |
//! | `ws_routes_slow_consumer_skipped_total` | counter | | broadcasts a slow member missed ([`SlowConsumer::Skip`](crate::rooms::SlowConsumer::Skip), [`SkipThenClose`](crate::rooms::SlowConsumer::SkipThenClose)) |
//! | `ws_routes_slow_consumer_closed_total` | counter | | members closed with 1013 for not keeping up |
//! | `ws_routes_backplane_published_total` | counter | | broadcasts appended to the Redis stream |
//! | `ws_routes_backplane_reconnects_total` | counter | `link` (`publisher`, `reader`) | Redis connections lost and being re-established |
//!
//! The messages a [`Sender`](crate::Sender) or a broadcast queued count when they are written.
//! Durations are in seconds.

// Without the feature the arguments go unused.
#![cfg_attr(not(feature = "metrics"), allow(unused_variables))]

#[cfg(feature = "metrics")]
use ::metrics::{Counter, Gauge, counter, gauge, histogram};
#[cfg(feature = "metrics")]
use std::time::Instant;

use crate::http::StatusCode;
use crate::wire::CloseCode;

/// The `route` label of a connection to a path that matches no route.
pub(crate) const UNMATCHED: &str = "unmatched";

/// When a handshake started.
#[derive(Clone, Copy)]
pub(crate) struct Started {
    #[cfg(feature = "metrics")]
    at: Instant,
}

impl Started {
    #[inline]
    pub(crate) fn now() -> Self {
        Started {
            #[cfg(feature = "metrics")]
            at: Instant::now(),
        }
    }
}

/// A handshake answered with an HTTP refusal.
#[inline]
pub(crate) fn refused(status: StatusCode) {
    #[cfg(feature = "metrics")]
    counter!("ws_routes_handshakes_total", "outcome" => "refused", "status" => status.as_str().to_owned())
        .increment(1);
}

/// A handshake that broke off (I/O error, garbage) before any answer.
#[inline]
pub(crate) fn failed() {
    #[cfg(feature = "metrics")]
    counter!("ws_routes_handshakes_total", "outcome" => "failed").increment(1);
}

/// A handshake over the handshake timeout.
#[inline]
pub(crate) fn timed_out() {
    #[cfg(feature = "metrics")]
    counter!("ws_routes_handshakes_total", "outcome" => "timed_out").increment(1);
}

/// An open WebSocket connection, from its `101` on: counted in the active gauge until
/// dropped, when its duration is recorded by the close code set with [`closed`](Self::closed).
pub(crate) struct ActiveConnection {
    #[cfg(feature = "metrics")]
    route: &'static str,
    #[cfg(feature = "metrics")]
    since: Instant,
    #[cfg(feature = "metrics")]
    active: Gauge,
    #[cfg(feature = "metrics")]
    code: Option<CloseCode>,
}

impl ActiveConnection {
    /// A connection upgraded on `route` (a pattern, or [`UNMATCHED`]) after a handshake that
    /// began at `started`.
    #[inline]
    pub(crate) fn new(route: &'static str, started: Started) -> Self {
        #[cfg(feature = "metrics")]
        {
            let since = Instant::now();
            counter!("ws_routes_handshakes_total", "outcome" => "accepted").increment(1);
            histogram!("ws_routes_handshake_duration_seconds", "route" => route)
                .record(since.duration_since(started.at));
            let active = gauge!("ws_routes_connections_active", "route" => route);
            active.increment(1.0);
            ActiveConnection {
                route,
                since,
                active,
                code: None,
            }
        }
        #[cfg(not(feature = "metrics"))]
        ActiveConnection {}
    }

    /// The close code this side sent, if it sent one.
    #[inline]
    pub(crate) fn closed(&mut self, code: Option<CloseCode>) {
        #[cfg(feature = "metrics")]
        {
            self.code = code;
        }
    }
}

#[cfg(feature = "metrics")]
impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.active.decrement(1.0);
        let code = match self.code {
            Some(code) => {
                let code = code.as_u16().to_string();
                counter!("ws_routes_close_codes_sent_total", "route" => self.route, "code" => code.clone())
                    .increment(1);
                code
            }
            None => "none".to_owned(),
        };
        histogram!("ws_routes_connection_duration_seconds", "route" => self.route, "code" => code)
            .record(self.since.elapsed());
    }
}

/// A server connection's message and byte counters, registered once when it opens; a
/// client's counts nothing.
#[derive(Default)]
pub(crate) struct Traffic {
    #[cfg(feature = "metrics")]
    counters: Option<Box<TrafficCounters>>,
}

#[cfg(feature = "metrics")]
struct TrafficCounters {
    received: Tally,
    sent: Tally,
}

/// Messages and their bytes, one way.
#[cfg(feature = "metrics")]
struct Tally {
    messages: Counter,
    bytes: Counter,
}

#[cfg(feature = "metrics")]
impl Tally {
    fn add(&self, bytes: usize) {
        self.messages.increment(1);
        self.bytes.increment(bytes as u64);
    }
}

impl Traffic {
    /// The counters of a connection on `route`.
    #[inline]
    pub(crate) fn new(route: &'static str) -> Self {
        Traffic {
            #[cfg(feature = "metrics")]
            counters: Some(Box::new(TrafficCounters {
                received: Tally {
                    messages: counter!("ws_routes_messages_received_total", "route" => route),
                    bytes: counter!("ws_routes_received_bytes_total", "route" => route),
                },
                sent: Tally {
                    messages: counter!("ws_routes_messages_sent_total", "route" => route),
                    bytes: counter!("ws_routes_sent_bytes_total", "route" => route),
                },
            })),
        }
    }

    /// A message of `bytes` payload bytes arrived.
    #[inline]
    pub(crate) fn received(&self, bytes: usize) {
        #[cfg(feature = "metrics")]
        if let Some(counters) = &self.counters {
            counters.received.add(bytes);
        }
    }

    /// A message of `bytes` payload bytes was written.
    #[inline]
    pub(crate) fn sent(&self, bytes: usize) {
        #[cfg(feature = "metrics")]
        if let Some(counters) = &self.counters {
            counters.sent.add(bytes);
        }
    }
}

/// A connection on `route` sent past its rate limit.
#[inline]
pub(crate) fn rate_limited(route: &'static str) {
    #[cfg(feature = "metrics")]
    counter!("ws_routes_rate_limited_total", "route" => route).increment(1);
}

/// A broadcast queued for `recipients` members of this server.
#[inline]
pub(crate) fn broadcast(recipients: usize) {
    #[cfg(feature = "metrics")]
    {
        counter!("ws_routes_broadcasts_total").increment(1);
        counter!("ws_routes_broadcast_recipients_total").increment(recipients as u64);
    }
}

/// A slow member missed a broadcast.
#[inline]
pub(crate) fn slow_consumer_skipped() {
    #[cfg(feature = "metrics")]
    counter!("ws_routes_slow_consumer_skipped_total").increment(1);
}

/// A slow member was closed.
#[inline]
pub(crate) fn slow_consumer_closed() {
    #[cfg(feature = "metrics")]
    counter!("ws_routes_slow_consumer_closed_total").increment(1);
}

/// `entries` broadcasts landed in the Redis stream.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
#[inline]
pub(crate) fn backplane_published(entries: usize) {
    #[cfg(feature = "metrics")]
    counter!("ws_routes_backplane_published_total").increment(entries as u64);
}

/// The backplane's `link` (`publisher` or `reader`) lost Redis and reconnects.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
#[inline]
pub(crate) fn backplane_reconnect(link: &'static str) {
    #[cfg(feature = "metrics")]
    counter!("ws_routes_backplane_reconnects_total", "link" => link).increment(1);
}

#[cfg(all(test, feature = "metrics"))]
mod tests;
