//! The `events` table: an audit log of destructive actions (account removed,
//! process killed, file trashed, sweep applied) and their results.

use rusqlite::{Row, params};
use serde::{Deserialize, Serialize};

use super::{Ctx, Store, StoreError, now_ms};

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub id: i64,
    pub at_ms: i64,
    /// What was done, e.g. `account.remove`, `sweep.kill`.
    pub kind: String,
    /// What it was done to, e.g. an account id or a path.
    pub subject: String,
    pub detail: String,
    /// `ok` or the error.
    pub result: String,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: r.get(0)?,
        at_ms: r.get(1)?,
        kind: r.get(2)?,
        subject: r.get(3)?,
        detail: r.get(4)?,
        result: r.get(5)?,
    })
}

impl Store {
    /// Appends an event stamped now, with every secret in force masked out
    /// of its text; returns its id.
    pub fn record_event(
        &self,
        kind: &str,
        subject: &str,
        detail: &str,
        result: &str,
    ) -> Result<i64, StoreError> {
        let mask = self.mask.current();
        self.conn
            .execute(
                "INSERT INTO events (at_ms, kind, subject, detail, result) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    now_ms(),
                    kind,
                    mask.mask(subject),
                    mask.mask(detail),
                    mask.mask(result)
                ],
            )
            .ctx(&self.path)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest `limit` events, newest first.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<EventRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.all_rows(
            "SELECT id, at_ms, kind, subject, detail, result FROM events ORDER BY id DESC LIMIT ?1",
            [limit],
            from_row,
        )
    }
}
