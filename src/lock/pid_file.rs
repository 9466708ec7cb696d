//! Lock files that name their holder: an exclusive flock on a file that
//! holds the holder's pid (`1234\n`), so that whoever is refused can say
//! who is in the way. The instance lock and the sweep lock are such files.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

/// Between two tries while a lock file is held within its grace.
const PAUSE: Duration = Duration::from_millis(5);

/// Why a pid lock file was not taken.
pub(super) enum Refused {
    /// Another description holds it; the pid written in it, if any.
    Held(Option<i32>),
    Io(io::Error),
}

/// Opens `path` (created 0600 if missing, never truncated: the holder's pid
/// must survive a failed attempt), takes its exclusive flock, trying again
/// for up to `grace` while it is held, and writes our pid into it.
pub(super) fn take(path: &Path, grace: Duration) -> Result<File, Refused> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(Refused::Io)?;
    match super::flock::exclusive(&file, grace, PAUSE) {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(Refused::Held(read_pid(&file))),
        Err(TryLockError::Error(e)) => return Err(Refused::Io(e)),
    }
    let pid = format!("{}\n", std::process::id());
    file.set_len(0).map_err(Refused::Io)?;
    file.write_all_at(pid.as_bytes(), 0).map_err(Refused::Io)?;
    Ok(file)
}

/// The pid a holder wrote into the lock file (`1234\n`), if any.
pub(super) fn read_pid(file: &File) -> Option<i32> {
    let mut text = String::new();
    // A fresh description reads from offset 0; `&File` implements Read.
    let mut f = file;
    f.read_to_string(&mut text).ok()?;
    text.trim().parse().ok().filter(|&pid: &i32| pid > 0)
}
