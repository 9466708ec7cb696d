//! Every file lock steward takes, hands down or probes: the data-dir
//! instance lock (`steward.lock`, one manager per data dir), the sweep lock
//! (`sweep.lock`, one sweeper at a time), per-account session locks, taken
//! on `sessions/ID.lock` (never on the session file, which is the worker
//! library's own: see [`crate::paths::session_lock_of`]), the locks that
//! mark temp paths in use, and the probes and holder look-ups for all of
//! them.
//!
//! All are BSD `flock` locks taken through std's `File::try_lock` (stable
//! since Rust 1.89; `flock(LOCK_EX | LOCK_NB)` on Linux). A flock belongs to
//! the open file description: it is shared by `dup`/`fork`, survives
//! `execve`, and is released when the last copy is closed, so it can never
//! outlive its holders: there is no stale lock to clean up after a crash.
//! Two descriptions of one file conflict even inside one process. Lock
//! files are never deleted: a new file at the path would let a second
//! process lock a second inode while the first still holds the old one.
//!
//! The probes ([`InstanceLock::holder`], [`flock_held`]) take a *shared*
//! lock for an instant and drop it. Probes never disturb each other, but an
//! exclusive lock racing a probe in that instant fails as if the file were
//! held: the sweep lock and temp-path locks are therefore tried again for a
//! short grace ([`crate::retry`]); callers that must never see that (a
//! supervisor starting a worker) should not run probes against their own
//! files. The SQLite database files are never locked here.

mod flock;
mod instance;
mod pid_file;
mod session;
mod sweep;
mod temp;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use flock::{flock_held, flock_held_on, live_holders};
pub use instance::InstanceLock;
pub use session::{SessionLock, check_session_path, session_users};
pub use sweep::{SweepLock, SweepLockError};
pub use temp::lock_temp_path;

/// Lock failures. Display is one line.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another steward holds the data dir's instance lock.
    #[error("data dir {} is in use by {}", dir.display(), holder_text(*pid))]
    InUse { dir: PathBuf, pid: Option<i32> },
    /// Another open file description holds the lock on an account's lock file.
    #[error("{} is locked by another process", path.display())]
    Held { path: PathBuf },
    /// A session path is a symbolic link: whoever could plant it would
    /// choose the file a worker (maybe root's) writes to.
    #[error("{} is a symlink: steward never follows it; remove it or replace it with the real file", path.display())]
    Symlink { path: PathBuf },
    /// A session path is something other than a regular file (a FIFO, a
    /// device, a directory).
    #[error("{} is not a regular file: steward only uses a real file there; remove it or replace it with the real file", path.display())]
    NotRegular { path: PathBuf },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Who holds a lock file that names its holder (the instance and the sweep
/// lock), in every message that says so.
fn holder_text(pid: Option<i32>) -> String {
    match pid {
        Some(pid) => format!("steward pid {pid}"),
        None => "a steward of unknown pid".to_owned(),
    }
}

/// Who holds a lock, as seen by a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    Free,
    /// Held; the pid written in the lock file, if one could be read.
    HeldBy(Option<i32>),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LockError + '_ {
    move |source| LockError::Io {
        path: path.to_owned(),
        source,
    }
}
