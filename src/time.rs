//! Wall-clock stamps and human durations shared by the snapshot, the CLI and the UI.
//! Snapshots carry absolute unix-epoch milliseconds so any reader can compute
//! ages and countdowns against its own clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(ms)
        // A clock before 1970 is a broken host; 0 keeps ages sane rather than panicking.
        .unwrap_or(0)
}

/// `d` in milliseconds as the i64 that stamps use, saturating (never wraps
/// into a negative span, whatever a config or a file said).
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The stamp `d` after `at_ms`, saturating.
pub fn ms_after(at_ms: i64, d: Duration) -> i64 {
    at_ms.saturating_add(ms(d))
}

/// A deadline so far off that it means "never", yet any clock can hold it.
const FAR: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `Instant + Duration` that cannot panic: a sum past what the clock can hold
/// becomes a deadline 100 years away (for every purpose, never).
pub trait Later: Copy {
    fn checked_later(self, d: Duration) -> Option<Self>;
    fn later(self, d: Duration) -> Self {
        self.checked_later(d.min(FAR))
            .or_else(|| self.checked_later(Duration::from_secs(86_400)))
            // A monotonic clock within a day of its end: unreachable in practice.
            .unwrap_or(self)
    }
}

impl Later for std::time::Instant {
    fn checked_later(self, d: Duration) -> Option<Self> {
        self.checked_add(d)
    }
}

impl Later for tokio::time::Instant {
    fn checked_later(self, d: Duration) -> Option<Self> {
        self.checked_add(d)
    }
}

/// A compact human duration: `850ms`, `4s`, `3m12s`, `2h05m`, `3d04h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 && d.as_millis() > 0 {
        return format!("{}ms", d.as_millis());
    }
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `human` of the time from `from_ms` to `to_ms`, clamped at zero.
pub fn human_between(from_ms: i64, to_ms: i64) -> String {
    human(Duration::from_millis(
        to_ms.saturating_sub(from_ms).max(0) as u64
    ))
}

/// Seconds left until `deadline_ms`, rounded up so a countdown never shows 0 early.
pub fn secs_until(deadline_ms: i64, now_ms: i64) -> u64 {
    let left = deadline_ms.saturating_sub(now_ms).max(0) as u64;
    left.div_ceil(1000)
}

/// The gap between two looks at something that rarely changes: `base` after
/// a look that found news, growing 8x after each quiet look, up to `max`. An
/// idle instance then looks rarely, a busy one as often as `base` allows.
/// (8x rather than 2x: every user caps at 6x-8x its base, so one quiet look
/// reaches the slow pace where doubling took three, and most of an idle
/// minute's cost was those looks on the way down.)
#[derive(Debug, Clone, Copy)]
pub struct QuietBackoff {
    base: Duration,
    max: Duration,
    current: Duration,
}

/// How much each quiet look stretches the gap.
const QUIET_RAMP: u32 = 8;

impl QuietBackoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        QuietBackoff {
            base,
            max: max.max(base),
            current: base,
        }
    }

    /// The gap before the next look, given whether this one found news.
    pub fn next(&mut self, news: bool) -> Duration {
        self.current = if news {
            self.base
        } else {
            self.current.saturating_mul(QUIET_RAMP).min(self.max)
        };
        self.current
    }
}

/// Bytes as `512 B`, `1.5 KiB`, `20.0 MiB`, `3.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_secs(4)), "4s");
        assert_eq!(human(Duration::from_secs(192)), "3m12s");
        assert_eq!(human(Duration::from_secs(2 * 3600 + 5 * 60)), "2h05m");
        assert_eq!(human(Duration::from_secs(3 * 86_400 + 4 * 3600)), "3d04h");
        assert_eq!(human_between(10_000, 5_000), "0s");
    }

    #[test]
    fn duration_sums_saturate_instead_of_wrapping_or_panicking() {
        let huge = Duration::from_secs(10_000_000_000_000_000);
        assert_eq!(ms(huge), i64::MAX);
        assert_eq!(ms_after(1_000, huge), i64::MAX);
        assert_eq!(ms_after(1_000, Duration::from_millis(500)), 1_500);
        let now = std::time::Instant::now();
        assert!(now.later(Duration::MAX) > now.later(Duration::from_secs(86_400)));
        let now = tokio::time::Instant::now();
        assert!(now.later(huge) > now);
        let mut b = QuietBackoff::new(Duration::MAX / 2, Duration::MAX);
        assert_eq!(b.next(false), Duration::MAX);
    }

    #[test]
    fn countdown_rounds_up() {
        assert_eq!(secs_until(10_001, 9_000), 2);
        assert_eq!(secs_until(10_000, 9_000), 1);
        assert_eq!(secs_until(5_000, 9_000), 0);
    }

    #[test]
    fn quiet_backoff_doubles_while_quiet_and_resets_on_news() {
        let mut b = QuietBackoff::new(Duration::from_secs(2), Duration::from_secs(16));
        let gaps: Vec<u64> = [false, false, false, false, true, false]
            .iter()
            .map(|news| b.next(*news).as_secs())
            .collect();
        assert_eq!(gaps, vec![16, 16, 16, 16, 2, 16]);
    }

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(20 * 1024 * 1024), "20.0 MiB");
    }
}
