//! Advisory file locks: the data-dir instance lock (`steward.lock`, one
//! manager per data dir) and per-account session locks, taken on
//! `sessions/ID.lock` (never on the session file, which is the worker
//! library's own: see [`crate::paths::session_lock_of`]).
//!
//! Both are BSD `flock` locks taken through std's `File::try_lock` (stable
//! since Rust 1.89; `flock(LOCK_EX | LOCK_NB)` on Linux). A flock belongs to
//! the open file description: it is shared by `dup`/`fork`, survives
//! `execve`, and is released when the last copy is closed, so it can never
//! outlive its holders: there is no stale lock to clean up after a crash.
//! Two descriptions of one file conflict even inside one process.
//!
//! The probes ([`InstanceLock::holder`], [`SessionLock::is_locked_elsewhere`])
//! take a *shared* lock for an instant and drop it. Probes never disturb each
//! other, but an exclusive `acquire` racing a probe in that instant fails as
//! if the file were held; callers that must never see that (a supervisor
//! starting a worker) should not run probes against their own files.
//! The SQLite database files are never locked here.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::paths::{DataDir, session_companions, session_lock_of};

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

fn holder_text(pid: Option<i32>) -> String {
    match pid {
        Some(pid) => format!("steward pid {pid}"),
        None => "another steward process".to_owned(),
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

/// True if another open file description holds a lock on `file` (probed
/// with a shared lock that is released at once).
fn probe(file: &File) -> std::io::Result<bool> {
    match file.try_lock_shared() {
        Ok(()) => {
            file.unlock()?;
            Ok(false)
        }
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The pid a holder wrote into the lock file (`1234\n`), if any.
fn read_pid(file: &File) -> Option<i32> {
    let mut text = String::new();
    // A fresh description reads from offset 0; `&File` implements Read.
    let mut f = file;
    f.read_to_string(&mut text).ok()?;
    text.trim().parse().ok().filter(|&pid: &i32| pid > 0)
}

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
    /// when another steward has it. Never blocks.
    pub fn acquire(data_dir: &DataDir) -> Result<InstanceLock, LockError> {
        let root = data_dir.root();
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        let path = data_dir.lock_file();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false) // the holder's pid must survive our failed attempt
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::InUse {
                    dir: root.to_owned(),
                    pid: read_pid(&file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0).map_err(io_err(&path))?;
        file.write_all_at(pid.as_bytes(), 0)
            .map_err(io_err(&path))?;
        Ok(InstanceLock { file, path })
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
        if probe(&file).map_err(io_err(&path))? {
            Ok(LockState::HeldBy(read_pid(&file)))
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

/// An exclusive lock on an account's lock file (`sessions/ID.lock`), which
/// stands for its session file. The lock file is never deleted while a
/// steward may run: a new file at the path would let a second process lock
/// a second inode while the first still holds the old one. Dropping it closes
/// steward's copy of the open file description; the lock itself lasts until
/// every copy is closed (e.g. the one handed to the worker at spawn).
#[derive(Debug)]
pub struct SessionLock {
    file: File,
    path: PathBuf,
}

/// Opens an account's lock file (creating it, mode 0600, if missing)
/// without following a symlink and only if it is a regular file, so nothing
/// is ever created or locked through a link planted at the path.
pub fn open_lock_file(path: &Path) -> Result<File, LockError> {
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
    /// open file description, even in this process) holds it. Never blocks.
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

    /// True if some open file description other than a fresh one holds a
    /// lock on `path` — including a [`SessionLock`] of this very process.
    /// A missing or unreadable file counts as not locked.
    pub fn is_locked_elsewhere(path: &Path) -> bool {
        match File::open(path) {
            Ok(file) => probe(&file).unwrap_or(false),
            Err(_) => false,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    /// A `flock FILE sleep 30` child in its own process group, killed (group
    /// and all) on drop: flock(1) hands the locked fd to `sleep` too.
    struct Holder(Child);

    impl Holder {
        fn spawn(path: &Path) -> Holder {
            let child = Command::new("flock")
                .arg(path)
                .args(["sleep", "30"])
                .process_group(0)
                .spawn()
                .unwrap();
            Holder(child)
        }
    }

    impl Drop for Holder {
        fn drop(&mut self) {
            let pgid = rustix::process::Pid::from_raw(self.0.id() as i32).unwrap();
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
            let _ = self.0.wait();
        }
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until nobody holds a lock on `path`. Not instant after a drop
    /// in a test binary: a child being spawned by another test thread holds
    /// copies of all our descriptors (close-on-exec or not) between its
    /// fork and its exec.
    fn wait_free(path: &Path) {
        wait_until("the lock to be free", || {
            !SessionLock::is_locked_elsewhere(path)
        });
    }

    fn flock_n_succeeds(path: &Path) -> bool {
        Command::new("flock")
            .args(["-n"])
            .arg(path)
            .arg("true")
            .status()
            .unwrap()
            .success()
    }

    #[test]
    fn instance_lock_excludes_a_second_description_and_names_our_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path().join("nested/data"));
        assert_eq!(InstanceLock::holder(&dd).unwrap(), LockState::Free);
        assert!(!dd.root().exists(), "holder() must not create the data dir");

        let lock = InstanceLock::acquire(&dd).unwrap();
        let me = std::process::id() as i32;
        assert_eq!(
            std::fs::read_to_string(dd.lock_file()).unwrap(),
            format!("{me}\n")
        );
        let err = InstanceLock::acquire(&dd).unwrap_err();
        assert!(
            matches!(err, LockError::InUse { pid: Some(p), .. } if p == me),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "data dir {} is in use by steward pid {me}",
                dd.root().display()
            )
        );
        assert_eq!(
            InstanceLock::holder(&dd).unwrap(),
            LockState::HeldBy(Some(me))
        );
        // The failed attempt did not wipe the holder's pid.
        assert_eq!(
            std::fs::read_to_string(dd.lock_file()).unwrap(),
            format!("{me}\n")
        );

        drop(lock);
        wait_free(&dd.lock_file());
        assert_eq!(InstanceLock::holder(&dd).unwrap(), LockState::Free);
        let again = InstanceLock::acquire(&dd).unwrap();
        assert_eq!(again.path(), dd.lock_file());
    }

    #[test]
    fn instance_lock_is_visible_to_other_processes() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path());
        let lock = InstanceLock::acquire(&dd).unwrap();
        assert!(
            !flock_n_succeeds(&dd.lock_file()),
            "child got the lock we hold"
        );
        drop(lock);
        wait_free(&dd.lock_file());
        assert!(flock_n_succeeds(&dd.lock_file()), "lock not freed by drop");
    }

    #[test]
    fn instance_lock_held_by_a_non_steward_has_no_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path());
        std::fs::write(dd.lock_file(), "").unwrap();
        let _holder = Holder::spawn(&dd.lock_file());
        wait_until("flock child to hold the lock", || {
            InstanceLock::holder(&dd).unwrap() != LockState::Free
        });
        let err = InstanceLock::acquire(&dd).unwrap_err();
        assert!(matches!(err, LockError::InUse { pid: None, .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "data dir {} is in use by another steward process",
                dd.root().display()
            )
        );
    }

    #[test]
    fn a_session_path_that_is_a_symlink_or_not_a_file_is_refused_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, "keep").unwrap();
        let sessions = tmp.path().join("sessions");
        std::fs::create_dir(&sessions).unwrap();

        let link = sessions.join("a.lock");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let err = SessionLock::try_acquire(&link).err().unwrap();
        assert!(matches!(err, LockError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("a.lock is a symlink"), "{err}");
        let session = sessions.join("a.session");
        std::os::unix::fs::symlink(&outside, &session).unwrap();
        let err = check_session_path(&session).unwrap_err();
        assert!(matches!(err, LockError::Symlink { .. }), "{err}");
        assert!(check_session_path(&sessions.join("missing.session")).is_ok());
        assert!(matches!(
            check_session_path(&sessions),
            Err(LockError::NotRegular { .. })
        ));
        assert!(!crate::proc::flock_holders(&outside).contains(&(std::process::id() as i32)));
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");

        // A dangling link: O_CREAT must not create its target.
        let dangling = sessions.join("b.lock");
        let target = tmp.path().join("would-be-created");
        std::os::unix::fs::symlink(&target, &dangling).unwrap();
        let err = SessionLock::try_acquire(&dangling).err().unwrap();
        assert!(matches!(err, LockError::Symlink { .. }), "{err}");
        assert!(!target.exists());

        let fifo = sessions.join("c.lock");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let err = SessionLock::try_acquire(&fifo).err().unwrap();
        assert!(matches!(err, LockError::NotRegular { .. }), "{err}");
    }

    #[test]
    fn session_lock_detects_a_holder_elsewhere() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sessions/acc.lock");
        assert!(!SessionLock::is_locked_elsewhere(&path), "missing file");

        // Create it (0600) and release it.
        let lock = SessionLock::try_acquire(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(lock.path(), path);
        drop(lock);
        wait_free(&path);

        let holder = Holder::spawn(&path);
        wait_until("flock child to hold the session lock", || {
            SessionLock::is_locked_elsewhere(&path)
        });
        let err = SessionLock::try_acquire(&path).unwrap_err();
        assert!(
            matches!(&err, LockError::Held { path: p } if *p == path),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("{} is locked by another process", path.display())
        );

        // Kill flock and its sleep; the lock goes once both have exited.
        drop(holder);
        wait_free(&path);
        let lock = SessionLock::try_acquire(&path).unwrap();
        assert!(!flock_n_succeeds(&path));
        drop(lock);
        wait_free(&path);
        assert!(flock_n_succeeds(&path));
    }

    #[test]
    fn session_lock_lives_while_any_copy_of_the_description_is_open() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("acc.lock");
        let lock = SessionLock::try_acquire(&path).unwrap();
        // A dup shares the description, as the worker's inherited fd does.
        let copy = lock.file().try_clone().unwrap();
        drop(lock);
        assert!(SessionLock::is_locked_elsewhere(&path));
        assert!(matches!(
            SessionLock::try_acquire(&path),
            Err(LockError::Held { .. })
        ));
        drop(copy);
        wait_free(&path);
        SessionLock::try_acquire(&path).unwrap();
    }
}
