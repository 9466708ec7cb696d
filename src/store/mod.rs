//! The SQLite store (`steward.db`): opening, identity checks, migrations and
//! pragmas. Every SQL statement steward runs lives in this module; one file
//! per table group (`accounts`, `workers`, `temp`, `events`, `meta`).
//!
//! Concurrency: the database runs in WAL mode, so any number of processes may
//! open it with [`Store::open`] at once (a running manager, `steward account
//! add` from a second shell, `steward status`); writers queue behind each
//! other for up to the busy timeout (5 s). [`Store::open_readonly`] is for
//! callers that must never create or change the file (`status`, `doctor`):
//! it runs no migrations and refuses a file whose schema is not exactly ours.
//! The database files are never flock'ed: SQLite's own fcntl locks would be
//! silently dropped if another descriptor of the same file were closed.

mod accounts;
mod events;
mod meta;
mod schema;
mod temp;
mod workers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::redact::SecretMask;

pub use accounts::AccountRow;
pub use events::EventRow;
pub use temp::{TempKind, TempRow};
pub use workers::WorkerRow;

/// How long a statement waits for another process's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `PRAGMA application_id` of a steward database ("STWD").
pub const APPLICATION_ID: i32 = 0x5354_5744;

/// The schema version this build writes (the number of migrations).
pub const SCHEMA_VERSION: i64 = schema::MIGRATIONS.len() as i64;

/// Errors from the store. Display is one line naming the database file and,
/// for the ones an operator must act on, what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open database {path}: {source} (check that the data dir exists and is writable)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "database {path} is damaged: {detail} (move it away to start with an empty store, or restore a backup)"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path} is not a steward database (move it away or use another --data-dir)")]
    Foreign { path: PathBuf },
    #[error(
        "database {path} has schema version {found}, newer than this steward knows ({known}) (upgrade steward or use another --data-dir)"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "database {path} has schema version {found}, older than this steward's ({known}) (run any steward command that opens it for writing, e.g. `steward account list`, to upgrade it)"
    )]
    TooOld {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "database {path} is empty (0 bytes) but the data dir holds other files, e.g. {other}: it is not a fresh store, and starting over would orphan them (restore steward.db from a backup, or move the data dir's files away)"
    )]
    Empty { path: PathBuf, other: PathBuf },
    #[error("database {path} cannot be read: {detail} (check its owner, mode and type)")]
    Unreadable { path: PathBuf, detail: String },
    #[error("account {0:?} already exists")]
    AccountExists(String),
    #[error("path {0:?} is not valid UTF-8 and cannot be recorded")]
    NonUtf8Path(PathBuf),
    #[error("database error in {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// Maps rusqlite errors to [`StoreError`], keeping the database path.
trait Ctx<T> {
    fn ctx(self, path: &Path) -> Result<T, StoreError>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|e| classify(path, e))
    }
}

fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::Corrupt {
            path: path.to_owned(),
            detail: "not an SQLite database file".to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_owned(),
            detail: e.to_string(),
        },
        _ => StoreError::Sqlite {
            path: path.to_owned(),
            source: e,
        },
    }
}

impl Store {
    /// Every row `sql` selects with `params`, each mapped by `from_row`: the
    /// one loop behind the list readers of every table.
    fn all_rows<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        from_row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).ctx(&self.path)?;
        let rows = stmt.query_map(params, from_row).ctx(&self.path)?;
        rows.collect::<Result<Vec<_>, _>>().ctx(&self.path)
    }
}

/// Reads a non-negative INTEGER column as u64 (rusqlite maps u64 only with
/// an extra feature); a negative value is a conversion error, not a wrap.
fn get_u64(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = r.get(idx)?;
    u64::try_from(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Integer, Box::new(e))
    })
}

/// Writes a u64 (process start times in clock ticks, far below i64::MAX) as
/// an INTEGER, saturating rather than wrapping.
fn u64_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch, the unit of every timestamp in the store.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One connection to `steward.db`.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Secrets masked out of every event's text (none until a manager sets it).
    mask: SecretMask,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// What an existing file says about itself before we touch it.
struct Identity {
    application_id: i32,
    user_version: i64,
    /// Tables other than SQLite's own.
    tables: i64,
}

fn identity(conn: &Connection, path: &Path) -> Result<Identity, StoreError> {
    // The first statement reads the header: garbage surfaces here as NOTADB.
    let application_id = conn
        .pragma_query_one::<i32>(None, "application_id")
        .ctx(path)?;
    let user_version = conn
        .pragma_query_one::<i64>(None, "user_version")
        .ctx(path)?;
    let tables = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
            [],
            |r| r.get(0),
        )
        .ctx(path)?;
    Ok(Identity {
        application_id,
        user_version,
        tables,
    })
}

impl Identity {
    /// Refuses files that are not ours (or are newer than we understand).
    fn check(&self, path: &Path) -> Result<(), StoreError> {
        let fresh = self.application_id == 0 && self.user_version == 0 && self.tables == 0;
        if !fresh && self.application_id != APPLICATION_ID {
            return Err(StoreError::Foreign {
                path: path.to_owned(),
            });
        }
        if self.user_version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_owned(),
                found: self.user_version,
                known: SCHEMA_VERSION,
            });
        }
        Ok(())
    }
}

impl Store {
    /// Opens (creating if missing) the database at `path`, checks that it is
    /// a steward database, sets WAL / `synchronous=NORMAL` / busy timeout /
    /// foreign keys, and brings the schema up to date. A foreign file is
    /// never written to. The parent directory must exist.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        check_file(path)?;
        let mut conn = Connection::open(path).map_err(|source| match classify(path, source) {
            StoreError::Sqlite { path, source } => StoreError::Open { path, source },
            other => other,
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).ctx(path)?;
        make_private(path);
        identity(&conn, path)?.check(path)?;

        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .ctx(path)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(db = %path.display(), %mode, "database did not switch to WAL");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .ctx(path)?;
        conn.pragma_update(None, "foreign_keys", true).ctx(path)?;
        migrate(&mut conn, path)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
            mask: SecretMask::default(),
        })
    }

    /// An empty store in memory, with this build's schema: what a dry run
    /// reads where no database exists yet (it must not create one).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::open(Path::new(":memory:"))
    }

    /// Opens an existing database read-only: no file is created, nothing is
    /// migrated or written. The schema must be exactly this build's
    /// ([`StoreError::TooOld`] / [`StoreError::TooNew`] otherwise). Safe while
    /// a manager has the database open for writing (WAL).
    pub fn open_readonly(path: &Path) -> Result<Store, StoreError> {
        check_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| {
            match classify(path, source) {
                StoreError::Sqlite { path, source } => StoreError::Open { path, source },
                other => other,
            }
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).ctx(path)?;
        let id = identity(&conn, path)?;
        id.check(path)?;
        if id.user_version < SCHEMA_VERSION {
            return Err(StoreError::TooOld {
                path: path.to_owned(),
                found: id.user_version,
                known: SCHEMA_VERSION,
            });
        }
        Ok(Store {
            conn,
            path: path.to_owned(),
            mask: SecretMask::default(),
        })
    }

    /// Masks the secrets in force (shared, so later changes apply) out of
    /// every event recorded from now on.
    pub fn set_mask(&mut self, mask: SecretMask) {
        self.mask = mask;
    }

    /// The database file this store was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_one(None, "user_version")
            .ctx(&self.path)
    }

    /// `PRAGMA data_version`: changes whenever *another* connection commits,
    /// so a running manager can poll it to notice e.g. `steward account add`.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        // Polled about once a second for as long as steward runs: keep the
        // compiled statement instead of parsing the pragma every time.
        self.conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .ctx(&self.path)
    }

    /// Copies the WAL into the database and truncates it
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`). Returns false when readers kept
    /// the checkpoint from completing.
    pub fn checkpoint(&self) -> Result<bool, StoreError> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .ctx(&self.path)?;
        Ok(busy == 0)
    }

    /// `PRAGMA integrity_check`: true when the database reports "ok".
    pub fn integrity_check(&self) -> Result<bool, StoreError> {
        let rows: Vec<String> = self.all_rows("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(rows.len() == 1 && rows[0] == "ok")
    }

    /// Checkpoints (best effort) and closes the connection, reporting errors
    /// that dropping would swallow.
    pub fn close(self) -> Result<(), StoreError> {
        if !self.conn.is_readonly("main").unwrap_or(true) {
            let _ = self.checkpoint();
        }
        let path = self.path;
        self.conn.close().map_err(|(_, e)| classify(&path, e))
    }
}

/// SQLite takes a 0-byte file for a new database: a truncated or zeroed
/// `steward.db` next to session files would start an empty store, and every
/// session file would then look orphaned to the sweep. A missing file is new;
/// an empty one is new only in a data dir that holds nothing else (a first
/// start that died before SQLite wrote its header). An existing file that is
/// not a readable regular file is refused rather than handed to SQLite.
fn check_file(path: &Path) -> Result<(), StoreError> {
    let unreadable = |detail: String| StoreError::Unreadable {
        path: path.to_owned(),
        detail,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(unreadable(e.to_string())),
    };
    if !meta.is_file() {
        return Err(unreadable("not a regular file".to_owned()));
    }
    std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    if meta.len() > 0 {
        return Ok(());
    }
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    match other_file(dir, path, 0) {
        None => Ok(()),
        // Another steward may be creating this store right now: SQLite writes
        // the header within its first transaction, milliseconds later.
        Some(_) if header_written_soon(path) => Ok(()),
        Some(other) => Err(StoreError::Empty {
            path: path.to_owned(),
            other,
        }),
    }
}

/// Whether `path` grows past 0 bytes within a second.
fn header_written_soon(path: &Path) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            return true;
        }
    }
    false
}

/// The first file under `dir` (not following symlinks) that a fresh data dir
/// would not have: anything but steward's bookkeeping at the top (`steward.db*`,
/// `*.lock`, `steward.toml`, `status.json`) and the logs. Empty dirs are fine.
fn other_file(dir: &Path, db: &Path, depth: usize) -> Option<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // Unlistable: cannot tell it is empty, so it is not.
        Err(_) => return Some(dir.to_owned()),
    };
    for entry in entries {
        let Ok(entry) = entry else {
            return Some(dir.to_owned());
        };
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            return Some(path);
        };
        if kind.is_dir() {
            if depth == 0 && name == "logs" {
                continue;
            }
            if let Some(found) = other_file(&path, db, depth + 1) {
                return Some(found);
            }
            continue;
        }
        let bookkeeping = depth == 0
            && (name.starts_with("steward.db")
                || name.ends_with(".lock")
                || name == "steward.toml"
                || name == "status.json");
        if !bookkeeping && path != db {
            return Some(path);
        }
    }
    None
}

/// Applies the pending migrations, each in its own IMMEDIATE transaction
/// that re-reads `user_version` first, so two processes opening a fresh file
/// at once do not both apply the same step.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    for (i, sql) in schema::MIGRATIONS.iter().enumerate() {
        let target = i as i64 + 1;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(path)?;
        let current: i64 = tx.pragma_query_one(None, "user_version").ctx(path)?;
        if current >= target {
            continue; // dropping the transaction rolls it back: nothing was written
        }
        tx.execute_batch(sql).ctx(path)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .ctx(path)?;
        tx.pragma_update(None, "user_version", target).ctx(path)?;
        tx.commit().ctx(path)?;
        tracing::debug!(db = %path.display(), version = target, "migrated database");
    }
    Ok(())
}

/// The database holds account secrets: 0600 whatever the umask. SQLite
/// creates it through the umask and gives `-wal`/`-shm` the database's mode,
/// so this runs before the journal mode is set. Best effort: the data dir's
/// layout check refuses a store others can write, and tightens one they can read.
fn make_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if path == Path::new(":memory:") {
        return;
    }
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
}

#[cfg(test)]
mod tests;

/// The store as shared by the manager's subsystems: each takes the lock for
/// a few short statements and never holds it across an await.
pub type SharedStore = std::sync::Arc<std::sync::Mutex<Store>>;
