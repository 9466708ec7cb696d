//! The `workers` table: the last known worker process of each account and
//! the steward instance that started it, so a later steward can find and stop
//! leftovers of a dead one.

use rusqlite::{Row, params};
use serde::{Deserialize, Serialize};

use super::{Ctx, Store, StoreError, get_u64, u64_sql};

/// A recorded worker process. `start_time` values are clock ticks since boot
/// (field 22 of `/proc/PID/stat`), which together with the pid identify a
/// process across pid reuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRow {
    pub account: String,
    pub pid: i32,
    pub start_time: u64,
    pub pgid: i32,
    pub owner_pid: i32,
    pub owner_start_time: u64,
    pub started_ms: i64,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<WorkerRow> {
    Ok(WorkerRow {
        account: r.get(0)?,
        pid: r.get(1)?,
        start_time: get_u64(r, 2)?,
        pgid: r.get(3)?,
        owner_pid: r.get(4)?,
        owner_start_time: get_u64(r, 5)?,
        started_ms: r.get(6)?,
    })
}

impl Store {
    /// Records (replacing any previous record) the worker of `w.account`.
    pub fn record_worker(&self, w: &WorkerRow) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO workers (account, pid, start_time, pgid, owner_pid, owner_start_time, started_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (account) DO UPDATE SET
                    pid = excluded.pid, start_time = excluded.start_time, pgid = excluded.pgid,
                    owner_pid = excluded.owner_pid, owner_start_time = excluded.owner_start_time,
                    started_ms = excluded.started_ms",
                params![
                    w.account,
                    w.pid,
                    u64_sql(w.start_time),
                    w.pgid,
                    w.owner_pid,
                    u64_sql(w.owner_start_time),
                    w.started_ms
                ],
            )
            .ctx(&self.path)?;
        Ok(())
    }

    /// Forgets the worker of `account`; false if none was recorded.
    pub fn clear_worker(&self, account: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM workers WHERE account = ?1", [account])
            .ctx(&self.path)?;
        Ok(n > 0)
    }

    /// Forgets the given workers in one transaction, each only if its record
    /// still names that very process (`(account, pid, start_time)`): a newer
    /// worker of the same account keeps its record. Returns how many went.
    /// One commit for a whole fleet, where `clear_worker` per worker costs a
    /// commit each.
    pub fn clear_workers(&self, workers: &[(String, i32, u64)]) -> Result<usize, StoreError> {
        if workers.is_empty() {
            return Ok(0);
        }
        let tx = self.conn.unchecked_transaction().ctx(&self.path)?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "DELETE FROM workers WHERE account = ?1 AND pid = ?2 AND start_time = ?3",
                )
                .ctx(&self.path)?;
            for (account, pid, start_time) in workers {
                n += stmt
                    .execute(params![account, pid, u64_sql(*start_time)])
                    .ctx(&self.path)?;
            }
        }
        tx.commit().ctx(&self.path)?;
        Ok(n)
    }

    /// Every recorded worker, ordered by account.
    pub fn workers(&self) -> Result<Vec<WorkerRow>, StoreError> {
        self.all_rows(
            "SELECT account, pid, start_time, pgid, owner_pid, owner_start_time, started_ms
             FROM workers ORDER BY account",
            [],
            from_row,
        )
    }
}
