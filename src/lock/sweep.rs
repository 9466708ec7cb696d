//! The sweep lock: one sweeper at a time per data dir, with or without a
//! running instance (see `crate::sweep`).

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use super::holder_text;
use super::pid_file::{self, Refused};
use crate::paths::DataDir;

/// A probe (`flock -n`, a status check) holds the lock for an instant: only
/// a holder that stays past this grace is another sweeper.
const PROBE_GRACE: Duration = Duration::from_millis(100);

/// Another sweep holds `sweep.lock`, or the lock file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SweepLockError {
    #[error("another sweep is running ({}): wait for it to finish", holder_text(*pid))]
    Busy { pid: Option<i32> },
    #[error("cannot use sweep lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The exclusive, non-blocking flock on `<data-dir>/sweep.lock` (holding the
/// holder's pid).
#[derive(Debug)]
pub struct SweepLock {
    _file: File,
}

impl SweepLock {
    pub fn path(data_dir: &DataDir) -> PathBuf {
        data_dir.root().join("sweep.lock")
    }

    /// Creates the data dir if missing and takes the sweep lock, waiting
    /// out a probe's instant; [`SweepLockError::Busy`] names the holder.
    pub fn try_acquire(data_dir: &DataDir) -> Result<SweepLock, SweepLockError> {
        let path = Self::path(data_dir);
        let io = |source| SweepLockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir.root()).map_err(io)?;
        match pid_file::take(&path, PROBE_GRACE) {
            Ok(file) => Ok(SweepLock { _file: file }),
            Err(Refused::Held(pid)) => Err(SweepLockError::Busy { pid }),
            Err(Refused::Io(e)) => Err(io(e)),
        }
    }
}
