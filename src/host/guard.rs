//! `SpaceGuard`: whether space is low, with hysteresis. Low when the space
//! available drops below `min_free`; back to normal only once it is above
//! `min_free` plus a margin, so a download writing right at the line does not
//! pause and resume at every sample. Pure: fed figures, it says when a
//! crossing happened; what follows (pause, resume, log) is the caller's.

/// The margin is a tenth of the threshold (the operator's own measure of
/// the headroom that matters; 102 MiB at the default 1 GiB, more than a
/// fast download writes between two samples), capped at this so a large
/// threshold (50 GiB) does not ask for gigabytes beyond itself.
pub const MARGIN_CAP: u64 = 256 << 20;

/// The guard's answer to one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    /// Nothing changed.
    Steady,
    /// Space dropped below the threshold.
    WentLow,
    /// Space came back above the threshold plus the margin.
    Recovered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceGuard {
    min_free: u64,
    low: bool,
}

impl SpaceGuard {
    /// `min_free` 0 turns the guard off: space is never low.
    pub fn new(min_free: u64) -> SpaceGuard {
        SpaceGuard {
            min_free,
            low: false,
        }
    }

    pub fn min_free(&self) -> u64 {
        self.min_free
    }

    pub fn is_low(&self) -> bool {
        self.low
    }

    /// Whether `available` on one filesystem is below the threshold.
    pub fn below(&self, available: u64) -> bool {
        available < self.min_free
    }

    /// Space must be back above this to end a low spell.
    pub fn resume_above(&self) -> u64 {
        let margin = (self.min_free / 10).min(MARGIN_CAP);
        self.min_free.saturating_add(margin)
    }

    /// Feeds the least space available among the guarded filesystems (`None`:
    /// none could be measured, which changes nothing).
    pub fn observe(&mut self, available: Option<u64>) -> Crossing {
        let Some(available) = available else {
            return Crossing::Steady;
        };
        if !self.low && self.below(available) {
            self.low = true;
            Crossing::WentLow
        } else if self.low && available > self.resume_above() {
            self.low = false;
            Crossing::Recovered
        } else {
            Crossing::Steady
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn one_crossing_each_way_with_a_margin_between() {
        let mut guard = SpaceGuard::new(1000 * MIB);
        assert_eq!(guard.resume_above(), 1100 * MIB);
        assert_eq!(guard.observe(Some(2000 * MIB)), Crossing::Steady);
        assert_eq!(
            guard.observe(Some(1000 * MIB)),
            Crossing::Steady,
            "at the line is not below"
        );
        assert_eq!(guard.observe(Some(999 * MIB)), Crossing::WentLow);
        assert!(guard.is_low());
        // Once per crossing: further low samples say nothing new.
        assert_eq!(guard.observe(Some(10 * MIB)), Crossing::Steady);
        // Back above the threshold but inside the margin: still low.
        assert_eq!(guard.observe(Some(1050 * MIB)), Crossing::Steady);
        assert_eq!(guard.observe(Some(1100 * MIB)), Crossing::Steady);
        assert!(guard.is_low());
        assert_eq!(guard.observe(Some(1100 * MIB + 1)), Crossing::Recovered);
        assert!(!guard.is_low());
        assert_eq!(
            guard.observe(Some(1050 * MIB)),
            Crossing::Steady,
            "above the line again"
        );
        assert_eq!(guard.observe(Some(0)), Crossing::WentLow);
    }

    #[test]
    fn unmeasured_space_changes_nothing_and_zero_turns_the_guard_off() {
        let mut guard = SpaceGuard::new(MIB);
        assert_eq!(guard.observe(None), Crossing::Steady);
        assert_eq!(guard.observe(Some(0)), Crossing::WentLow);
        assert_eq!(guard.observe(None), Crossing::Steady);
        assert!(guard.is_low());
        let mut off = SpaceGuard::new(0);
        assert_eq!(off.observe(Some(0)), Crossing::Steady);
        assert!(!off.is_low());
    }

    #[test]
    fn the_margin_is_a_tenth_of_the_threshold_up_to_a_cap() {
        assert_eq!(
            SpaceGuard::new(64 * MIB).resume_above(),
            64 * MIB + 64 * MIB / 10
        );
        assert_eq!(
            SpaceGuard::new(1 << 30).resume_above(),
            (1 << 30) + (1 << 30) / 10
        );
        assert_eq!(
            SpaceGuard::new(50 << 30).resume_above(),
            (50 << 30) + MARGIN_CAP
        );
        assert_eq!(SpaceGuard::new(u64::MAX).resume_above(), u64::MAX);
    }
}
