//! Per-account session locks on `sessions/ID.lock`, handed down to the
//! account's worker, and who uses an account's session file.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{LockError, io_err};
use crate::paths::{session_companions, session_lock_of};

/// An exclusive lock on an account's lock file (`sessions/ID.lock`), which
/// stands for its session file. The lock file is never deleted while a
/// steward may run. Dropping it closes steward's copy of the open file
/// description; the lock itself lasts until every copy is closed (e.g. the
/// one handed to the worker at spawn).
#[derive(Debug)]
pub struct SessionLock {
    file: File,
    path: PathBuf,
}

/// Opens an account's lock file (creating it, mode 0600, if missing)
/// without following a symlink and only if it is a regular file, so nothing
/// is ever created or locked through a link planted at the path.
fn open_lock_file(path: &Path) -> Result<File, LockError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false) // it is the worker's data
        .mode(0o600)
        // O_NOFOLLOW: a symlink as the last component fails with ELOOP, even
        // a dangling one with O_CREAT (nothing is created at its target).
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                LockError::Symlink {
                    path: path.to_owned(),
                }
            } else {
                io_err(path)(e)
            }
        })?;
    // fstat of what was opened, not a second look at the path: no race.
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.file_type().is_file() {
        return Err(LockError::NotRegular {
            path: path.to_owned(),
        });
    }
    Ok(file)
}

/// Refuses a session path that is a symlink or not a regular file (a FIFO,
/// a directory). A missing file is fine: the worker's library creates it.
/// steward never opens the session file; this only keeps a worker from
/// being started on a path someone planted a link at.
pub fn check_session_path(path: &Path) -> Result<(), LockError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
        Ok(meta) if meta.file_type().is_symlink() => Err(LockError::Symlink {
            path: path.to_owned(),
        }),
        Ok(meta) if !meta.file_type().is_file() => Err(LockError::NotRegular {
            path: path.to_owned(),
        }),
        Ok(_) => Ok(()),
    }
}

impl SessionLock {
    /// Creates `path` if missing (mode 0600, parent dirs included) and takes
    /// an exclusive lock on it; [`LockError::Held`] if anyone else (any other
    /// open file description, even in this process) holds it. Never blocks,
    /// nor tries twice: whether a holder is worth waiting for is the
    /// caller's to judge (the supervisor waits out its own descriptions'
    /// copies in a child between fork and exec).
    pub fn try_acquire(path: &Path) -> Result<SessionLock, LockError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(SessionLock {
                file,
                path: path.to_owned(),
            }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held {
                path: path.to_owned(),
            }),
            Err(TryLockError::Error(e)) => Err(io_err(path)(e)),
        }
    }

    /// The locked file. Its description is what a worker inherits (after
    /// clearing `FD_CLOEXEC` on a dup in `pre_exec`) to share the lock.
    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The live processes other than steward that hold the account's lock or
/// have its session file (or a companion) open: while there is one, the
/// file is some worker's and is not moved.
pub fn session_users(session: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut pids = crate::proc::flock_holders(&session_lock_of(session));
    for file in std::iter::once(session.to_path_buf()).chain(session_companions(session)) {
        pids.extend(crate::proc::open_file_holders(&file));
    }
    pids.retain(|&p| p != me);
    pids.sort_unstable();
    pids.dedup();
    pids
}
