//! What keeps a server connection honest while its handler waits in `recv`: keepalive pings
//! with a deadline for the pong, an optional idle timeout, the server's shutdown signal, and a
//! deadline for the close handshake once it has started.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{self, Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::time::{Instant, Sleep, sleep_until};

use crate::server::shutdown::{AlarmRegistration, Alarms};
use crate::wire::CloseCode;

/// The settings, from the server's builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LivenessSettings {
    /// How often to ping, and how long to wait for the pong; `None`: no keepalive.
    pub(crate) keepalive: Option<(Duration, Duration)>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) close_timeout: Duration,
    /// The code connections are closed with when the server shuts down.
    pub(crate) shutdown_code: CloseCode,
}

/// Why [`Liveness::poll_wake`] woke up.
#[derive(Debug)]
pub(crate) enum Wake {
    /// Time to send a keepalive ping with this payload.
    Ping(Bytes),
    /// The last ping was not answered in time.
    PongOverdue,
    /// Nothing arrived for the idle timeout.
    Idle,
    /// The peer did not finish the close handshake in time.
    CloseTimedOut,
    /// The server is shutting down: close with this code.
    Shutdown(CloseCode),
}

pub(crate) struct Liveness {
    settings: LivenessSettings,
    timer: Pin<Box<Sleep>>,
    /// When the next ping is due, or when the pending one becomes overdue.
    ping_due: Option<Instant>,
    /// The pending ping: when it was sent and its payload.
    pending: Option<(Instant, u32)>,
    pings: u32,
    latency: Option<Duration>,
    last_activity: Instant,
    close_deadline: Option<Instant>,
    /// The alarm's place on the server's list, rung when it shuts down; dropped once the
    /// close handshake has started, when only its deadline matters.
    shutdown: Option<AlarmRegistration>,
    /// What the timer and the server's shutdown wake, and [`alarm`](Self::alarm)'s waker.
    alarm: Arc<Alarm>,
    alarm_waker: Waker,
    /// The task's waker, as registered with the alarm and not taken by a ring since: the
    /// alarm is registered with anew only when the task's waker changes or the alarm rang.
    registered: Option<Waker>,
}

/// Wakes the connection's task for the timer or the server's shutdown, and notes that one of
/// them rang: [`Liveness::poll_wake`] polls them again only then (or once the timer is set anew),
/// not every time the task wakes for a message.
struct Alarm {
    rang: AtomicBool,
    task: AtomicWaker,
}

impl task::Wake for Alarm {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.rang.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Which of the liveness futures completed.
enum Rang {
    Shutdown,
    Timer,
}

impl Liveness {
    pub(crate) fn new(settings: LivenessSettings, shutdown: &Arc<Alarms>) -> Self {
        let now = Instant::now();
        let alarm = Arc::new(Alarm {
            rang: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let alarm_waker = Waker::from(Arc::clone(&alarm));
        let mut liveness = Liveness {
            settings,
            timer: Box::pin(sleep_until(now)),
            ping_due: settings.keepalive.map(|(interval, _)| after(now, interval)),
            pending: None,
            pings: 0,
            latency: None,
            last_activity: now,
            close_deadline: None,
            shutdown: Some(shutdown.register(alarm_waker.clone())),
            alarm_waker,
            alarm,
            registered: None,
        };
        liveness.rearm();
        liveness
    }

    /// The round trip of the last answered keepalive ping.
    pub(crate) fn latency(&self) -> Option<Duration> {
        self.latency
    }

    /// When the close handshake must be over, once it has started.
    pub(crate) fn close_deadline(&self) -> Option<Instant> {
        self.close_deadline
    }

    /// A data frame arrived.
    pub(crate) fn on_activity(&mut self) {
        if self.settings.idle_timeout.is_some() {
            self.last_activity = Instant::now();
        }
    }

    /// A pong arrived; if it answers the pending ping, measure the round trip.
    pub(crate) fn on_pong(&mut self, payload: &[u8]) {
        self.on_activity();
        if let Some((sent, number)) = self.pending
            && payload == number.to_be_bytes()
        {
            self.latency = Some(sent.elapsed());
            self.pending = None;
            self.ping_due = self
                .settings
                .keepalive
                .map(|(interval, _)| after(sent, interval));
            self.rearm();
        }
    }

    /// How long one write may take before the peer counts as not reading: the keepalive's
    /// pong timeout, or the close timeout without keepalive.
    pub(crate) fn write_timeout(&self) -> Duration {
        match self.settings.keepalive {
            Some((_, timeout)) => timeout,
            None => self.settings.close_timeout,
        }
    }

    /// The peer stopped reading: the close handshake's deadline is now, so the server drops the
    /// connection rather than wait to write a close frame nobody reads.
    pub(crate) fn abandon(&mut self) {
        self.close_deadline = Some(Instant::now());
        self.shutdown = None;
        self.rearm();
    }

    /// The close handshake started: from now on only its deadline matters.
    pub(crate) fn on_closing(&mut self) {
        if self.close_deadline.is_none() {
            self.close_deadline = Some(after(Instant::now(), self.settings.close_timeout));
            self.shutdown = None;
            self.rearm();
        }
    }

    /// The next thing to do, once it is due; pending till then (the task is woken when it is).
    /// Inlined where `recv` waits, which polls it for every message: most polls find the task's
    /// waker registered and the alarm silent, and end at that check.
    #[inline]
    pub(crate) fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if self.is_registered(cx.waker()) && !self.alarm.rang.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        self.poll_alarm_and_due(cx)
    }

    /// [`poll_wake`](Self::poll_wake) when the alarm rang or the task's waker is new.
    #[inline(never)]
    fn poll_alarm_and_due(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        loop {
            if let Rang::Shutdown = ready!(self.poll_alarm(cx)) {
                self.shutdown = None;
                return Poll::Ready(Wake::Shutdown(self.settings.shutdown_code));
            }
            if let Some(wake) = self.due(Instant::now()) {
                self.rearm();
                return Poll::Ready(wake);
            }
            self.rearm();
        }
    }

    /// Looks at the server's shutdown (a server that is gone counts as shut down) and polls the
    /// timer, when the alarm rang since they were last looked at.
    fn poll_alarm(&mut self, cx: &mut Context<'_>) -> Poll<Rang> {
        // Registered before the alarm is read: one that rings from now on wakes this task. A
        // ring sets `rang` before it takes the registered waker, so while `rang` stays unset
        // the waker registered last is still there.
        if !self.is_registered(cx.waker()) {
            self.alarm.task.register(cx.waker());
            self.registered = Some(cx.waker().clone());
        }
        // Read before it is cleared: the alarm rarely rings, and a plain load costs a fraction
        // of a swap, which every message's poll would pay.
        if !self.alarm.rang.load(Ordering::Acquire)
            || !self.alarm.rang.swap(false, Ordering::Acquire)
        {
            return Poll::Pending;
        }
        // The ring may have taken the registered waker.
        self.registered = None;
        if self.shutdown.as_ref().is_some_and(AlarmRegistration::rung) {
            return Poll::Ready(Rang::Shutdown);
        }
        let mut alarm = Context::from_waker(&self.alarm_waker);
        match self.timer.as_mut().poll(&mut alarm) {
            Poll::Ready(()) => Poll::Ready(Rang::Timer),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Whether `waker` is the one registered with the alarm, and not taken by a ring since.
    fn is_registered(&self, waker: &Waker) -> bool {
        self.registered
            .as_ref()
            .is_some_and(|registered| registered.will_wake(waker))
    }

    fn due(&mut self, now: Instant) -> Option<Wake> {
        if let Some(deadline) = self.close_deadline {
            return (now >= deadline).then_some(Wake::CloseTimedOut);
        }
        if let Some(idle) = self.settings.idle_timeout
            && now >= after(self.last_activity, idle)
        {
            return Some(Wake::Idle);
        }
        let (_, timeout) = self.settings.keepalive?;
        if now < self.ping_due? {
            return None;
        }
        if self.pending.is_some() {
            return Some(Wake::PongOverdue);
        }
        self.pings = self.pings.wrapping_add(1);
        self.pending = Some((now, self.pings));
        self.ping_due = Some(after(now, timeout));
        Some(Wake::Ping(Bytes::copy_from_slice(
            &self.pings.to_be_bytes(),
        )))
    }

    /// Sets the timer to the earliest deadline.
    fn rearm(&mut self) {
        let deadline = match self.close_deadline {
            Some(deadline) => Some(deadline),
            None => {
                let idle = self
                    .settings
                    .idle_timeout
                    .map(|idle| after(self.last_activity, idle));
                [idle, self.ping_due].into_iter().flatten().min()
            }
        };
        // Far enough to never fire when there is nothing to wait for.
        let deadline = deadline.unwrap_or_else(|| after(Instant::now(), FAR));
        self.timer.as_mut().reset(deadline);
        // The timer set anew waits to be polled, and registered.
        self.alarm.rang.store(true, Ordering::Release);
    }
}

/// A year: later than any deadline a connection waits for.
const FAR: Duration = Duration::from_secs(86_400 * 365);

/// `start + wait`, or a year from `start` when `wait` is longer (settings near `Duration::MAX`
/// would overflow an `Instant`).
pub(crate) fn after(start: Instant, wait: Duration) -> Instant {
    start + wait.min(FAR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wakers::counted;

    /// Keepalive pings every second, on a server that does not shut down.
    fn keepalive() -> Liveness {
        let settings = LivenessSettings {
            keepalive: Some((Duration::from_secs(1), Duration::from_secs(1))),
            idle_timeout: None,
            close_timeout: Duration::from_secs(1),
            shutdown_code: CloseCode::GOING_AWAY,
        };
        Liveness::new(settings, &Arc::default())
    }

    #[tokio::test(start_paused = true)]
    async fn a_ping_is_due_after_the_interval_however_often_the_task_polled_before() {
        let mut liveness = keepalive();
        let (wakes, waker) = counted();
        let mut cx = Context::from_waker(&waker);
        // As `recv` polls it while messages come and go: the same waker, nothing due.
        for _ in 0..4 {
            assert!(liveness.poll_wake(&mut cx).is_pending());
        }
        tokio::time::sleep(Duration::from_millis(1001)).await;
        assert_eq!(wakes.count(), 1, "the keepalive timer woke the task");
        assert!(matches!(
            liveness.poll_wake(&mut cx),
            Poll::Ready(Wake::Ping(_))
        ));
        assert!(liveness.poll_wake(&mut cx).is_pending());
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_wakes_the_task_that_polled_last() {
        // A socket handed to another task: the alarm must wake that one.
        let mut liveness = keepalive();
        let (first_wakes, first) = counted();
        let (second_wakes, second) = counted();
        for _ in 0..3 {
            assert!(
                liveness
                    .poll_wake(&mut Context::from_waker(&first))
                    .is_pending()
            );
        }
        assert!(
            liveness
                .poll_wake(&mut Context::from_waker(&second))
                .is_pending()
        );
        tokio::time::sleep(Duration::from_millis(1001)).await;
        assert_eq!((first_wakes.count(), second_wakes.count()), (0, 1));
        let mut cx = Context::from_waker(&second);
        assert!(matches!(
            liveness.poll_wake(&mut cx),
            Poll::Ready(Wake::Ping(_))
        ));
    }
}
