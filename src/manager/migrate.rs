//! One-time migrations of an existing data dir, run at manager start after
//! the leftovers of a previous run are stopped and before any worker starts.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::paths::{DataDir, session_companions};
use crate::store::SharedStore;
use crate::trash;

/// Set once the empty session files of older stewards were dealt with.
const SESSIONS_MIGRATED: &str = "migrated.empty_session_files";

/// Moves to the trash (never deletes) every empty `sessions/*.session` that
/// an older steward created to flock it: a library such as Pyrogram takes
/// an existing file for a database with its tables and fails on it. Only
/// regular files of 0 bytes with no SQLite companion beside them and that
/// no live process uses are moved. Runs once per data dir (a meta key says
/// it ran); returns a line per file moved, each also logged.
pub(super) fn trash_empty_session_files(data_dir: &DataDir, store: &SharedStore) -> Vec<String> {
    let done = {
        let s = store.lock().unwrap_or_else(|p| p.into_inner());
        s.get_meta(SESSIONS_MIGRATED)
    };
    match done {
        Ok(None) => {}
        Ok(Some(_)) => return Vec::new(),
        Err(e) => {
            warn!(error = %e, "cannot read the migration state: empty session files left");
            return Vec::new();
        }
    }
    let mut lines = Vec::new();
    for path in empty_session_files(&data_dir.sessions_dir()) {
        match trash::move_to_trash(data_dir, &path) {
            Ok(Some(to)) => {
                let line = format!(
                    "empty session file {} (created by an older steward to lock it) moved to {}",
                    path.display(),
                    to.display()
                );
                info!("{line}");
                lines.push(line);
            }
            Ok(None) => {}
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot move an empty session file to trash")
            }
        }
    }
    let s = store.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = s.set_meta(SESSIONS_MIGRATED, &crate::time::now_ms().to_string()) {
        warn!(error = %e, "cannot record the migration of empty session files");
    }
    lines
}

/// The empty session files in `dir` that nothing uses.
fn empty_session_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = read
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "session"))
        .filter(|p| {
            std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file() && m.len() == 0)
        })
        .filter(|p| session_companions(p).iter().all(|c| !c.exists()))
        .filter(|p| crate::lock::session_users(p).is_empty())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::sync::{Arc, Mutex};

    #[test]
    fn empty_session_files_go_to_the_trash_once_and_nothing_else_moves() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let sessions = data.sessions_dir();
        std::fs::create_dir_all(&sessions).unwrap();
        let store: SharedStore = Arc::new(Mutex::new(Store::open(&data.db_file()).unwrap()));
        std::fs::write(data.session_file("empty"), "").unwrap();
        std::fs::write(data.session_file("full"), "SQLite format 3\0").unwrap();
        std::fs::write(data.session_file("journaled"), "").unwrap();
        std::fs::write(sessions.join("journaled.session-journal"), "j").unwrap();
        std::fs::write(data.session_lock_file("empty"), "").unwrap();
        std::os::unix::fs::symlink("/nonexistent", data.session_file("link")).unwrap();
        // An empty one a live process has open stays.
        std::fs::write(data.session_file("open"), "").unwrap();
        let mut holder = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::fs::File::open(data.session_file("open")).unwrap())
            .spawn()
            .unwrap();

        let lines = trash_empty_session_files(&data, &store);
        let _ = holder.kill();
        let _ = holder.wait();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("empty.session"), "{lines:?}");
        assert!(!data.session_file("empty").exists());
        let trashed: Vec<String> = std::fs::read_dir(data.trash_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(trashed.len(), 1);
        assert!(trashed[0].starts_with("empty.session."), "{trashed:?}");
        for kept in ["full", "journaled", "open"] {
            assert!(data.session_file(kept).exists(), "{kept}");
        }
        assert!(data.session_lock_file("empty").exists(), "lock files stay");
        assert!(std::fs::symlink_metadata(data.session_file("link")).is_ok());

        // Once: an empty file appearing later (a library between creating
        // and writing it) is not touched by the next start.
        std::fs::write(data.session_file("later"), "").unwrap();
        assert!(trash_empty_session_files(&data, &store).is_empty());
        assert!(data.session_file("later").exists());
    }
}
