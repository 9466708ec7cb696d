//! The locks that mark temp paths in use: each registered temp path is
//! flock-held through its guard's descriptor (a worker's `TMPDIR` also
//! through the copy the worker inherits), so a sweeper, or
//! `systemd-tmpfiles`, can tell with a probe ([`super::flock_held`]) that
//! it is in use.

use std::fs::{File, TryLockError};
use std::io;
use std::time::Duration;

/// How long a path just created may be in someone's way: only a prober's
/// shared lock, held for an instant, can be.
const FRESH_WAIT: Duration = Duration::from_secs(1);
const PAUSE: Duration = Duration::from_millis(1);

/// Takes the exclusive flock on a temp path steward just created (open as
/// `file`), trying again briefly while a prober holds it.
pub fn lock_temp_path(file: &File) -> io::Result<()> {
    match super::flock::exclusive(file, FRESH_WAIT, PAUSE) {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "locked by another process",
        )),
        Err(TryLockError::Error(e)) => Err(e),
    }
}
