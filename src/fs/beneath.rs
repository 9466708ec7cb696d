//! [`Beneath`]: a directory descriptor on the data dir from which every
//! path that steward removes, moves or measures is resolved, so no symlink
//! anywhere on the path, and no rename between a plan and its apply, can
//! lead outside the data dir.
//!
//! Resolution uses `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS)` (Linux 5.6+), and where the kernel lacks it one
//! `openat(O_NOFOLLOW | O_DIRECTORY)` per component: the same rule, one
//! syscall per level. Path text is only split, never trusted: a path that is
//! not lexically inside the root, or that holds `..`, is refused before any
//! syscall.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{CWD, Mode, OFlags, ResolveFlags};

/// Set once `openat2` answered ENOSYS: the component walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// An open directory that paths are resolved beneath, never through a
/// symlink. Open it on the data dir (the root's own path is the operator's
/// choice and is followed once, at open).
#[derive(Debug)]
pub struct Beneath {
    root: PathBuf,
    fd: OwnedFd,
    /// Resolve by the component walk even where `openat2` exists (tests
    /// cover both ways with it).
    walk_only: bool,
}

/// A path refused before any syscall: outside the root, the root itself, or
/// holding `..`.
fn outside(path: &Path, root: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{} is not inside {}: refused",
            path.display(),
            root.display()
        ),
    )
}

/// Names the error a symlink on the way gives (`ELOOP` from both
/// `RESOLVE_NO_SYMLINKS` and `O_NOFOLLOW`), which reads badly as "too many
/// levels of symbolic links".
fn explain(e: rustix::io::Errno, path: &Path) -> io::Error {
    match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::XDEV => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} leads through a symlink: steward never follows one inside its data dir",
                path.display()
            ),
        ),
        other => other.into(),
    }
}

impl Beneath {
    /// Opens `root` (a directory) to resolve paths beneath it.
    pub fn open_root(root: &Path) -> io::Result<Beneath> {
        let fd = rustix::fs::openat(
            CWD,
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Beneath {
            root: root.to_owned(),
            fd,
            walk_only: false,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The descriptor of the root itself.
    pub fn root_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// `path` relative to the root: strictly inside it, made of plain names.
    pub fn relative<'p>(&self, path: &'p Path) -> io::Result<&'p Path> {
        let rel = path
            .strip_prefix(&self.root)
            .map_err(|_| outside(path, &self.root))?;
        let plain = rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !plain || rel.as_os_str().is_empty() {
            return Err(outside(path, &self.root));
        }
        Ok(rel)
    }

    /// Whether `path` lies strictly inside the root, by its text.
    pub fn contains(&self, path: &Path) -> bool {
        self.relative(path).is_ok()
    }

    /// Opens `path` (inside the root) with `flags`, following no symlink on
    /// the way, the last component included.
    pub fn open(&self, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = self.relative(path)?;
        self.open_relative(rel, flags).map_err(|e| explain(e, path))
    }

    /// Opens the directory `path`: the root itself, or a directory inside it.
    pub fn open_dir(&self, path: &Path) -> io::Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if path == self.root {
            return Ok(rustix::fs::openat(&self.fd, ".", flags, Mode::empty())?);
        }
        self.open(path, flags)
    }

    /// The directory that holds `path`, opened beneath the root, and the
    /// final name: what `unlinkat`, `renameat` and `statat` act on. The final
    /// component itself is not resolved (a symlink there is the caller's to
    /// treat as a link).
    pub fn parent_and_name(&self, path: &Path) -> io::Result<(OwnedFd, CString)> {
        let rel = self.relative(path)?;
        let name = rel.file_name().ok_or_else(|| outside(path, &self.root))?;
        let name = cstring(name)?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => {
                self.open_relative(p, flags).map_err(|e| explain(e, path))?
            }
            _ => rustix::fs::openat(&self.fd, ".", flags, Mode::empty())?,
        };
        Ok((parent, name))
    }

    /// The entries of the directory `dir` (the root or a directory inside
    /// it, reached as [`Beneath::open_dir`] does), as full paths.
    pub fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let fd = self.open_dir(dir)?;
        let mut out = Vec::new();
        for entry in rustix::fs::Dir::read_from(&fd)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                out.push(dir.join(OsStr::from_bytes(name)));
            }
        }
        Ok(out)
    }

    fn open_relative(&self, rel: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        if !self.walk_only && !NO_OPENAT2.load(Ordering::Relaxed) {
            let resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(&self.fd, rel, flags, Mode::empty(), resolve) {
                Err(rustix::io::Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
                // EAGAIN: a concurrent rename made the kernel give up on a
                // race-free lookup; the walk below has no such limit.
                Err(rustix::io::Errno::AGAIN) => {}
                // A symlink opened with `O_DIRECTORY | O_NOFOLLOW` says
                // ENOTDIR; the walk tells it from a plain file.
                Err(rustix::io::Errno::NOTDIR) => {}
                other => return other,
            }
        }
        walk(self.fd.as_fd(), rel, flags)
    }
}

/// The component walk: `O_NOFOLLOW | O_DIRECTORY` for every directory on the
/// way, `flags` (with `O_NOFOLLOW`) for the last.
fn walk(root: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    let names: Vec<&OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut current: Option<OwnedFd> = None;
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        let at = current.as_ref().map_or(root, |fd| fd.as_fd());
        let next = rustix::fs::openat(
            at,
            name.as_bytes(),
            if last { flags } else { dir_flags },
            Mode::empty(),
        );
        current = Some(match next {
            // `O_NOFOLLOW | O_DIRECTORY` on a symlink says ENOTDIR: tell it as
            // the symlink it is, as `openat2` does.
            Err(rustix::io::Errno::NOTDIR) if is_symlink(at, name) => {
                return Err(rustix::io::Errno::LOOP);
            }
            other => other?,
        });
    }
    // `relative` never yields an empty path, so the loop ran at least once.
    current.ok_or(rustix::io::Errno::INVAL)
}

fn is_symlink(at: BorrowedFd<'_>, name: &OsStr) -> bool {
    rustix::fs::statat(at, name.as_bytes(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink
    })
}

fn cstring(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn open(root: &Path, walk_only: bool) -> Beneath {
        Beneath {
            walk_only,
            ..Beneath::open_root(root).unwrap()
        }
    }

    fn setup(walk_only: bool) -> (tempfile::TempDir, tempfile::TempDir, Beneath) {
        let data = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(data.path().join("tmp/real")).unwrap();
        std::fs::write(data.path().join("tmp/real/f"), "x").unwrap();
        std::fs::write(outside.path().join("victim"), "keep").unwrap();
        symlink(outside.path(), data.path().join("tmp/evil")).unwrap();
        let b = open(data.path(), walk_only);
        (data, outside, b)
    }

    fn both_ways(test: impl Fn(bool)) {
        test(false);
        test(true);
    }

    #[test]
    fn opens_real_paths_and_refuses_every_symlink_on_the_way() {
        both_ways(|walk_only| {
            let (data, _outside, b) = setup(walk_only);
            let root = data.path();
            assert!(b.open(&root.join("tmp/real/f"), OFlags::RDONLY).is_ok());
            assert!(b.open_dir(&root.join("tmp/real")).is_ok());
            for through in ["tmp/evil/victim", "tmp/evil"] {
                let err = b.open(&root.join(through), OFlags::RDONLY).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{through}");
                assert!(err.to_string().contains("symlink"), "{err}");
            }
            let err = b
                .parent_and_name(&root.join("tmp/evil/victim"))
                .unwrap_err();
            assert!(err.to_string().contains("symlink"), "{err}");
            // The final name of parent_and_name is not resolved: the link itself.
            let (_, name) = b.parent_and_name(&root.join("tmp/evil")).unwrap();
            assert_eq!(name.to_bytes(), b"evil");
        });
    }

    #[test]
    fn a_symlinked_subdir_of_the_root_is_refused_too() {
        both_ways(|walk_only| {
            let data = tempfile::tempdir().unwrap();
            let outside = tempfile::tempdir().unwrap();
            std::fs::write(outside.path().join("victim"), "keep").unwrap();
            symlink(outside.path(), data.path().join("trash")).unwrap();
            let b = open(data.path(), walk_only);
            assert!(
                b.parent_and_name(&data.path().join("trash/victim"))
                    .is_err()
            );
            assert!(b.open_dir(&data.path().join("trash")).is_err());
        });
    }

    #[test]
    fn text_outside_the_root_or_with_dotdot_is_refused_before_any_syscall() {
        let data = tempfile::tempdir().unwrap();
        let b = Beneath::open_root(data.path()).unwrap();
        let root = data.path();
        for bad in [
            root.to_path_buf(),
            root.join("tmp/../../etc"),
            root.join(".."),
            PathBuf::from("/etc/passwd"),
            PathBuf::from(format!("{}x/a", root.display())),
        ] {
            assert!(!b.contains(&bad), "{}", bad.display());
            assert_eq!(
                b.open(&bad, OFlags::RDONLY).unwrap_err().kind(),
                io::ErrorKind::PermissionDenied
            );
        }
        assert!(b.open_dir(root).is_ok(), "the root itself opens as a dir");
    }

    #[test]
    fn lists_a_real_directory_but_not_through_a_symlink() {
        let (data, _outside, b) = setup(false);
        let mut names = b.list(&data.path().join("tmp")).unwrap();
        names.sort();
        assert_eq!(
            names,
            [data.path().join("tmp/evil"), data.path().join("tmp/real")]
        );
        assert!(b.list(&data.path().join("tmp/evil")).is_err());
    }
}
