//! The trash: session files are never deleted outright; they are moved to
//! `<data-dir>/trash/` under a timestamped name (their SQLite companions
//! beside them under the same one), from where they can be restored. Both moves are `renameat` between directories reached beneath
//! the data dir's descriptor ([`Beneath`]), so a symlinked `sessions/` or
//! `trash/` can never move a file in or out of somewhere else.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, RenameFlags};

use crate::fs::Beneath;
use crate::paths::{DataDir, SESSION_COMPANIONS};
use crate::time::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum TrashError {
    #[error("refusing to trash {0}: it is outside the data dir")]
    OutsideDataDir(PathBuf),
    #[error("cannot move {path} to trash: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is still in use by pid {pids:?}: left in place", path.display())]
    InUse { path: PathBuf, pids: Vec<i32> },
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

/// The trash name's parts: `alice.session.1700000000000[.2]` is
/// (`alice.session`, `1700000000000[.2]`); `None` for a name that is not a
/// trash name.
pub fn split_trash_name(name: &str) -> Option<(&str, &str)> {
    let is_ms = |s: &str| s.len() >= 13 && s.chars().all(|c| c.is_ascii_digit());
    let is_n = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let (head, last) = name.rsplit_once('.')?;
    if let Some((head2, prev)) = head.rsplit_once('.')
        && is_n(last)
        && is_ms(prev)
        && !head2.is_empty()
    {
        return Some((head2, &name[head2.len() + 1..]));
    }
    (is_ms(last) && !head.is_empty()).then_some((head, last))
}

fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::ErrorKind::InvalidInput.into())
}

fn exists_at(dir: &OwnedFd, name: &CStr) -> rustix::io::Result<bool> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => Ok(true),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Moves `path` into the trash as `<file name>.<unix ms>`, together with
/// its SQLite companions (`-journal`, `-wal`, `-shm`, see
/// [`SESSION_COMPANIONS`]) under the same suffix, so that
/// `alice.session.<ms>` and `alice.session-journal.<ms>` are one entry and
/// a database trashed mid-commit keeps the journal it needs. Returns the
/// new path of `path` (or of the first companion, when only companions were
/// left). Nothing there is not an error: there is nothing to keep (`None`).
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
    let stem = name.to_string_lossy().into_owned();
    let mut names = Vec::new();
    for n in std::iter::once(stem.clone())
        .chain(SESSION_COMPANIONS.iter().map(|sfx| format!("{stem}{sfx}")))
    {
        let c = cstring(&n).map_err(io_err)?;
        if exists_at(&from_dir, &c).map_err(|e| io_err(e.into()))? {
            names.push((n, c));
        }
    }
    if names.is_empty() {
        return Ok(None);
    }
    let trash = data_dir.trash_dir();
    let trash_fd = open_subdir(&anchor, &trash).map_err(io_err)?;
    // Two moves in the same millisecond get a counter; never an overwrite.
    // One suffix free for every file of the set, so they stay together.
    let ms = now_ms();
    for n in 0..1000 {
        let suffix = match n {
            0 => format!("{ms}"),
            n => format!("{ms}.{n}"),
        };
        let mut targets = Vec::new();
        for (from, _) in &names {
            targets.push(cstring(&format!("{from}.{suffix}")).map_err(io_err)?);
        }
        let mut taken = false;
        for t in &targets {
            taken |= exists_at(&trash_fd, t).map_err(|e| io_err(e.into()))?;
        }
        if taken {
            continue;
        }
        // The database first: a companion left behind by a crash right
        // here is harmless (SQLite drops a journal whose database is
        // empty or missing), a database without its hot journal is not.
        let mut first = None;
        for ((_, from), target) in names.iter().zip(&targets) {
            match rename_no_replace(&from_dir, from, &trash_fd, target) {
                Ok(()) => {
                    first.get_or_insert_with(|| trash.join(target.to_string_lossy().as_ref()));
                }
                Err(rustix::io::Errno::NOENT) => {}
                Err(rustix::io::Errno::EXIST) if first.is_none() => break,
                // A name taken since the check above, by a move racing this
                // one: the companion stays where it was, said in the log.
                Err(rustix::io::Errno::EXIST) => tracing::warn!(
                    file = %from.to_string_lossy(),
                    "a session companion stays in place: its trash name was taken"
                ),
                Err(e) => return Err(io_err(e.into())),
            }
        }
        match first {
            Some(moved) => return Ok(Some(moved)),
            // The main name lost a race for its target: try the next suffix.
            None if names
                .iter()
                .any(|(_, c)| exists_at(&from_dir, c).unwrap_or(false)) =>
            {
                continue;
            }
            None => return Ok(None),
        }
    }
    Err(io_err(io::ErrorKind::AlreadyExists.into()))
}

/// Moves the trash entry `name` back to `to` (inside the data dir), never
/// over an existing file, with the companions trashed beside it
/// (`alice.session-journal.<ms>` back to `alice.session-journal`). The
/// companions go first: the database appearing is what a library looks for,
/// and its hot journal must be there by then.
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
    let to_name = to_name.to_string_lossy().into_owned();
    let mut moves = Vec::new();
    if let Some((original, suffix)) = split_trash_name(name) {
        for sfx in SESSION_COMPANIONS {
            let c_from = cstring(&format!("{original}{sfx}.{suffix}")).map_err(fail)?;
            if exists_at(&trash_fd, &c_from).map_err(|e| fail(e.into()))? {
                let c_to = cstring(&format!("{to_name}{sfx}")).map_err(fail)?;
                moves.push((c_from, c_to, to_parent.join(format!("{to_name}{sfx}"))));
            }
        }
    }
    moves.push((
        cstring(name).map_err(fail)?,
        cstring(&to_name).map_err(fail)?,
        to.to_path_buf(),
    ));
    for (_, c_to, path) in &moves {
        if exists_at(&to_dir, c_to).map_err(|e| fail(e.into()))? {
            return Err(TrashError::Exists(path.clone()));
        }
    }
    for (c_from, c_to, path) in &moves {
        match rename_no_replace(&trash_fd, c_from, &to_dir, c_to) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => return Err(TrashError::Exists(path.clone())),
            Err(e) => return Err(fail(e.into())),
        }
    }
    Ok(())
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

    #[test]
    fn sqlite_companions_move_to_and_from_the_trash_with_their_database() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        std::fs::create_dir_all(data.sessions_dir()).unwrap();
        let file = data.session_file("alice");
        let journal = data.sessions_dir().join("alice.session-journal");
        let wal = data.sessions_dir().join("alice.session-wal");
        std::fs::write(&file, "db").unwrap();
        std::fs::write(&journal, "hot").unwrap();
        std::fs::write(&wal, "wal").unwrap();
        // Another account's companion is not part of it.
        std::fs::write(data.sessions_dir().join("alicex.session-journal"), "x").unwrap();
        let moved = move_to_trash(&data, &file).unwrap().unwrap();
        let name = moved.file_name().unwrap().to_str().unwrap().to_owned();
        let (original, suffix) = split_trash_name(&name).unwrap();
        assert_eq!(original, "alice.session");
        let trashed = |n: &str| data.trash_dir().join(format!("{n}.{suffix}"));
        assert_eq!(
            std::fs::read_to_string(trashed("alice.session-journal")).unwrap(),
            "hot"
        );
        assert_eq!(
            std::fs::read_to_string(trashed("alice.session-wal")).unwrap(),
            "wal"
        );
        assert!(!journal.exists() && !wal.exists() && !file.exists());
        assert!(data.sessions_dir().join("alicex.session-journal").exists());

        // A companion in the way: nothing is restored, nothing overwritten.
        std::fs::write(&wal, "newer").unwrap();
        assert!(matches!(restore(&data, &name, &file), Err(TrashError::Exists(p)) if p == wal));
        assert!(!file.exists() && !journal.exists());
        std::fs::remove_file(&wal).unwrap();
        restore(&data, &name, &file).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "db");
        assert_eq!(std::fs::read_to_string(&journal).unwrap(), "hot");
        assert_eq!(std::fs::read_to_string(&wal).unwrap(), "wal");
        assert_eq!(std::fs::read_dir(data.trash_dir()).unwrap().count(), 0);

        // A journal left alone (its database gone) still moves.
        std::fs::remove_file(&file).unwrap();
        std::fs::remove_file(&wal).unwrap();
        let moved = move_to_trash(&data, &file).unwrap().unwrap();
        assert!(
            moved
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("alice.session-journal.")
        );
        assert!(!journal.exists());
    }

    #[test]
    fn trash_names_split_into_original_and_suffix() {
        assert_eq!(
            split_trash_name("alice.session.1700000000000"),
            Some(("alice.session", "1700000000000"))
        );
        assert_eq!(
            split_trash_name("alice.session-journal.1700000000000.2"),
            Some(("alice.session-journal", "1700000000000.2"))
        );
        assert_eq!(split_trash_name("alice.session"), None);
        assert_eq!(split_trash_name(".1700000000000"), None);
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
