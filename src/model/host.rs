//! What the host sampler publishes: load, memory, the free space of the
//! filesystems steward writes to, and whether that space is low. Figures are
//! rounded to what the header shows, so a snapshot is published only when a
//! shown figure changed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The machine, as the header and `status --json` show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    /// The 1-minute load average, rounded to 1 decimal (see `host::round_load`).
    pub load_1m: f64,
    /// Memory in use (total less available), rounded to two significant figures (`host::round_as_shown`).
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// One entry per filesystem holding the data dir, the downloads dir or
    /// the temp root (one entry when they share one).
    pub filesystems: Vec<FsView>,
    /// `[host] min_free_space`: below it on a filesystem holding the
    /// downloads dir or the temp root, downloads are paused.
    pub min_free_bytes: u64,
    /// Space is low: downloads are held (paused by steward) until the
    /// available space is back above `resume_above_bytes`.
    pub low_space: bool,
    pub resume_above_bytes: u64,
}

/// One filesystem steward writes to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FsView {
    /// Which of steward's dirs it holds: `data`, `downloads`, `temp`.
    pub holds: Vec<String>,
    /// The first of those dirs.
    pub path: PathBuf,
    /// Space available to unprivileged writers (statvfs `f_bavail`),
    /// rounded to two significant figures.
    pub available_bytes: u64,
    pub total_bytes: u64,
    /// Below `min_free_bytes` (only a filesystem holding downloads or temp is guarded).
    pub low: bool,
}

impl HostView {
    /// The filesystems whose space is low, for the warning.
    pub fn low_filesystems(&self) -> impl Iterator<Item = &FsView> {
        self.filesystems.iter().filter(|f| f.low)
    }
}
