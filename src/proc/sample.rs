//! `Sampler`: CPU% and RSS of a chosen set of pids, from one read of
//! `/proc/PID/stat` each. (sysinfo reads four files per pid, uid and gid
//! included, which steward never shows: at 1,000 workers that was two thirds
//! of the idle manager's CPU.)

use std::collections::HashMap;
use std::time::Instant;

use super::clock::clock_ticks_per_second;
use super::stat::read_stat;

/// CPU and memory use of one process.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// Percent of one core since the previous sample (can exceed 100 on several cores). 0 on
    /// the first sample of a pid: CPU use is a difference between two samples.
    pub cpu_percent: f32,
    /// CPU time used since the process started (user + system).
    #[serde(default)]
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// Samples CPU% and RSS of only the pids asked for. Keep one alive and call
/// `sample` for whichever pids are due: CPU% is the difference to the previous
/// sample of the same process (same pid and start time), however long ago.
/// `retain` drops what is remembered of pids no longer of interest.
#[derive(Debug, Default)]
pub struct Sampler {
    /// pid → (start time, CPU ticks, when) of the previous sample.
    previous: HashMap<i32, (u64, u64, Instant)>,
}

impl Sampler {
    pub fn new() -> Sampler {
        Sampler::default()
    }

    /// Usage of `pids`; pids that do not exist (or are zombies) are absent.
    pub fn sample(&mut self, pids: &[i32]) -> HashMap<i32, Usage> {
        let ticks_per_second = clock_ticks_per_second() as f64;
        let page = page_size();
        let now = Instant::now();
        let mut out = HashMap::with_capacity(pids.len());
        for &pid in pids.iter().filter(|&&p| p > 0) {
            let Ok(stat) = read_stat(pid) else { continue };
            if stat.is_zombie() {
                continue;
            }
            let cpu_percent = match self.previous.get(&pid) {
                Some(&(start, ticks, at)) if start == stat.start_time => {
                    let secs = now.duration_since(at).as_secs_f64();
                    if secs > 0.0 {
                        (stat.cpu_ticks.saturating_sub(ticks) as f64 / ticks_per_second / secs
                            * 100.0) as f32
                    } else {
                        0.0
                    }
                }
                _ => 0.0,
            };
            self.previous
                .insert(pid, (stat.start_time, stat.cpu_ticks, now));
            out.insert(
                pid,
                Usage {
                    cpu_percent,
                    cpu_seconds: stat.cpu_ticks as f64 / ticks_per_second,
                    rss_bytes: stat.rss_pages * page,
                },
            );
        }
        out
    }

    /// Forgets every pid for which `keep` is false (memory follows the live set).
    pub fn retain(&mut self, mut keep: impl FnMut(i32) -> bool) {
        self.previous.retain(|pid, _| keep(*pid));
    }
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_self_and_skips_missing() {
        let me = std::process::id() as i32;
        let mut sampler = Sampler::new();
        let first = sampler.sample(&[me, i32::MAX]);
        assert!(first[&me].rss_bytes > 0);
        assert_eq!(first[&me].cpu_percent, 0.0);
        assert!(!first.contains_key(&i32::MAX));
        // Burn some CPU so the second sample has something to show.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 200 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let second = sampler.sample(&[me]);
        assert!(second[&me].cpu_percent > 10.0, "{:?}", second[&me]);
        assert_eq!(second.len(), 1);
        sampler.retain(|pid| pid != me);
        assert_eq!(sampler.sample(&[me])[&me].cpu_percent, 0.0, "forgotten");
    }
}
