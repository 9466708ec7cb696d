//! The data dir's instance lock: one manager per data dir.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::pid_file::{self, Refused};
use super::{LockError, LockState, io_err};
use crate::paths::DataDir;

/// The exclusive lock on `<data-dir>/steward.lock`, held for the life of
/// the process (or until dropped). The file holds the holder's pid.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// Creates the data dir if missing, then takes the instance lock and
    /// writes our pid into it. [`LockError::InUse`] names the holder's pid
    /// when another steward has it. Never blocks, nor tries twice.
    pub fn acquire(data_dir: &DataDir) -> Result<InstanceLock, LockError> {
        let root = data_dir.root();
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        let path = data_dir.lock_file();
        match pid_file::take(&path, Duration::ZERO) {
            Ok(file) => Ok(InstanceLock { file, path }),
            Err(Refused::Held(pid)) => Err(LockError::InUse {
                dir: root.to_owned(),
                pid,
            }),
            Err(Refused::Io(e)) => Err(io_err(&path)(e)),
        }
    }

    /// Probes the instance lock of `data_dir` without keeping it. Creates
    /// nothing: a missing data dir or lock file is [`LockState::Free`].
    pub fn holder(data_dir: &DataDir) -> Result<LockState, LockError> {
        let path = data_dir.lock_file();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockState::Free),
            Err(e) => return Err(io_err(&path)(e)),
        };
        if super::flock::held_elsewhere(&file).map_err(io_err(&path))? {
            Ok(LockState::HeldBy(pid_file::read_pid(&file)))
        } else {
            Ok(LockState::Free)
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The locked file (kept open; closing it releases the lock).
    pub fn file(&self) -> &File {
        &self.file
    }
}
