//! The manager's shutdown plan: which phases run, in what order, with which
//! deadlines. Each subsystem plugs its phase in here.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::accounts::handover::{Handover, Stopped};
use crate::accounts::supervisor::SupervisorHandle;
use crate::aria2::Aria2Handle;
use crate::config::Config;
use crate::model::{Aria2State, TaskKind};
use crate::shutdown::{Phase, Progress};
use crate::store::{SharedStore, StoreError};
use crate::tasks::TaskTable;
use crate::temp::TempRegistry;
use crate::time::now_ms;

/// How long a forced shutdown lets aria2c exit on SIGTERM before SIGKILL.
const FORCED_ARIA2_GRACE: Duration = Duration::from_millis(100);
/// How often "cancel tasks" re-checks that the cancelled tasks have ended.
const TASK_POLL: Duration = Duration::from_millis(20);

pub(super) struct PlanInputs {
    pub config: Config,
    pub tasks: TaskTable,
    pub workers: Vec<(String, SupervisorHandle)>,
    pub store: SharedStore,
    /// Cancelled to make every worker stop skip its wait and SIGKILL now.
    pub kill_workers: CancellationToken,
    /// The plan's force (the operator's second request or `force_after`).
    pub force: CancellationToken,
    pub progress: Progress,
    pub aria2: Aria2Handle,
    pub temp: TempRegistry,
    /// Where stopped workers left their dirs and records (collecting since
    /// the plan was built).
    pub handover: Handover,
}

pub(super) fn phases(inputs: PlanInputs) -> Vec<Phase> {
    let PlanInputs {
        config,
        tasks,
        workers,
        store,
        kill_workers,
        force,
        progress,
        aria2,
        temp,
        handover,
    } = inputs;
    let s = &config.shutdown;
    // Workers stop in their own phase; download monitors end with aria2 (a
    // shutdown must not remove downloads: they resume at the next start).
    let not_worker = |k: TaskKind| k != TaskKind::Worker && k != TaskKind::Download;
    let saver = aria2.clone();
    let aria2_deadline = s.stop_aria2;
    let (rows_store, workers_handover) = (store.clone(), handover.clone());
    let store_for_temp = store.clone();
    vec![
        // The control loop refuses new work and stops watching the store the
        // moment the plan is built; the phase makes that step visible.
        Phase::new("stop intake", Duration::from_secs(1), |_| async {
            Ok("new work refused".to_string())
        }),
        Phase::new("cancel tasks", s.cancel_tasks, {
            let deadline = s.cancel_tasks;
            move |hurry: CancellationToken| async move {
                let cancelled = tasks.cancel_all(not_worker, false, deadline);
                while tasks.live_count(not_worker) > 0 {
                    if hurry.is_cancelled() {
                        tasks.cancel_all(not_worker, true, Duration::ZERO);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(TASK_POLL) => {}
                        _ = hurry.cancelled(), if !hurry.is_cancelled() => {}
                    }
                }
                Ok(format!("{cancelled} cancelled"))
            }
        }),
        Phase::new(
            "save downloads",
            s.save_downloads,
            move |hurry: CancellationToken| async move {
                match saver.view().borrow().state {
                    Aria2State::Running => {}
                    ref other => {
                        return Ok(format!("aria2 {}: nothing to save", other.label(now_ms())));
                    }
                }
                if force.is_cancelled() {
                    return Err("saveSession skipped: shutdown forced".into());
                }
                // The RPC timeout (3 s) may be longer than the phase's deadline.
                tokio::select! {
                    saved = saver.save_session() => saved
                        .map(|()| "aria2 session saved".to_string())
                        .map_err(|e| e.to_string().into()),
                    _ = hurry.cancelled() => Err(if force.is_cancelled() {
                        "saveSession abandoned: shutdown forced"
                    } else {
                        "aria2 did not answer saveSession in time"
                    }.into()),
                }
            },
        ),
        Phase::new(
            "stop workers",
            config.stop_workers_deadline(),
            move |hurry: CancellationToken| async move {
                // Every worker is asked at once, in one loop: the phase lasts
                // as long as the slowest worker, not the sum of them.
                let count = workers.len();
                // One moment for all: each worker's stop timeout counts from
                // here, not from when its supervisor gets to the request.
                let asked = tokio::time::Instant::now();
                let stops: Vec<_> = workers
                    .into_iter()
                    .map(|(id, handle)| {
                        let done = handle.request_stop(asked);
                        (id, handle, done)
                    })
                    .collect();
                let kill = kill_workers.clone();
                let forward = tokio::spawn(async move {
                    hurry.cancelled().await;
                    kill.cancel();
                });
                let mut killed = Vec::new();
                // In order: the total wait is the slowest stop either way.
                for (id, handle, done) in stops {
                    let _ = done.await;
                    if handle.view.borrow().stop_forced {
                        killed.push(id);
                    }
                }
                forward.abort();
                killed.sort();
                let mut detail = format!("{count} stopped, {} killed", killed.len());
                progress.set_killed_workers(killed);
                // Every group handed over is gone: their records go in one commit.
                if let Err(e) = clear_records(&rows_store, &workers_handover.take_stopped()) {
                    detail.push_str(&format!("; worker records left for the next start: {e}"));
                }
                Ok(detail)
            },
        ),
        // Workers are gone before aria2 is signalled: none of them can be in
        // the middle of an RPC call when it goes.
        Phase::new(
            "stop aria2",
            aria2_deadline,
            move |hurry: CancellationToken| async move {
                // aria2c answers SIGTERM at its next event-loop turn, which is up
                // to 1 s away once it has served RPC; forced, it gets 100 ms
                // (its session was just saved over RPC) before SIGKILL.
                let deadline = if hurry.is_cancelled() {
                    FORCED_ARIA2_GRACE
                } else {
                    aria2_deadline
                };
                aria2
                    .stop(deadline)
                    .await
                    .map(|()| "aria2c stopped".to_string())
                    .map_err(|e| e.to_string().into())
            },
        ),
        // The stopped workers' dirs were handed over as each group went, and
        // one blocking task has been removing them since (accounts::handover):
        // wait for it, add what is registered to steward itself, and delete
        // the rows of everything removed in one transaction.
        Phase::new("clean temp", s.clean_temp, move |_| async move {
            let leftovers = handover.finish();
            let records = clear_records(&store_for_temp, &leftovers.stopped);
            let bulk = match leftovers.removal {
                Some(removal) => removal.await.ok(),
                None => None,
            };
            // A removal task that panicked dropped its guards, which then
            // released themselves one by one: start afresh for the rest.
            let mut bulk = bulk.unwrap_or_else(|| temp.bulk_release());
            let report = tokio::task::spawn_blocking(move || {
                bulk.add_own();
                bulk.finish()
            })
            .await
            .map_err(|e| format!("clean-up task failed: {e}"))?;
            if let Err(e) = records {
                tracing::warn!(error = %e, "worker records left for the next start");
            }
            let done = format!(
                "{} removed ({})",
                report.removed,
                crate::time::human_bytes(report.freed)
            );
            if report.left.is_empty() {
                Ok(done)
            } else {
                Err(format!("{done}; left: {}", report.left.join("; ")).into())
            }
        }),
        Phase::new("close store", s.close_store, move |_| async move {
            let store = store.lock().unwrap_or_else(|p| p.into_inner());
            match store.checkpoint() {
                Ok(true) => Ok("WAL checkpointed".to_string()),
                Ok(false) => Ok("WAL checkpoint incomplete (readers active)".to_string()),
                Err(e) => Err(e.to_string().into()),
            }
        }),
    ]
}

/// Clears the records of workers whose groups are gone, in one transaction.
fn clear_records(store: &SharedStore, stopped: &[Stopped]) -> Result<(), StoreError> {
    if stopped.is_empty() {
        return Ok(());
    }
    let keys: Vec<(String, i32, u64)> = stopped.iter().map(Stopped::record_key).collect();
    let store = store.lock().unwrap_or_else(|p| p.into_inner());
    store.clear_workers(&keys).map(|_| ())
}
