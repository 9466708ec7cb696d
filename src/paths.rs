//! The data-dir layout: every path steward reads or writes lives under one
//! `DataDir`, so "never delete outside the data dir" is checkable in one place.

use std::path::{Path, PathBuf};

/// The root of one steward instance's state and the names of everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Wraps `root`, made absolute against the current directory so paths
    /// handed to workers and aria2c stay valid whatever their cwd.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()
                .map(|cwd| cwd.join(&root))
                .unwrap_or(root)
        };
        DataDir { root }
    }

    /// `$XDG_DATA_HOME/steward`, or `./steward-data` where no home is known.
    pub fn default_location() -> Self {
        match directories::ProjectDirs::from("", "", "steward") {
            Some(dirs) => DataDir::new(dirs.data_dir()),
            None => DataDir::new("steward-data"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config_file(&self) -> PathBuf {
        self.root.join("steward.toml")
    }
    pub fn db_file(&self) -> PathBuf {
        self.root.join("steward.db")
    }
    /// The running manager's latest snapshot, for `steward status` from another shell.
    pub fn status_file(&self) -> PathBuf {
        self.root.join("status.json")
    }
    /// The running instance's control socket (`link`, `manager::listen`).
    pub fn control_socket(&self) -> PathBuf {
        self.root.join("control.sock")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("steward.lock")
    }
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }
    /// The file the account's worker library keeps its session in. steward
    /// never creates, truncates or writes it: the library does.
    pub fn session_file(&self, account: &str) -> PathBuf {
        self.sessions_dir().join(format!("{account}.session"))
    }
    /// The file steward flocks for the account (see [`session_lock_of`]).
    pub fn session_lock_file(&self, account: &str) -> PathBuf {
        self.sessions_dir().join(format!("{account}.lock"))
    }
    pub fn trash_dir(&self) -> PathBuf {
        self.root.join("trash")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn aria2_dir(&self) -> PathBuf {
        self.root.join("aria2")
    }
    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// True when `path` is inside the data dir (lexically, after resolving `..`
    /// components). Every destructive action checks this first.
    pub fn contains(&self, path: &Path) -> bool {
        let mut normal = PathBuf::new();
        for part in path.components() {
            match part {
                std::path::Component::ParentDir => {
                    if !normal.pop() {
                        return false;
                    }
                }
                std::path::Component::CurDir => {}
                other => normal.push(other),
            }
        }
        normal.starts_with(&self.root) && normal != self.root
    }
}

/// The lock file beside a session file: `sessions/ID.session` is locked
/// through `sessions/ID.lock`. A separate file because the session file is
/// the worker library's: it must not exist until the library creates it,
/// and a lock on it would be voided by anyone replacing the file.
pub fn session_lock_of(session_file: &Path) -> PathBuf {
    session_file.with_extension("lock")
}

/// The suffixes of the files SQLite keeps beside a database while writing
/// it: a hot journal or WAL belongs with its database, wherever it goes.
pub const SESSION_COMPANIONS: &[&str] = &["-journal", "-wal", "-shm"];

/// `ID.session-journal`, `ID.session-wal`, `ID.session-shm` beside `session_file`.
pub fn session_companions(session_file: &Path) -> Vec<PathBuf> {
    SESSION_COMPANIONS
        .iter()
        .map(|suffix| {
            let mut name = session_file.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_and_companions_sit_beside_the_session_file() {
        let d = DataDir::new("/srv/steward");
        let s = d.session_file("a.b");
        assert_eq!(s, Path::new("/srv/steward/sessions/a.b.session"));
        assert_eq!(session_lock_of(&s), d.session_lock_file("a.b"));
        assert_eq!(
            d.session_lock_file("a.b"),
            Path::new("/srv/steward/sessions/a.b.lock")
        );
        assert_eq!(
            session_companions(&s)[0],
            Path::new("/srv/steward/sessions/a.b.session-journal")
        );
    }

    #[test]
    fn contains_refuses_escapes_and_the_root_itself() {
        let d = DataDir::new("/srv/steward");
        assert!(d.contains(Path::new("/srv/steward/tmp/x")));
        assert!(!d.contains(Path::new("/srv/steward")));
        assert!(!d.contains(Path::new("/srv/steward/../etc/passwd")));
        assert!(!d.contains(Path::new("/srv/stewardx/a")));
        assert!(!d.contains(Path::new("/etc")));
    }

    #[test]
    fn relative_roots_become_absolute() {
        assert!(DataDir::new("rel").root().is_absolute());
    }
}
