//! What stopped workers leave behind during a shutdown: their temp dirs and
//! identity records, handed to the shutdown plan instead of being released
//! one by one by each supervisor (a `spawn_blocking`, an `rmdir` and two
//! commits per worker, all contending for the same directory and the store).
//!
//! From the moment a shutdown begins, one blocking task removes the dirs as
//! their workers' groups go (so the removals, which wait on the disk, overlap
//! with waiting for the slower workers), and defers their rows; the plan
//! clears the workers' records in one transaction at the end of "stop
//! workers", and "clean temp" ends the task and deletes the dirs' rows in one
//! transaction. Outside a shutdown nothing is handed over.

use std::sync::{Arc, Mutex, MutexGuard, mpsc};

use tokio::task::JoinHandle;

use crate::proc::ProcId;
use crate::temp::{BulkRelease, TempGuard, TempRegistry};

/// A worker whose whole group is gone; the plan clears its record.
#[derive(Debug)]
pub struct Stopped {
    pub account: String,
    /// The leader as recorded in the store: only that record is cleared.
    pub leader: ProcId,
}

/// Shared by every supervisor of one manager and by its shutdown plan.
/// Cheap to clone; all clones share the state.
#[derive(Clone, Default)]
pub struct Handover {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    collecting: Option<Remover>,
    stopped: Vec<Stopped>,
}

/// The blocking task that removes handed-over dirs as they come.
struct Remover {
    dirs: mpsc::Sender<TempGuard>,
    task: JoinHandle<BulkRelease>,
}

/// What [`Handover::finish`] returns: everything not taken yet.
#[derive(Debug, Default)]
pub struct Leftovers {
    pub stopped: Vec<Stopped>,
    /// The removal task (ends once every dir pushed so far is handled), if a
    /// collection ran; its [`BulkRelease`] still has to be finished.
    pub removal: Option<JoinHandle<BulkRelease>>,
}

impl Handover {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain data: a panic elsewhere mid-push leaves it usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// From now on (a shutdown began) stopped workers leave their dir and
    /// record here; the dirs are removed by one blocking task as they come.
    /// Must run inside the tokio runtime. A second call changes nothing.
    pub fn collect(&self, temp: &TempRegistry) {
        let mut state = self.lock();
        if state.collecting.is_some() {
            return;
        }
        let (dirs, incoming) = mpsc::channel::<TempGuard>();
        let mut bulk = temp.bulk_release();
        let task = tokio::task::spawn_blocking(move || {
            // Ends when `finish` drops the sender.
            for dir in incoming {
                bulk.push(dir);
            }
            bulk
        });
        state.collecting = Some(Remover { dirs, task });
    }

    /// Called by a supervisor once `leader`'s whole group is gone. While a
    /// shutdown collects, keeps the record for the plan and queues the dir
    /// for removal; otherwise gives the dir back for the caller to release.
    pub fn offer(&self, account: &str, leader: ProcId, dir: TempGuard) -> Result<(), TempGuard> {
        let mut state = self.lock();
        let Some(remover) = &state.collecting else {
            return Err(dir);
        };
        // Fails only if the removal task is gone (it panicked): then the
        // caller releases the dir itself.
        remover.dirs.send(dir).map_err(|e| e.0)?;
        state.stopped.push(Stopped {
            account: account.to_owned(),
            leader,
        });
        Ok(())
    }

    /// The workers stopped so far whose records were not taken yet.
    pub fn take_stopped(&self) -> Vec<Stopped> {
        std::mem::take(&mut self.lock().stopped)
    }

    /// Ends the collection: takes what is left, and any worker stopping
    /// later (one that outlived its phase) releases its own dir again.
    pub fn finish(&self) -> Leftovers {
        let mut state = self.lock();
        let removal = state.collecting.take().map(|r| {
            drop(r.dirs);
            r.task
        });
        Leftovers {
            stopped: std::mem::take(&mut state.stopped),
            removal,
        }
    }
}

impl Stopped {
    /// The `(account, pid, start_time)` triple `Store::clear_workers` takes.
    pub fn record_key(&self) -> (String, i32, u64) {
        (
            self.account.clone(),
            self.leader.pid,
            self.leader.start_time,
        )
    }
}
