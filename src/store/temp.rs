//! The `temp_entries` table: every registered temp file or dir and the
//! process that owns it. Plain CRUD; the registry logic lives in `temp`.

use std::path::{Path, PathBuf};

use rusqlite::{Row, params};
use serde::{Deserialize, Serialize};

use super::{Ctx, Store, StoreError, get_u64, u64_sql};

/// Whether a temp entry is a file or a directory (`'file'` / `'dir'` in SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TempKind {
    File,
    Dir,
}

impl TempKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TempKind::File => "file",
            TempKind::Dir => "dir",
        }
    }
}

/// One registered temp path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TempRow {
    /// Assigned by the store; ignored by [`Store::insert_temp`].
    pub id: i64,
    pub path: PathBuf,
    pub kind: TempKind,
    pub owner_pid: i32,
    pub owner_start_time: u64,
    pub account: Option<String>,
    pub label: Option<String>,
    pub created_ms: i64,
    pub bytes: Option<i64>,
}

fn utf8(path: &Path) -> Result<&str, StoreError> {
    path.to_str()
        .ok_or_else(|| StoreError::NonUtf8Path(path.to_owned()))
}

const COLUMNS: &str =
    "id, path, kind, owner_pid, owner_start_time, account, label, created_ms, bytes";

fn from_row(r: &Row<'_>) -> rusqlite::Result<TempRow> {
    let kind: String = r.get(2)?;
    let kind = match kind.as_str() {
        "file" => TempKind::File,
        "dir" => TempKind::Dir,
        other => {
            return Err(rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown temp entry kind {other:?}").into(),
            ));
        }
    };
    Ok(TempRow {
        id: r.get(0)?,
        path: PathBuf::from(r.get::<_, String>(1)?),
        kind,
        owner_pid: r.get(3)?,
        owner_start_time: get_u64(r, 4)?,
        account: r.get(5)?,
        label: r.get(6)?,
        created_ms: r.get(7)?,
        bytes: r.get(8)?,
    })
}

impl Store {
    /// Registers a temp path; returns its id. Fails if the path is already
    /// registered (UNIQUE) or is not UTF-8.
    pub fn insert_temp(&self, t: &TempRow) -> Result<i64, StoreError> {
        let path = utf8(&t.path)?;
        self.conn
            .execute(
                "INSERT INTO temp_entries
                    (path, kind, owner_pid, owner_start_time, account, label, created_ms, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    path,
                    t.kind.as_str(),
                    t.owner_pid,
                    u64_sql(t.owner_start_time),
                    t.account,
                    t.label,
                    t.created_ms,
                    t.bytes
                ],
            )
            .ctx(&self.path)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Unregisters a temp path; false if it was not registered.
    pub fn delete_temp(&self, path: &Path) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM temp_entries WHERE path = ?1", [utf8(path)?])
            .ctx(&self.path)?;
        Ok(n > 0)
    }

    /// Unregisters many temp paths in one transaction (one commit instead of
    /// one per path); returns how many were registered.
    pub fn delete_temps(&self, paths: &[PathBuf]) -> Result<usize, StoreError> {
        if paths.is_empty() {
            return Ok(0);
        }
        let tx = self.conn.unchecked_transaction().ctx(&self.path)?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM temp_entries WHERE path = ?1")
                .ctx(&self.path)?;
            for path in paths {
                n += stmt.execute([utf8(path)?]).ctx(&self.path)?;
            }
        }
        tx.commit().ctx(&self.path)?;
        Ok(n)
    }

    /// Every registered temp path, ordered by id (registration order).
    pub fn temp_entries(&self) -> Result<Vec<TempRow>, StoreError> {
        self.all_rows(
            &format!("SELECT {COLUMNS} FROM temp_entries ORDER BY id"),
            [],
            from_row,
        )
    }

    /// The registration of `path`, if any.
    pub fn temp_entry(&self, path: &Path) -> Result<Option<TempRow>, StoreError> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM temp_entries WHERE path = ?1"),
                [utf8(path)?],
                from_row,
            )
            .optional()
            .ctx(&self.path)
    }

    /// Hands `path` to another owner process (e.g. the worker it was made
    /// for, once spawned); false if it is not registered.
    pub fn set_temp_owner(
        &self,
        path: &Path,
        owner_pid: i32,
        owner_start_time: u64,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE temp_entries SET owner_pid = ?2, owner_start_time = ?3 WHERE path = ?1",
                params![utf8(path)?, owner_pid, u64_sql(owner_start_time)],
            )
            .ctx(&self.path)?;
        Ok(n > 0)
    }

    /// Records measured sizes (`(path, bytes)`) in one transaction; rows that
    /// are gone are ignored.
    pub fn set_temp_bytes(&self, sizes: &[(PathBuf, i64)]) -> Result<(), StoreError> {
        if sizes.is_empty() {
            return Ok(());
        }
        let tx = self.conn.unchecked_transaction().ctx(&self.path)?;
        {
            let mut stmt = tx
                .prepare_cached("UPDATE temp_entries SET bytes = ?2 WHERE path = ?1")
                .ctx(&self.path)?;
            for (path, bytes) in sizes {
                stmt.execute(params![utf8(path)?, bytes]).ctx(&self.path)?;
            }
        }
        tx.commit().ctx(&self.path)
    }
}
