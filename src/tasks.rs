//! The task table: every unit of work the manager runs (worker supervisions,
//! download monitors, sweeps, internal monitors), with a way to cancel each one
//! gracefully (deadline) or by force. Readers get `TaskView`s; owners get a
//! `TaskTicket` whose tokens tell them when to stop.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::model::{TaskKind, TaskState, TaskView};
use crate::time::now_ms;

/// How many ended tasks stay listed, so an operator sees what just finished.
const ENDED_KEPT: usize = 50;

#[derive(Clone, Default)]
pub struct TaskTable {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    entries: Vec<Entry>,
}

struct Entry {
    view: TaskView,
    cancel: CancellationToken,
    force: CancellationToken,
}

/// Held by whoever runs a task: the tokens it must watch, and its id.
#[derive(Clone)]
pub struct TaskTicket {
    pub id: u64,
    /// Cancelled when the task should stop within its deadline.
    pub cancel: CancellationToken,
    /// Cancelled when the task should stop now (skip waits, SIGKILL).
    pub force: CancellationToken,
    table: TaskTable,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    #[error("no task {0} (it may have ended already)")]
    NoSuchTask(u64),
    #[error("task {0} has already ended")]
    Ended(u64),
}

impl TaskTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// A table that fires `changed` (shared with other publishers) on every change.
    pub fn with_notify(changed: Arc<Notify>) -> Self {
        TaskTable {
            inner: Arc::default(),
            changed,
        }
    }

    /// A notification fired on every change, for the snapshot publisher.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned table only means a panic elsewhere mid-update; the data
        // is plain views, still safe to read and amend.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lists a new running task. `parent` cancels it too (e.g. the manager's
    /// shutdown token), so a task can never outlive its owner's cancel.
    pub fn register(
        &self,
        kind: TaskKind,
        name: impl Into<String>,
        owner: Option<String>,
        parent: &CancellationToken,
    ) -> TaskTicket {
        let cancel = parent.child_token();
        let force = CancellationToken::new();
        let id = {
            let mut inner = self.lock();
            inner.next_id += 1;
            let id = inner.next_id;
            inner.entries.push(Entry {
                view: TaskView {
                    id,
                    kind,
                    name: name.into(),
                    owner,
                    state: TaskState::Running,
                    started_ms: now_ms(),
                    restarts: 0,
                },
                cancel: cancel.clone(),
                force: force.clone(),
            });
            id
        };
        self.changed.notify_one();
        TaskTicket {
            id,
            cancel,
            force,
            table: self.clone(),
        }
    }

    /// Asks task `id` to stop: within `deadline`, or at once when `force`.
    pub fn cancel(&self, id: u64, force: bool, deadline: Duration) -> Result<(), CancelError> {
        {
            let mut inner = self.lock();
            let entry = inner
                .entries
                .iter_mut()
                .find(|e| e.view.id == id)
                .ok_or(CancelError::NoSuchTask(id))?;
            if !entry.view.state.is_live() {
                return Err(CancelError::Ended(id));
            }
            entry.view.state = TaskState::Cancelling {
                deadline_ms: crate::time::ms_after(now_ms(), deadline),
                force,
            };
            // Force first: whoever wakes on the cancel must already see it
            // (a supervisor woken between the two sent SIGTERM, not SIGKILL,
            // and logged no force-cancel: seen once in a full run).
            if force {
                entry.force.cancel();
            }
            entry.cancel.cancel();
        }
        self.changed.notify_one();
        Ok(())
    }

    /// Cancels every live task whose kind `which` accepts; returns how many.
    pub fn cancel_all(
        &self,
        which: impl Fn(TaskKind) -> bool,
        force: bool,
        deadline: Duration,
    ) -> usize {
        let ids: Vec<u64> = self
            .lock()
            .entries
            .iter()
            .filter(|e| e.view.state.is_live() && which(e.view.kind))
            .map(|e| e.view.id)
            .collect();
        ids.iter()
            .filter(|id| self.cancel(**id, force, deadline).is_ok())
            .count()
    }

    pub fn views(&self) -> Vec<TaskView> {
        self.lock().entries.iter().map(|e| e.view.clone()).collect()
    }

    /// Live tasks whose kind `which` accepts.
    pub fn live_count(&self, which: impl Fn(TaskKind) -> bool) -> usize {
        self.lock()
            .entries
            .iter()
            .filter(|e| e.view.state.is_live() && which(e.view.kind))
            .count()
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut TaskView)) {
        {
            let mut inner = self.lock();
            if let Some(entry) = inner.entries.iter_mut().find(|e| e.view.id == id) {
                f(&mut entry.view);
            }
            let ended = inner
                .entries
                .iter()
                .filter(|e| !e.view.state.is_live())
                .count();
            if ended > ENDED_KEPT {
                let mut drop = ended - ENDED_KEPT;
                inner.entries.retain(|e| {
                    if drop > 0 && !e.view.state.is_live() {
                        drop -= 1;
                        false
                    } else {
                        true
                    }
                });
            }
        }
        self.changed.notify_one();
    }
}

impl TaskTicket {
    /// Records that the task restarted its work (e.g. a worker respawned).
    pub fn restarted(&self) {
        self.table.update(self.id, |v| v.restarts += 1);
    }

    /// Ends the task: `Cancelled` if it was asked to stop, else `Finished`.
    pub fn finish(self) {
        let cancelled = self.cancel.is_cancelled();
        self.table.update(self.id, |v| {
            v.state = if cancelled {
                TaskState::Cancelled
            } else {
                TaskState::Finished
            }
        });
    }

    pub fn fail(self, reason: impl Into<String>) {
        let reason = reason.into();
        self.table
            .update(self.id, |v| v.state = TaskState::Failed { reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_marks_and_signals_the_task() {
        let table = TaskTable::new();
        let root = CancellationToken::new();
        let t = table.register(TaskKind::Worker, "worker a", Some("a".into()), &root);
        assert!(!t.cancel.is_cancelled());
        table.cancel(t.id, false, Duration::from_secs(5)).unwrap();
        assert!(t.cancel.is_cancelled());
        assert!(!t.force.is_cancelled());
        assert!(matches!(
            table.views()[0].state,
            TaskState::Cancelling { force: false, .. }
        ));
        let id = t.id;
        t.finish();
        assert_eq!(table.views()[0].state, TaskState::Cancelled);
        assert_eq!(
            table.cancel(id, true, Duration::ZERO),
            Err(CancelError::Ended(id))
        );
        assert_eq!(
            table.cancel(99, true, Duration::ZERO),
            Err(CancelError::NoSuchTask(99))
        );
    }

    #[test]
    fn parent_token_reaches_every_task_and_force_is_separate() {
        let table = TaskTable::new();
        let root = CancellationToken::new();
        let a = table.register(TaskKind::Worker, "a", None, &root);
        let b = table.register(TaskKind::Sweep, "b", None, &root);
        assert_eq!(
            table.cancel_all(|k| k == TaskKind::Sweep, true, Duration::ZERO),
            1
        );
        assert!(b.force.is_cancelled() && !a.cancel.is_cancelled());
        root.cancel();
        assert!(a.cancel.is_cancelled());
        a.finish();
        b.finish();
        assert_eq!(table.live_count(|_| true), 0);
    }

    #[test]
    fn ended_tasks_are_trimmed_but_live_ones_never() {
        let table = TaskTable::new();
        let root = CancellationToken::new();
        let live = table.register(TaskKind::Monitor, "live", None, &root);
        for i in 0..(ENDED_KEPT + 10) {
            table
                .register(TaskKind::Sweep, format!("s{i}"), None, &root)
                .finish();
        }
        let views = table.views();
        assert_eq!(views.len(), ENDED_KEPT + 1);
        assert!(views.iter().any(|v| v.id == live.id));
    }
}
