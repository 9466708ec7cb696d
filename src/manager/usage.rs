//! Worker usage for the snapshot: CPU%, RSS and session-lock holders of live
//! workers. Each worker has its own pace: every `BASE` while its figures move,
//! spacing out by 4x per quiet sample to `CEILING` while they hold still, so a
//! busy worker's column stays fresh while an idle fleet of 1,000 costs a read
//! a minute each. Every worker due (or nearly due) is read in one wakeup.
//! Lock holders (one read of `/proc/locks`, which grows with every lock on
//! the machine) are read again only when the set of live workers changed, or
//! once per `CEILING`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use crate::proc::{self, Sampler, Usage};

/// The gap between samples of a worker whose figures changed (and before its first).
pub(super) const BASE: Duration = Duration::from_secs(2);
/// The longest gap, for a worker whose figures hold still.
pub(super) const CEILING: Duration = Duration::from_secs(60);
/// Each quiet sample multiplies the gap by this.
const RAMP: u32 = 4;

#[derive(Debug, Clone, Copy)]
struct Pace {
    next: Instant,
    gap: Duration,
}

impl Pace {
    /// Workers due within a quarter of their gap are read with the ones due
    /// now: workers that started together stay together, one wakeup for all.
    fn due(&self, now: Instant) -> bool {
        self.next <= now + self.gap / 4
    }
}

#[derive(Default)]
pub(super) struct UsageWatch {
    sampler: Sampler,
    pace: HashMap<i32, Pace>,
    usage: HashMap<i32, Usage>,
    /// Each live worker's lock holders, by the worker's pid when they were
    /// read: a worker started since then is not shown its predecessor's.
    holders: HashMap<i32, Vec<i32>>,
    /// Live pids (sorted) when the holders were last read, and when.
    holders_of: Vec<i32>,
    holders_at: Option<Instant>,
    /// Set when the set of live workers may have moved: they are looked at
    /// by then, whoever is due.
    look_by: Option<Instant>,
}

impl UsageWatch {
    /// A worker started: read its figures and lock holders at once (the
    /// README promises holders when a worker starts, not `BASE` later).
    pub fn look_now(&mut self) {
        self.look_by = Some(Instant::now());
    }

    /// Something moved (a worker started, stopped, logged): the set of live
    /// workers is worth a look within `BASE`.
    pub fn look_soon(&mut self) {
        self.look_by.get_or_insert(Instant::now() + BASE);
    }

    /// Resolves when a sample is due: a look asked for, or a worker's pace.
    pub async fn due(&self) {
        match (self.look_by, self.next_due()) {
            (Some(a), Some(b)) => tokio::time::sleep_until(a.min(b)).await,
            (Some(t), None) | (None, Some(t)) => tokio::time::sleep_until(t).await,
            (None, None) => std::future::pending().await,
        }
    }

    /// When the next worker is due; `None` with no live worker.
    pub fn next_due(&self) -> Option<Instant> {
        // Holders are refreshed along with these samples: no wakeup of their own.
        self.pace.values().map(|p| p.next).min()
    }

    /// Samples the workers due at `now` among `live` (pid, session file): a
    /// worker not seen before is due at once. True when a figure changed.
    pub fn sample(&mut self, live: &[(i32, PathBuf)], now: Instant) -> bool {
        self.look_by = None;
        let mut pids: Vec<i32> = live.iter().map(|(pid, _)| *pid).collect();
        pids.sort_unstable();
        // Forget the gone, welcome the new (due now: RSS shows at once).
        let before = self.pace.len();
        self.pace.retain(|pid, _| pids.binary_search(pid).is_ok());
        let mut changed = self.pace.len() != before;
        self.usage.retain(|pid, _| pids.binary_search(pid).is_ok());
        self.sampler.retain(|pid| pids.binary_search(&pid).is_ok());
        for &pid in &pids {
            self.pace.entry(pid).or_insert(Pace {
                next: now,
                gap: BASE,
            });
        }
        let due: Vec<i32> = self
            .pace
            .iter()
            .filter(|(_, p)| p.due(now))
            .map(|(pid, _)| *pid)
            .collect();
        if !due.is_empty() {
            let fresh = self.sampler.sample(&due);
            for pid in due {
                let new = fresh.get(&pid).copied();
                let moved = new != self.usage.get(&pid).copied();
                match new {
                    Some(u) => self.usage.insert(pid, u),
                    None => self.usage.remove(&pid),
                };
                if let Some(p) = self.pace.get_mut(&pid) {
                    p.gap = if moved {
                        BASE
                    } else {
                        (p.gap * RAMP).min(CEILING)
                    };
                    p.next = now + p.gap;
                }
                changed |= moved;
            }
        }
        let holders_stale = self
            .holders_at
            .is_none_or(|at| now + CEILING / 4 >= at + CEILING);
        if pids != self.holders_of || holders_stale {
            let files: Vec<PathBuf> = live.iter().map(|(_, f)| f.clone()).collect();
            let mut by_file = if files.is_empty() {
                HashMap::new()
            } else {
                proc::flock_holders_of(&files)
            };
            let holders: HashMap<i32, Vec<i32>> = live
                .iter()
                .filter_map(|(pid, file)| Some((*pid, by_file.remove(file)?)))
                .collect();
            changed |= holders != self.holders;
            self.holders = holders;
            self.holders_of = pids;
            self.holders_at = Some(now);
        }
        changed
    }

    pub fn usage(&self) -> &HashMap<i32, Usage> {
        &self.usage
    }

    /// Lock holders by worker pid.
    pub fn holders(&self) -> &HashMap<i32, Vec<i32>> {
        &self.holders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_quiet_worker_spaces_out_to_the_ceiling_and_a_new_one_is_read_at_once() {
        // A sleeping process: its CPU time and RSS hold still.
        let mut sleeper = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let live = vec![(sleeper.id() as i32, PathBuf::from("/nonexistent"))];
        // Asleep in `sleep` itself: exec and its page faults are over, so the
        // figures hold still from here (on a loaded machine they did not
        // yet right after the spawn).
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while !proc::read_stat(live[0].0).is_ok_and(|s| s.comm == "sleep" && s.state == 'S') {
            assert!(std::time::Instant::now() < end, "sleep never went to sleep");
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut watch = UsageWatch::default();
        let t0 = Instant::now();
        assert!(watch.sample(&live, t0), "first figures are news");
        assert!(watch.usage().contains_key(&live[0].0));
        assert_eq!(watch.next_due(), Some(t0 + BASE));
        // A worker that vanished is forgotten; the schedule then is empty.
        assert!(watch.sample(&[], t0 + BASE));
        assert_eq!(watch.next_due(), None);
        assert!(watch.usage().is_empty());
        // The first sample of the returning pid is news; then the gaps grow
        // 4x per quiet sample, up to the ceiling.
        let mut at = t0 + BASE;
        assert!(watch.sample(&live, at));
        let mut gaps = Vec::new();
        for _ in 0..5 {
            let next = watch.next_due().unwrap();
            gaps.push((next - at).as_secs());
            at = next;
            assert!(!watch.sample(&live, at), "nothing moved");
        }
        assert_eq!(gaps, vec![2, 8, 32, 60, 60]);
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }

    #[tokio::test(start_paused = true)]
    async fn a_look_asked_for_is_due_before_any_worker() {
        let mut watch = UsageWatch::default();
        // Nothing live and nothing asked: never due.
        let never = tokio::time::timeout(CEILING * 10, watch.due()).await;
        assert!(never.is_err());
        let t0 = Instant::now();
        watch.look_soon();
        watch.look_soon(); // a second ask does not push it back
        watch.due().await;
        assert_eq!(Instant::now() - t0, BASE);
        watch.look_now();
        let t1 = Instant::now();
        watch.due().await;
        assert_eq!(Instant::now(), t1);
        assert!(!watch.sample(&[], t1));
        assert!(tokio::time::timeout(BASE * 2, watch.due()).await.is_err());
    }
}
