//! Carries out the `Effect`s a command came to: store writes with the fleet
//! reconciled at once, supervisor operations, task cancels, aria2 calls and
//! operator actions that finish beside the loop (their outcome comes back
//! as a notice, and an audit record where it is destructive).

use std::future::Future;
use std::time::Duration;

use tracing::{info, warn};

use super::Control;
use super::answer::{after_worker_starts, answer_of, tell};
use super::commands::{AccountWrite, Effect, WorkerOp};
use crate::accounts::supervisor::Op;
use crate::model::{Answer, ForeignAria2, NoticeLevel};
use crate::store::{Store, StoreError};

/// Deadline announced for a task cancel (the task's own stop applies it).
const CANCEL_DEADLINE: Duration = Duration::from_secs(10);
/// SIGTERM to SIGKILL for an operator-confirmed stop of a foreign aria2c.
pub(super) const FOREIGN_STOP_DEADLINE: Duration = Duration::from_secs(3);

impl Control {
    pub(super) fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Notice(level, text) => self.say(level, text),
            Effect::Log(text) => info!("{text}"),
            Effect::Write { write, done } => self.write(write, done),
            Effect::Worker { id, op, verb } => self.send_op(&id, op, verb),
            Effect::CancelTask { id, force } => self.cancel_task(id, force),
            Effect::RestartAria2 => {
                let aria2 = self.aria2.handle.clone();
                self.report(async move {
                    match aria2.restart().await {
                        Ok(()) => Answer::ok("aria2c restarted"),
                        Err(e) => Answer::error(format!("aria2c restart failed: {e}")),
                    }
                });
            }
            Effect::AddDownload {
                url,
                account,
                subdir,
            } => {
                let aria2 = self.aria2.handle.clone();
                self.report(async move {
                    match aria2.add_download(&url, account, subdir).await {
                        Ok(gid) => Answer::ok(format!("download {gid} added"))
                            .with_value(serde_json::json!({ "gid": gid })),
                        Err(e) => Answer::error(format!("cannot add download: {e}")),
                    }
                });
            }
            Effect::RemoveDownload { gid } => {
                let aria2 = self.aria2.handle.clone();
                self.report(async move {
                    match aria2.remove(&gid).await {
                        Ok(()) => Answer::ok(format!("download {gid} removed")),
                        Err(e) => Answer::error(format!("cannot remove download {gid}: {e}")),
                    }
                });
            }
            Effect::StopForeignAria2(foreign) => self.stop_foreign(foreign),
            Effect::PreviewSweep => self.sweeps.preview(),
            Effect::ApplySweep { plan_id } => self.sweeps.apply(plan_id),
            Effect::DismissSweep => self.sweeps.dismiss(),
            Effect::BeginShutdown => self.begin_shutdown(),
            Effect::ForceShutdown => self.force_shutdown(),
        }
    }

    /// Runs `call` beside the loop; its outcome becomes a notice (and the
    /// reply, when the command came with one).
    fn report(&mut self, call: impl Future<Output = Answer> + Send + 'static) {
        let notices = self.notices.clone();
        let reply = self.reply_later();
        tokio::spawn(async move {
            tell(&notices, reply, call.await);
        });
    }

    pub(super) fn with_store<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        f(&store)
    }

    /// Our own write to the accounts table, acted on now rather than at the
    /// store poll (which only sees other processes' commits).
    fn write(&mut self, write: AccountWrite, done: String) {
        let (result, id) = match &write {
            AccountWrite::Add(row) => (
                self.with_store(|s| s.add_account(row)).map(|()| true),
                &row.id,
            ),
            AccountWrite::Remove(id) => (self.with_store(|s| s.remove_account(id)), id),
            AccountWrite::SetEnabled(id, on) => (self.with_store(|s| s.set_enabled(id, *on)), id),
        };
        let starts = match &write {
            AccountWrite::Add(row) => row.enabled.then(|| row.id.clone()),
            AccountWrite::SetEnabled(id, true) => Some(id.clone()),
            _ => None,
        };
        match result {
            Ok(true) => {
                self.say(NoticeLevel::Info, done.clone());
                self.reload_accounts();
                // Whoever asked hears how the worker came up, not just "added".
                if let Some(id) = starts
                    && self.answering.is_some()
                    && let Some(view) = self.fleet.handle(&id).map(|h| h.view.clone())
                    && let Some(reply) = self.reply_later()
                {
                    tokio::spawn(after_worker_starts(reply, done, view));
                }
            }
            Ok(false) => self.say(NoticeLevel::Error, format!("no account {id}")),
            Err(e) => self.say(NoticeLevel::Error, e.to_string()),
        }
    }

    fn reload_accounts(&mut self) {
        match self.with_store(|s| s.accounts()) {
            Ok(rows) => {
                self.fleet.reconcile(rows);
            }
            Err(e) => warn!(error = %e, "cannot read accounts"),
        }
    }

    fn send_op(&mut self, id: &str, op: WorkerOp, verb: &str) {
        let Some(handle) = self.fleet.handle(id) else {
            return self.say(NoticeLevel::Error, format!("no account {id}"));
        };
        let op = match op {
            WorkerOp::Start => Op::Start,
            WorkerOp::Stop => Op::Stop {
                done: None,
                asked: None,
            },
            WorkerOp::Restart => Op::Restart,
        };
        match handle.ops.try_send(op) {
            Ok(()) => self.say(NoticeLevel::Info, format!("{verb} worker {id}")),
            Err(_) => self.say(
                NoticeLevel::Error,
                format!("worker {id} is busy with earlier requests: try again"),
            ),
        }
    }

    fn cancel_task(&mut self, id: u64, force: bool) {
        match self.tasks.cancel(id, force, CANCEL_DEADLINE) {
            Ok(()) => {
                let word = if force {
                    "force-cancelled"
                } else {
                    "cancelled"
                };
                self.say(NoticeLevel::Info, format!("task {id} {word}"));
            }
            Err(e) => self.say(NoticeLevel::Error, e.to_string()),
        }
    }

    /// The operator confirmed it: stopped (re-identified first, by `aria2`),
    /// the outcome recorded in the audit table before the manager may end.
    fn stop_foreign(&mut self, foreign: ForeignAria2) {
        let (notices, store) = (self.notices.clone(), self.store.clone());
        let reply = self.reply_later();
        self.actions.spawn(async move {
            let pid = foreign.pid;
            let result = crate::aria2::stop_foreign(&foreign, FOREIGN_STOP_DEADLINE).await;
            let (level, text, outcome) = match &result {
                Ok(ended) if ended.is_gone() => (
                    NoticeLevel::Info,
                    format!("foreign aria2c pid {pid} stopped ({ended})"),
                    "stopped",
                ),
                Ok(ended) => (
                    NoticeLevel::Error,
                    format!("cannot stop foreign aria2c pid {pid}: {ended}"),
                    "failed",
                ),
                Err(e) => (
                    NoticeLevel::Error,
                    format!("cannot stop foreign aria2c pid {pid}: {e}"),
                    "failed",
                ),
            };
            warn!(pid, %text, "operator-confirmed stop of a foreign aria2c");
            {
                let store = store.lock().unwrap_or_else(|p| p.into_inner());
                let _ =
                    store.record_event("aria2.stop_foreign", &format!("pid {pid}"), &text, outcome);
            }
            tell(&notices, reply, answer_of(level, &text));
        });
    }
}
