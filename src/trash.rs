//! The trash: session files are never deleted outright; they are moved to
//! `<data-dir>/trash/` under a timestamped name, from where they can be
//! restored. Both moves are `renameat` between directories reached beneath
//! the data dir's descriptor ([`Beneath`]), so a symlinked `sessions/` or
//! `trash/` can never move a file in or out of somewhere else.

use std::ffi::CStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, RenameFlags};

use crate::fs::Beneath;
use crate::paths::DataDir;
use crate::time::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum TrashError {
    #[error("refusing to trash {0}: it is outside the data dir")]
    OutsideDataDir(PathBuf),
    #[error("cannot move {path} to trash: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} already exists: nothing was overwritten")]
    Exists(PathBuf),
    #[error("cannot restore {from} to {to}: {source}")]
    Restore {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
}

/// Opens the data dir's subdirectory `dir` (created 0700 if missing), never
/// through a symlink.
fn open_subdir(anchor: &Beneath, dir: &Path) -> io::Result<OwnedFd> {
    let rel = anchor.relative(dir)?;
    match rustix::fs::mkdirat(anchor.root_fd(), rel, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    anchor.open_dir(dir)
}

/// Moves `path` into the trash as `<file name>.<unix ms>`; returns the new path.
/// A missing `path` is not an error: there is nothing to keep (returns `None`).
pub fn move_to_trash(data_dir: &DataDir, path: &Path) -> Result<Option<PathBuf>, TrashError> {
    if !data_dir.contains(path) {
        return Err(TrashError::OutsideDataDir(path.to_path_buf()));
    }
    let io_err = |source| TrashError::Io {
        path: path.to_path_buf(),
        source,
    };
    let anchor = Beneath::open_root(data_dir.root()).map_err(io_err)?;
    let (from_dir, name) = match anchor.parent_and_name(path) {
        Ok(found) => found,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    match rustix::fs::statat(&from_dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => {}
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(io_err(e.into())),
    }
    let trash = data_dir.trash_dir();
    let trash_fd = open_subdir(&anchor, &trash).map_err(io_err)?;
    let stem = name.to_string_lossy().into_owned();
    // Two moves in the same millisecond get a counter; never an overwrite.
    for n in 0..1000 {
        let target = match n {
            0 => format!("{stem}.{}", now_ms()),
            n => format!("{stem}.{}.{n}", now_ms()),
        };
        let target_c = std::ffi::CString::new(target.as_str())
            .map_err(|_| io_err(io::ErrorKind::InvalidInput.into()))?;
        match rename_no_replace(&from_dir, &name, &trash_fd, &target_c) {
            Ok(()) => return Ok(Some(trash.join(target))),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(io_err(e.into())),
        }
    }
    Err(io_err(io::ErrorKind::AlreadyExists.into()))
}

/// Moves the trash entry `name` back to `to` (inside the data dir), never
/// over an existing file.
pub fn restore(data_dir: &DataDir, name: &str, to: &Path) -> Result<(), TrashError> {
    let from = data_dir.trash_dir().join(name);
    let fail = |source: io::Error| TrashError::Restore {
        from: from.clone(),
        to: to.to_path_buf(),
        source,
    };
    if !data_dir.contains(&from) || !data_dir.contains(to) || name.contains('/') {
        return Err(TrashError::OutsideDataDir(from.clone()));
    }
    let anchor = Beneath::open_root(data_dir.root()).map_err(fail)?;
    let trash_fd = anchor.open_dir(&data_dir.trash_dir()).map_err(fail)?;
    let to_parent = to
        .parent()
        .ok_or_else(|| fail(io::ErrorKind::InvalidInput.into()))?;
    let to_dir = open_subdir(&anchor, to_parent).map_err(fail)?;
    let (_, to_name) = anchor.parent_and_name(to).map_err(fail)?;
    let from_name =
        std::ffi::CString::new(name).map_err(|_| fail(io::ErrorKind::InvalidInput.into()))?;
    match rename_no_replace(&trash_fd, &from_name, &to_dir, &to_name) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(TrashError::Exists(to.to_path_buf())),
        Err(e) => Err(fail(e.into())),
    }
}

fn rename_no_replace(
    from_dir: &OwnedFd,
    from: &CStr,
    to_dir: &OwnedFd,
    to: &CStr,
) -> rustix::io::Result<()> {
    rustix::fs::renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn moves_inside_and_refuses_outside() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        std::fs::create_dir_all(data.sessions_dir()).unwrap();
        let file = data.session_file("alice");
        std::fs::write(&file, "state").unwrap();
        let moved = move_to_trash(&data, &file).unwrap().unwrap();
        assert!(!file.exists());
        assert!(moved.starts_with(data.trash_dir()));
        assert_eq!(std::fs::read_to_string(&moved).unwrap(), "state");
        assert!(move_to_trash(&data, &file).unwrap().is_none());
        let outside = tempfile::NamedTempFile::new().unwrap();
        assert!(matches!(
            move_to_trash(&data, outside.path()),
            Err(TrashError::OutsideDataDir(_))
        ));
        assert!(outside.path().exists());
        // And back, never over an existing file.
        let name = moved.file_name().unwrap().to_str().unwrap().to_owned();
        std::fs::write(&file, "newer").unwrap();
        assert!(matches!(
            restore(&data, &name, &file),
            Err(TrashError::Exists(_))
        ));
        std::fs::remove_file(&file).unwrap();
        restore(&data, &name, &file).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "state");
    }

    /// `sessions/` or `trash/` swapped for a symlink: nothing is moved out
    /// of or into the place it points to.
    #[test]
    fn a_symlinked_sessions_or_trash_dir_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        std::fs::write(outside.path().join("bob.session"), "theirs").unwrap();
        symlink(outside.path(), data.sessions_dir()).unwrap();
        let err = move_to_trash(&data, &data.session_file("bob")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(outside.path().join("bob.session").exists());

        std::fs::remove_file(data.sessions_dir()).unwrap();
        std::fs::create_dir(data.sessions_dir()).unwrap();
        std::fs::write(data.session_file("bob"), "ours").unwrap();
        symlink(outside.path(), data.trash_dir()).unwrap();
        assert!(move_to_trash(&data, &data.session_file("bob")).is_err());
        assert!(data.session_file("bob").exists(), "left where it was");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
    }
}
