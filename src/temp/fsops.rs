//! Filesystem primitives shared by the temp registry and the orphan sweep:
//! measuring and removing trees without following symlinks or crossing
//! filesystems, and probing flocks.
//!
//! Removal works on directory descriptors (`openat` with `O_NOFOLLOW |
//! O_DIRECTORY`, `unlinkat`), never on re-resolved path strings, so a
//! directory swapped for a symlink halfway through cannot redirect it: a
//! symlink is always unlinked itself, its target is never opened. Every
//! directory is `fstat`ed after opening and skipped when its `st_dev` differs
//! from the tree's (a mount point inside a temp dir is left alone).

use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags};
use serde::{Deserialize, Serialize};

/// Deeper trees are refused rather than recursed into (one descriptor per level).
const MAX_DEPTH: u32 = 256;

/// What a walk (or a removal) saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measure {
    /// Regular files, symlinks and other non-directories.
    pub files: u64,
    /// Directories, the top one included.
    pub dirs: u64,
    /// Sum of `st_size` of the non-directories.
    pub bytes: u64,
    /// The newest mtime seen (unix ms), 0 if none.
    pub newest_ms: i64,
    /// Directories skipped because they are on another filesystem.
    pub other_dev: u64,
}

impl Measure {
    fn add_stat(&mut self, st: &rustix::fs::Stat) {
        self.newest_ms = self.newest_ms.max(mtime_ms(st));
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            self.dirs += 1;
        } else {
            self.files += 1;
            self.bytes += u64::try_from(st.st_size).unwrap_or(0);
        }
    }

    pub fn absorb(&mut self, other: &Measure) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.bytes += other.bytes;
        self.newest_ms = self.newest_ms.max(other.newest_ms);
        self.other_dev += other.other_dev;
    }
}

/// Modification time of a stat in unix milliseconds.
// `st_mtime` is i64 on 64-bit targets but not everywhere: keep the conversion.
#[allow(clippy::useless_conversion)]
pub fn mtime_ms(st: &rustix::fs::Stat) -> i64 {
    i64::from(st.st_mtime)
        .saturating_mul(1000)
        .saturating_add(st.st_mtime_nsec as i64 / 1_000_000)
}

/// `lstat`: never follows a final symlink.
pub fn lstat(path: &Path) -> io::Result<rustix::fs::Stat> {
    Ok(rustix::fs::lstat(path)?)
}

pub fn is_dir(st: &rustix::fs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

pub fn is_symlink(st: &rustix::fs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Symlink
}

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn open_dir_at(dirfd: BorrowedFd<'_>, name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dirfd,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The names in a directory, `.` and `..` excluded.
fn names(dirfd: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    let mut out = Vec::new();
    for entry in Dir::read_from(dirfd)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        out.push(name.to_owned());
    }
    Ok(out)
}

/// Splits `path` into an open parent directory and the final name.
fn parent_and_name(path: &Path) -> io::Result<(OwnedFd, CString)> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path has no parent or no file name",
        ));
    };
    let parent = rustix::fs::openat(
        CWD,
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok((parent, cstr(name)?))
}

/// Measures `path` (lstat, then recursively for a directory on `dev`, or on
/// its own device when `dev` is `None`). A missing path is an error
/// (`NotFound`); unreadable subdirectories are skipped.
pub fn measure(path: &Path, dev: Option<u64>) -> io::Result<Measure> {
    let (parent, name) = parent_and_name(path)?;
    let st = rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mut m = Measure::default();
    if is_dir(&st) {
        let dev = dev.unwrap_or(st.st_dev);
        if st.st_dev != dev {
            m.other_dev += 1;
            return Ok(m);
        }
        m.add_stat(&st);
        let fd = open_dir_at(parent.as_fd(), &name)?;
        walk(fd.as_fd(), dev, &mut m, 1);
    } else {
        m.add_stat(&st);
    }
    Ok(m)
}

fn walk(dirfd: BorrowedFd<'_>, dev: u64, m: &mut Measure, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(names) = names(dirfd) else { return };
    for name in names {
        let Ok(st) = rustix::fs::statat(dirfd, &name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if is_dir(&st) {
            if st.st_dev != dev {
                m.other_dev += 1;
                continue;
            }
            m.add_stat(&st);
            if let Ok(fd) = open_dir_at(dirfd, &name) {
                walk(fd.as_fd(), dev, m, depth + 1);
            }
        } else {
            m.add_stat(&st);
        }
    }
}

/// Why a removal did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("{0} is on another filesystem: left alone")]
    OtherFilesystem(String),
    #[error("{what} could not be removed completely: {source}")]
    Partial {
        what: String,
        /// What was removed before the error.
        removed: Measure,
        #[source]
        source: io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

/// Removes `path`: a symlink or file is unlinked (a symlink's target is
/// never touched), a directory is emptied depth-first through directory
/// descriptors and removed. Directories on a device other than `dev` are
/// never entered (`dev` = `None`: the device of `path` itself). A path that
/// is already gone is `Ok` with an empty measure. The caller checks that
/// `path` is inside the data dir first.
pub fn remove_path(path: &Path, dev: Option<u64>) -> Result<Measure, RemoveError> {
    let what = path.display().to_string();
    let io_err = |source: io::Error| RemoveError::Io {
        what: what.clone(),
        source,
    };
    let (parent, name) = parent_and_name(path).map_err(io_err)?;
    let st = match rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(Measure::default()),
        Err(e) => return Err(io_err(e.into())),
    };
    let mut m = Measure::default();
    if !is_dir(&st) {
        if dev.is_some_and(|d| d != st.st_dev) {
            return Err(RemoveError::OtherFilesystem(what));
        }
        match rustix::fs::unlinkat(&parent, &name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(io_err(e.into())),
        }
        m.add_stat(&st);
        return Ok(m);
    }
    let dev = dev.unwrap_or(st.st_dev);
    if st.st_dev != dev {
        return Err(RemoveError::OtherFilesystem(what));
    }
    let fd = open_dir_at(parent.as_fd(), &name).map_err(io_err)?;
    let opened = rustix::fs::fstat(&fd).map_err(|e| io_err(e.into()))?;
    if opened.st_dev != dev || opened.st_ino != st.st_ino {
        return Err(RemoveError::OtherFilesystem(what));
    }
    let mut first_err = None;
    empty_dir(fd.as_fd(), dev, &mut m, 1, &mut first_err);
    drop(fd);
    match rustix::fs::unlinkat(&parent, &name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => m.add_stat(&st),
        Err(e) => {
            first_err.get_or_insert(e.into());
        }
    }
    match first_err {
        None => Ok(m),
        Some(source) => Err(RemoveError::Partial {
            what,
            removed: m,
            source,
        }),
    }
}

fn empty_dir(
    dirfd: BorrowedFd<'_>,
    dev: u64,
    m: &mut Measure,
    depth: u32,
    first_err: &mut Option<io::Error>,
) {
    if depth > MAX_DEPTH {
        first_err.get_or_insert(io::Error::other("directory tree too deep"));
        return;
    }
    let names = match names(dirfd) {
        Ok(n) => n,
        Err(e) => {
            first_err.get_or_insert(e);
            return;
        }
    };
    for name in names {
        let st = match rustix::fs::statat(dirfd, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => {
                first_err.get_or_insert(e.into());
                continue;
            }
        };
        if is_dir(&st) {
            if st.st_dev != dev {
                m.other_dev += 1;
                first_err.get_or_insert(io::Error::other(format!(
                    "{} is a mount point (left alone)",
                    name.to_string_lossy()
                )));
                continue;
            }
            match open_dir_at(dirfd, &name) {
                Ok(sub) => {
                    let same = rustix::fs::fstat(&sub)
                        .is_ok_and(|o| o.st_dev == dev && o.st_ino == st.st_ino);
                    if !same {
                        first_err
                            .get_or_insert(io::Error::other("directory changed while removing"));
                        continue;
                    }
                    empty_dir(sub.as_fd(), dev, m, depth + 1, first_err);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                    continue;
                }
            }
            match rustix::fs::unlinkat(dirfd, &name, AtFlags::REMOVEDIR) {
                Ok(()) => m.add_stat(&st),
                Err(rustix::io::Errno::NOENT) => {}
                Err(e) => {
                    first_err.get_or_insert(e.into());
                }
            }
        } else {
            match rustix::fs::unlinkat(dirfd, &name, AtFlags::empty()) {
                Ok(()) => m.add_stat(&st),
                Err(rustix::io::Errno::NOENT) => {}
                Err(e) => {
                    first_err.get_or_insert(e.into());
                }
            }
        }
    }
}

/// Whether someone holds a flock on `path`, probed with a shared lock taken
/// and dropped at once on a fresh description (`O_NOFOLLOW | O_NONBLOCK`, so
/// a symlink is never followed and a fifo never blocks). A symlink, a
/// missing or an unopenable path counts as not held.
pub fn flock_held(path: &Path) -> bool {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(probe_flags())
        .open(path)
    {
        Ok(f) => f,
        Err(_) => return false,
    };
    probe(&file)
}

fn probe_flags() -> i32 {
    (OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32
}

fn probe(file: &File) -> bool {
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn removes_a_tree_but_only_the_link_of_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "precious").unwrap();
        let tree = tmp.path().join("tree");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::write(tree.join("a/b/f"), "12345").unwrap();
        std::fs::write(tree.join("g"), "1").unwrap();
        symlink(&outside, tree.join("a/link")).unwrap();
        let m = measure(&tree, None).unwrap();
        assert_eq!((m.files, m.dirs, m.bytes >= 6), (3, 3, true));
        let removed = remove_path(&tree, None).unwrap();
        assert_eq!((removed.files, removed.dirs), (3, 3));
        assert!(!tree.exists());
        assert_eq!(
            std::fs::read_to_string(outside.join("keep")).unwrap(),
            "precious"
        );
        // A top-level symlink: the link goes, the target stays.
        let link = tmp.path().join("toplink");
        symlink(&outside, &link).unwrap();
        remove_path(&link, None).unwrap();
        assert!(std::fs::symlink_metadata(&link).is_err());
        assert!(outside.join("keep").exists());
        // Gone already: fine.
        assert_eq!(remove_path(&link, None).unwrap(), Measure::default());
    }

    #[test]
    fn flock_probe_sees_a_held_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        assert!(!flock_held(&dir));
        let f = File::open(&dir).unwrap();
        f.lock().unwrap();
        assert!(flock_held(&dir));
        drop(f);
        // A test thread forking a child copies our descriptors until its exec.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while flock_held(&dir) {
            assert!(std::time::Instant::now() < end, "lock never freed");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let link = tmp.path().join("l");
        symlink(&dir, &link).unwrap();
        assert!(!flock_held(&link));
    }
}
