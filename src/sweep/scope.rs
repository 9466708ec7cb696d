//! What a sweep works within: [`SweepScope`] (the data dir, the temp root and
//! the limits from the config) and [`Fence`] (the descriptor every path is
//! reached from, and the files some process uses). Shared by `scan` and
//! `apply`, and naming neither.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
use crate::paths::DataDir;

/// What a sweep may look at and the limits it applies.
#[derive(Debug, Clone)]
pub struct SweepScope {
    pub data_dir: DataDir,
    pub temp_root: PathBuf,
    /// Untracked temp paths younger than this are left alone (`[temp] max_age`).
    pub max_age: Duration,
    /// Trash older than this is deleted (`[trash] keep`).
    pub trash_keep: Duration,
    /// Between SIGTERM and SIGKILL for leftover processes.
    pub stop_timeout: Duration,
}

impl SweepScope {
    pub fn new(config: &Config, data_dir: &DataDir) -> SweepScope {
        SweepScope {
            data_dir: data_dir.clone(),
            temp_root: config.temp_root(data_dir),
            max_age: config.temp.max_age,
            trash_keep: config.trash.keep,
            stop_timeout: config.worker.stop_timeout,
        }
    }

    /// Whether the temp root lies inside the data dir (the default).
    pub fn temp_root_inside(&self) -> bool {
        self.data_dir.contains(&self.temp_root)
    }

    /// The first check made before every removal or move, by the path's
    /// text: inside the data dir. The removal then reaches it beneath the
    /// data dir's descriptor ([`Beneath`](crate::fs::Beneath)), never through
    /// a symlink.
    pub fn may_touch(&self, path: &Path) -> bool {
        self.data_dir.contains(path)
    }
}

/// What every path of a scan or an apply is checked against: the data dir's
/// descriptor that paths are reached from (never through a symlink), and the
/// files some process has open, locked or as its working directory (read at
/// most once per scan and once per apply, when the first tree is measured
/// or removed: a start with nothing to sweep reads no `/proc`).
pub(super) struct Fence<'a> {
    pub(super) anchor: &'a crate::fs::Beneath,
    in_use: std::sync::OnceLock<crate::proc::FilesInUse>,
}

impl<'a> Fence<'a> {
    pub(super) fn new(anchor: &'a crate::fs::Beneath) -> Fence<'a> {
        Fence {
            anchor,
            in_use: std::sync::OnceLock::new(),
        }
    }

    pub(super) fn in_use(&self) -> &crate::proc::FilesInUse {
        self.in_use
            .get_or_init(|| crate::proc::FilesInUse::read(std::process::id() as i32))
    }
}
