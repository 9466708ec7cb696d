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

/// When the control loop last turned (unix ms), shared with its readers.
#[derive(Debug, Clone, Default)]
pub struct Liveness(Arc<AtomicI64>);

impl Liveness {
    pub fn stamp(&self) {
        self.0.store(now_ms(), Ordering::Relaxed);
    }

    /// Unix ms of the last turn; 0 before the first.
    pub fn last_turn_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
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
    fn liveness_tells_how_long_ago() {
        let liveness = Liveness::default();
        assert!(!liveness.turned_within(Duration::from_secs(5)));
        liveness.stamp();
        assert!(liveness.turned_within(Duration::from_secs(5)));
    }
}
