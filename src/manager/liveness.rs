//! Whether the control loop still turns. The loop stamps `Liveness` on every
//! turn and turns at least every `Pulse` period even when nothing happens,
//! so a reader (`/healthz`, the service manager's watchdog) can tell a
//! quiet loop from a wedged one. The watchdog ping is sent from the loop
//! itself (`Pulse`'s arm), never from a task beside it: a loop that does
//! not turn must not say it is alive.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::time::now_ms;

/// The longest the loop goes without turning while idle.
pub const PULSE: Duration = Duration::from_secs(2);

/// A loop that has not turned for this long is wedged (`/healthz` says 503).
pub const WEDGED_AFTER: Duration = Duration::from_secs(3 * PULSE.as_secs());

/// When the control loop last turned (unix ms), shared with its readers.
#[derive(Debug, Clone, Default)]
pub struct Liveness(Arc<Stamps>);

#[derive(Debug, Default)]
struct Stamps {
    last_turn_ms: AtomicI64,
    /// When the last gap between two turns longer than `WEDGED_AFTER` ended.
    stall_ended_ms: AtomicI64,
}

impl Liveness {
    pub fn stamp(&self) {
        let now = now_ms();
        let previous = self.0.last_turn_ms.swap(now, Ordering::Relaxed);
        if previous > 0 && now.saturating_sub(previous) > WEDGED_AFTER.as_millis() as i64 {
            self.0.stall_ended_ms.store(now, Ordering::Relaxed);
        }
    }

    /// Unix ms of the last turn; 0 before the first.
    pub fn last_turn_ms(&self) -> i64 {
        self.0.last_turn_ms.load(Ordering::Relaxed)
    }

    /// Whether the loop turns: it turned within `WEDGED_AFTER`, and did not
    /// come out of a longer stall in the last `PULSE`. The second half
    /// keeps a question asked during a stall (a frozen or starved process:
    /// the answer is written once it runs again) from being answered "fine"
    /// by the loop's first turn after it.
    pub fn healthy(&self) -> bool {
        let stall_ended = self.0.stall_ended_ms.load(Ordering::Relaxed);
        self.turned_within(WEDGED_AFTER)
            && now_ms().saturating_sub(stall_ended) > PULSE.as_millis() as i64
    }

    /// Whether the loop turned within `within` (a few pulses, for `/healthz`).
    pub fn turned_within(&self, within: Duration) -> bool {
        now_ms().saturating_sub(self.last_turn_ms()) <= within.as_millis() as i64
    }
}

/// The loop's own timer: due every `period` (the shorter of `PULSE` and
/// half the service manager's watchdog interval).
#[derive(Debug)]
pub struct Pulse {
    period: Duration,
    next: Instant,
}

impl Pulse {
    pub fn new(watchdog: Option<Duration>) -> Pulse {
        let period = watchdog.map_or(PULSE, |w| (w / 2).min(PULSE));
        Pulse {
            period,
            next: Instant::now() + period,
        }
    }

    pub async fn due(&self) {
        tokio::time::sleep_until(self.next).await
    }

    /// After `due`: the next one a period from now.
    pub fn beat(&mut self) {
        self.next = Instant::now() + self.period;
    }

    pub fn period(&self) -> Duration {
        self.period
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pulse_is_at_most_half_the_watchdog() {
        assert_eq!(Pulse::new(None).period(), PULSE);
        assert_eq!(Pulse::new(Some(Duration::from_secs(60))).period(), PULSE);
        assert_eq!(
            Pulse::new(Some(Duration::from_secs(1))).period(),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn a_stall_is_unhealthy_until_a_pulse_after_it_ended() {
        let liveness = Liveness::default();
        assert!(!liveness.healthy(), "never turned");
        liveness.stamp();
        assert!(liveness.healthy());
        // A turn 7 s ago, then this one: the loop just came out of a stall.
        let stalled = now_ms() - 7_000;
        liveness.0.last_turn_ms.store(stalled, Ordering::Relaxed);
        liveness.stamp();
        assert!(!liveness.healthy(), "just out of a stall");
        liveness
            .0
            .stall_ended_ms
            .store(now_ms() - 3_000, Ordering::Relaxed);
        assert!(liveness.healthy(), "a pulse and more after the stall");
    }

    #[test]
    fn liveness_tells_how_long_ago() {
        let liveness = Liveness::default();
        assert!(!liveness.turned_within(Duration::from_secs(5)));
        liveness.stamp();
        assert!(liveness.turned_within(Duration::from_secs(5)));
    }
}
