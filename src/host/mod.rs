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

    /// Blocking: statvfs of a hung network filesystem may not return soon,
    /// so callers run it off the control loop.
    pub fn sample(&mut self) -> HostSample {
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        HostSample {
            load_1m: System::load_average().one,
            memory_used: self.system.used_memory(),
            memory_total: self.system.total_memory(),
            filesystems: self.filesystems(),
        }
    }

    /// One entry per filesystem (by device), the dirs on it merged. A dir
    /// that cannot be measured (not there yet) is left out.
    fn filesystems(&self) -> Vec<FsSample> {
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

/// `bytes` rounded to a tenth of its binary unit, the precision the header
/// shows (`time::human_bytes`): a figure that moves below it is no news.
pub fn round_as_shown(bytes: u64) -> u64 {
    let mut unit: u64 = 1;
    while bytes / unit >= 1024 && unit < 1 << 40 {
        unit <<= 10;
    }
    if unit == 1 {
        return bytes;
    }
    // In tenths of the unit, exactly (a whole 96 MiB stays 96 MiB).
    let unit = u128::from(unit);
    let tenths = (u128::from(bytes) * 10 + unit / 2) / unit;
    u64::try_from(tenths * unit / 10).unwrap_or(u64::MAX)
}

/// The load average rounded to 2 decimals, as shown.
pub fn round_load(load: f64) -> f64 {
    (load * 100.0).round() / 100.0
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
        assert_eq!(round_as_shown(1000), 1000);
        assert_eq!(round_as_shown(96 << 20), 96 << 20);
        assert_eq!(round_as_shown(u64::MAX), u64::MAX);
        for bytes in [1500, 1536, 20 << 20, 3_435_973_836, 7 << 40] {
            let shown = crate::time::human_bytes(bytes);
            assert_eq!(crate::time::human_bytes(round_as_shown(bytes)), shown);
        }
        let gib = 1u64 << 30;
        let r = round_as_shown(gib + gib / 3);
        assert_eq!(crate::time::human_bytes(r), "1.3 GiB");
        assert_eq!(round_as_shown(gib + 1), round_as_shown(gib + 1000));
        assert_eq!(round_load(0.4249), 0.42);
        assert_eq!(round_load(1.005_1), 1.01);
    }
}
