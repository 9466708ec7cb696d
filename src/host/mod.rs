//! Host figures: the load and memory of the machine (`sysinfo`, memory and
//! load only: per-process figures stay on `proc`'s `/proc/PID/stat` path) and
//! the space on the filesystems steward writes to (`fs4`'s statvfs), read on
//! demand by whoever keeps the pace; and `SpaceGuard`, the low-space decision.
//! It keeps no timer and takes no action.

mod guard;

pub use guard::{Crossing, SpaceGuard};

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use sysinfo::{MemoryRefreshKind, System};

/// One filesystem as sampled: raw figures, for the guard; the view rounds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsSample {
    /// The roles of the dirs on it (`data`, `downloads`, `temp`), in the order given.
    pub holds: Vec<&'static str>,
    pub path: PathBuf,
    pub available: u64,
    pub total: u64,
}

/// One reading of the machine.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSample {
    pub load_1m: f64,
    pub memory_used: u64,
    pub memory_total: u64,
    pub filesystems: Vec<FsSample>,
}

/// Reads the host. Keeps sysinfo's `System` alive between readings: it is
/// built once, and each reading refreshes RAM only (one read of
/// `/proc/meminfo`) and reads `/proc/loadavg`.
pub struct HostSampler {
    system: System,
    /// (role, dir) of every dir whose filesystem is measured.
    dirs: Vec<(&'static str, PathBuf)>,
}

impl HostSampler {
    pub fn new(dirs: Vec<(&'static str, PathBuf)>) -> HostSampler {
        HostSampler {
            system: System::new(),
            dirs,
        }
    }

    /// Everything: load, memory and the filesystems. Blocking: statvfs of a
    /// hung network filesystem may not return soon, so callers run it off
    /// the control loop.
    pub fn sample(&mut self) -> HostSample {
        let (load_1m, memory_used, memory_total) = self.load_and_memory();
        HostSample {
            load_1m,
            memory_used,
            memory_total,
            filesystems: self.filesystems(),
        }
    }

    /// The 1-minute load, memory used and memory total.
    pub fn load_and_memory(&mut self) -> (f64, u64, u64) {
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        (
            System::load_average().one,
            self.system.used_memory(),
            self.system.total_memory(),
        )
    }

    /// One entry per filesystem (by device), the dirs on it merged. A dir
    /// that cannot be measured (not there yet) is left out. Blocking (statvfs).
    pub fn filesystems(&self) -> Vec<FsSample> {
        let mut out: Vec<(u64, FsSample)> = Vec::new();
        for (role, dir) in &self.dirs {
            let Ok(dev) = std::fs::metadata(dir).map(|m| m.dev()) else {
                continue;
            };
            if let Some((_, fs)) = out.iter_mut().find(|(d, _)| *d == dev) {
                if !fs.holds.contains(role) {
                    fs.holds.push(role);
                }
                continue;
            }
            let Ok(stats) = fs4::statvfs(dir) else {
                continue;
            };
            out.push((
                dev,
                FsSample {
                    holds: vec![role],
                    path: dir.clone(),
                    available: stats.available_space(),
                    total: stats.total_space(),
                },
            ));
        }
        out.into_iter().map(|(_, fs)| fs).collect()
    }
}

/// `bytes` rounded to two significant figures of its binary unit (3.2 GiB,
/// 45 GiB, 620 MiB): what the header shows, and coarse enough that memory
/// or a busy disk's free space moving by a few MiB is no news (measured:
/// at a tenth of the unit, memory used under 1 GiB changed at every reading).
pub fn round_as_shown(bytes: u64) -> u64 {
    let mut unit: u64 = 1;
    while bytes / unit >= 1024 && unit < 1 << 40 {
        unit <<= 10;
    }
    // The step, in tenths of the unit: 0.1 below 10, then 1, 10, 100 units.
    let step: u128 = match bytes / unit {
        0..=9 => 1,
        10..=99 => 10,
        100..=999 => 100,
        _ => 1000,
    };
    let unit = u128::from(unit);
    let tenths = u128::from(bytes) * 10;
    let rounded = (tenths + step * unit / 2) / (step * unit) * step;
    u64::try_from(rounded * unit / 10).unwrap_or(u64::MAX)
}

/// The load average rounded to 1 decimal, as shown. Measured with 200
/// accounts: at 2 decimals the load moved at nearly every reading, and each
/// snapshot it caused (a rebuild, the status file) cost more than the
/// reading itself; a tenth is what an operator reads off a load anyway.
pub fn round_load(load: f64) -> f64 {
    (load * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_has_memory_load_and_one_entry_per_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::create_dir(&a).unwrap();
        let mut sampler = HostSampler::new(vec![
            ("data", dir.path().to_path_buf()),
            ("downloads", a.clone()),
            ("temp", dir.path().join("missing")),
            ("proc", PathBuf::from("/proc")),
        ]);
        let s = sampler.sample();
        assert!(
            s.memory_total > 0 && s.memory_used <= s.memory_total,
            "{s:?}"
        );
        assert!(s.load_1m >= 0.0);
        // data and downloads share a filesystem; the missing dir is left
        // out; /proc is a filesystem of its own.
        assert_eq!(s.filesystems.len(), 2, "{s:?}");
        assert_eq!(s.filesystems[0].holds, ["data", "downloads"]);
        assert_eq!(s.filesystems[0].path, dir.path());
        assert!(s.filesystems[0].total > 0);
        assert_eq!(s.filesystems[1].holds, ["proc"]);
    }

    #[test]
    fn figures_are_rounded_to_what_is_shown() {
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        assert_eq!(round_as_shown(0), 0);
        assert_eq!(round_as_shown(7), 7);
        assert_eq!(round_as_shown(1000), 1000);
        assert_eq!(round_as_shown(96 * MIB), 96 * MIB);
        assert_eq!(round_as_shown(625 * MIB + 300 * 1024), 630 * MIB);
        assert_eq!(round_as_shown(624 * MIB), 620 * MIB);
        assert_eq!(round_as_shown(45 * GIB + 300 * MIB), 45 * GIB);
        assert_eq!(
            round_as_shown(3 * GIB + GIB / 4 - MIB),
            round_as_shown(3 * GIB + GIB / 5)
        );
        assert_eq!(
            crate::time::human_bytes(round_as_shown(3 * GIB + GIB / 5)),
            "3.2 GiB"
        );
        assert_eq!(round_as_shown(1000 * GIB), 1000 * GIB);
        assert_eq!(round_as_shown(1023 * GIB), 1000 * GIB);
        assert!(round_as_shown(u64::MAX) > u64::MAX / 10 * 9, "no overflow");
        assert_eq!(round_load(0.4249), 0.4);
        assert_eq!(round_load(1.051), 1.1);
    }
}
