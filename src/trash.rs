//! The trash: session files are never deleted outright; they are moved to
//! `<data-dir>/trash/` under a timestamped name, from where they can be restored.

use std::io;
use std::path::{Path, PathBuf};

use crate::paths::DataDir;
use crate::time::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum TrashError {
    #[error("refusing to trash {0}: it is outside the data dir")]
    OutsideDataDir(PathBuf),
    #[error("cannot move {path} to trash: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Moves `path` into the trash as `<file name>.<unix ms>`; returns the new path.
/// A missing `path` is not an error: there is nothing to keep (returns `None`).
pub fn move_to_trash(data_dir: &DataDir, path: &Path) -> Result<Option<PathBuf>, TrashError> {
    if !data_dir.contains(path) {
        return Err(TrashError::OutsideDataDir(path.to_path_buf()));
    }
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let io_err = |source| TrashError::Io {
        path: path.to_path_buf(),
        source,
    };
    let trash = data_dir.trash_dir();
    std::fs::create_dir_all(&trash).map_err(io_err)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unnamed".into());
    let mut target = trash.join(format!("{name}.{}", now_ms()));
    // Two moves in the same millisecond get a counter rather than overwriting.
    let mut n = 1;
    while target.exists() {
        target = trash.join(format!("{name}.{}.{n}", now_ms()));
        n += 1;
    }
    std::fs::rename(path, &target).map_err(io_err)?;
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
