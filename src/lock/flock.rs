//! The flock primitives the locks are made of: an exclusive lock taken with
//! a grace, the probe that tells whether another description holds one, and
//! who the live holders of a path are.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use rustix::fs::OFlags;

/// Takes an exclusive flock on `file`, trying again every `pause` for up
/// to `wait` while another description holds it (`Duration::ZERO`: one
/// try). Never blocks in the kernel.
pub(super) fn exclusive(file: &File, wait: Duration, pause: Duration) -> Result<(), TryLockError> {
    crate::retry::within(
        wait,
        pause,
        || file.try_lock(),
        |e| matches!(e, TryLockError::WouldBlock),
    )
}

/// True if another open file description holds a lock on `file` (probed
/// with a shared lock that is released at once).
pub(super) fn held_elsewhere(file: &File) -> std::io::Result<bool> {
    match file.try_lock_shared() {
        Ok(()) => {
            file.unlock()?;
            Ok(false)
        }
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Whether someone holds a flock on `path`, probed with a shared lock taken
/// and dropped at once on a fresh description (`O_NOFOLLOW | O_NONBLOCK`, so
/// a symlink is never followed and a fifo never blocks). A symlink, a
/// missing or an unopenable path counts as not held.
pub fn flock_held(path: &Path) -> bool {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(_) => return false,
    };
    flock_held_on(&file)
}

/// Whether another open file description holds a flock on the file open
/// as `file` (the probe of [`flock_held`] on a descriptor the caller then
/// works through, so what was probed is what is acted on). A failed probe
/// counts as not held.
pub fn flock_held_on(file: &File) -> bool {
    held_elsewhere(file).unwrap_or(false)
}

/// The live processes that hold `path`: flock holders from `/proc/locks`
/// that are still alive (the pid there is the process that *took* the lock,
/// which may be a dead steward whose worker inherited it), else every
/// process with the path open (`/proc/*/fd`).
pub fn live_holders(path: &Path) -> Vec<i32> {
    let alive = |pid: &i32| crate::proc::ProcId::of(*pid).is_ok_and(|p| p.is_alive());
    let mut pids: Vec<i32> = crate::proc::flock_holders(path)
        .into_iter()
        .filter(alive)
        .collect();
    if pids.is_empty() {
        pids = crate::proc::open_file_holders(path)
            .into_iter()
            .filter(alive)
            .collect();
    }
    pids
}
