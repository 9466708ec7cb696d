//! `Sampler`: CPU% and RSS of a chosen set of pids through a long-lived `sysinfo::System`.

use std::collections::{HashMap, HashSet};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// CPU and memory use of one process.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// Percent of one core since the previous sample (can exceed 100 on several cores). 0 on
    /// the first sample of a pid: CPU use is a difference between two samples.
    pub cpu_percent: f32,
    pub rss_bytes: u64,
}

/// Samples CPU% and RSS of only the pids asked for. Keep one alive and call `sample` once per
/// dashboard tick (CPU% needs the previous sample; sysinfo's minimum useful interval is ~200 ms).
pub struct Sampler {
    system: System,
    /// Pids sysinfo may still hold from earlier samples.
    known: HashSet<i32>,
}

impl Sampler {
    pub fn new() -> Result<Sampler, sysinfo::Error> {
        Ok(Sampler {
            system: System::new()?,
            known: HashSet::new(),
        })
    }

    /// Refreshes CPU and memory of `pids` (no threads, nothing else) and returns their usage.
    /// Pids that do not exist are absent from the result.
    pub fn sample(&mut self, pids: &[i32]) -> HashMap<i32, Usage> {
        let wanted: HashSet<i32> = pids.iter().copied().filter(|&p| p > 0).collect();
        // sysinfo keeps entries for pids it is no longer asked about; start afresh when those
        // outnumber the live set, so memory stays bounded as workers come and go.
        let stale = self.known.difference(&wanted).count();
        if stale > wanted.len() + 64
            && let Ok(fresh) = System::new()
        {
            self.system = fresh;
            self.known.clear();
        }
        let sys_pids: Vec<Pid> = wanted.iter().map(|&p| Pid::from_u32(p as u32)).collect();
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&sys_pids),
            true,
            ProcessRefreshKind::nothing()
                .without_tasks()
                .with_cpu()
                .with_memory(),
        );
        self.known.extend(wanted.iter().copied());
        wanted
            .into_iter()
            .filter_map(|pid| {
                let p = self.system.process(Pid::from_u32(pid as u32))?;
                Some((
                    pid,
                    Usage {
                        cpu_percent: p.cpu_usage(),
                        rss_bytes: p.memory(),
                    },
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_self_and_skips_missing() {
        let me = std::process::id() as i32;
        let mut sampler = Sampler::new().unwrap();
        let first = sampler.sample(&[me, i32::MAX]);
        assert!(first[&me].rss_bytes > 0);
        assert!(!first.contains_key(&i32::MAX));
        let second = sampler.sample(&[me]);
        assert!(second[&me].cpu_percent >= 0.0);
        assert_eq!(second.len(), 1);
    }
}
