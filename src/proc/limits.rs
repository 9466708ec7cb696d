//! The open-file limit. steward needs about five descriptors per worker (two
//! output pipes, the pidfd, its copies of the session and TMPDIR locks), so
//! the common default soft limit of 1024 caps a fleet near 200 workers: the
//! soft limit is raised to the hard one at start. Children get back the soft
//! limit steward was started with, so a worker sees the environment it would
//! have been given without steward (some programs still `select()`).

use std::sync::OnceLock;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The limit steward was started with, once [`raise_open_files`] raised it.
static STARTED_WITH: OnceLock<Rlimit> = OnceLock::new();

/// What [`raise_open_files`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFiles {
    /// Already at the hard limit (or unlimited).
    Unchanged {
        soft: Option<u64>,
    },
    Raised {
        from: u64,
        to: Option<u64>,
    },
}

/// Raises this process's soft open-file limit to its hard limit. Call once,
/// early (before any child is spawned). `None` for a limit means unlimited.
pub fn raise_open_files() -> std::io::Result<OpenFiles> {
    let limit = getrlimit(Resource::Nofile);
    let (Some(from), hard) = (limit.current, limit.maximum) else {
        return Ok(OpenFiles::Unchanged { soft: None });
    };
    if hard.is_some_and(|h| h <= from) {
        return Ok(OpenFiles::Unchanged { soft: Some(from) });
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: hard,
            maximum: hard,
        },
    )?;
    let _ = STARTED_WITH.set(limit);
    Ok(OpenFiles::Raised { from, to: hard })
}

/// The limit steward was started with, if [`raise_open_files`] changed it:
/// what a child gets back.
pub(super) fn started_with() -> Option<Rlimit> {
    STARTED_WITH.get().copied()
}

/// For a child between fork and exec: puts back the limit steward was
/// started with, if [`raise_open_files`] changed it. Only a `prlimit64`
/// syscall and an atomic load: async-signal-safe.
pub fn restore_open_files_in_child() -> std::io::Result<()> {
    match STARTED_WITH.get() {
        Some(limit) => Ok(setrlimit(Resource::Nofile, *limit)?),
        None => Ok(()),
    }
}
