//! The end of the manager: the shutdown plan begun (or forced) from a
//! command, and what runs after it, in order, before the run is recorded.

use std::time::Duration;

use tracing::{info, warn};

use super::Control;
use super::effects::FOREIGN_STOP_DEADLINE;
use crate::manager::{adoption, run_record, stop_plan};
use crate::model::{NoticeLevel, ShutdownView};
use crate::shutdown::{self, Progress};

/// Beyond the longest stop an operator action runs (a foreign aria2c's
/// deadline, a removed account's worker stop), what the manager's end waits
/// for that action to record its outcome.
const ACTIONS_SLACK: Duration = Duration::from_secs(3);

impl Control {
    pub(super) fn begin_shutdown(&mut self) {
        info!("shutdown requested");
        self.stopping.handover.collect(&self.temp);
        let progress = Progress::new(self.changed.clone());
        let phases = stop_plan::phases(stop_plan::PlanInputs {
            config: self.options.config.clone(),
            tasks: self.tasks.clone(),
            workers: self.fleet.handles(),
            store: self.store.clone(),
            kill_workers: self.stopping.kill_workers.clone(),
            force: self.stopping.force.clone(),
            progress: progress.clone(),
            aria2: self.aria2.handle.clone(),
            temp: self.temp.clone(),
            handover: self.stopping.handover.clone(),
        });
        self.stopping.progress = Some(progress.clone());
        let force = self.stopping.force.clone();
        if let Some(after) = self.options.config.shutdown.force_after {
            // An operator-set ceiling on the whole plan: past it, stop waiting.
            let (force, progress) = (force.clone(), progress.clone());
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                if !force.is_cancelled() {
                    warn!(after = ?after, "shutdown still running at force_after: forcing");
                    force.cancel();
                    progress.mark_forced();
                }
            });
        }
        self.stopping.plan = Some(tokio::spawn(async move {
            shutdown::run(phases, &progress, force).await
        }));
        // The plan no longer reads the store, and wants the cores more than
        // fresh figures: the watch goes now, sampling stops, frames slow down.
        self.store_monitor.close();
        self.publisher.shutting_down();
    }

    pub(super) fn force_shutdown(&mut self) {
        info!("shutdown request with force: forcing");
        self.stopping.force.cancel();
        if let Some(p) = &self.stopping.progress {
            p.mark_forced();
        }
        self.publisher
            .notice(NoticeLevel::Warn, "forcing shutdown: SIGKILL now");
    }

    /// After the plan: the subsystems' own tasks end, operator actions get
    /// to record their outcome, the keeper goes, then the run is recorded
    /// and the last snapshot written.
    pub(super) async fn finish(mut self, report: ShutdownView) -> ShutdownView {
        self.aria2.downloads.end_all();
        self.walker_stop.cancel();
        // aria2c was stopped by its phase; this ends its supervisor task.
        self.aria2.cancel.cancel();
        self.aria2.handle.join().await;
        self.finish_actions().await;
        adoption::remove_cgroups();
        let keeper = self.keeper.clone();
        let _ = tokio::task::spawn_blocking(move || keeper.close()).await;
        let outcome = {
            let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
            run_record::finish(&store, &report)
        };
        info!(outcome = ?outcome, "manager stopped");
        self.publish();
        self.publisher.write_status_now();
        if let Some(metrics) = self.metrics.take() {
            metrics.close().await;
        }
        if let Some(socket) = self.socket.take() {
            socket.close().await;
        }
        report
    }

    /// Waits (bounded) for the operator actions still under way, so their
    /// outcomes are in the store before the run is recorded as finished and
    /// the process exits. Their stops have their own deadlines, and a forced
    /// shutdown SIGKILLs a removed account's worker at once.
    async fn finish_actions(&self) {
        self.actions.close();
        if self.actions.is_empty() {
            return;
        }
        let limit = self
            .options
            .config
            .worker
            .stop_timeout
            .max(FOREIGN_STOP_DEADLINE)
            + crate::aria2::terminate::KILL_WAIT
            + ACTIONS_SLACK;
        info!(
            left = self.actions.len(),
            "waiting for operator actions to record their outcome"
        );
        if tokio::time::timeout(limit, self.actions.wait())
            .await
            .is_err()
        {
            warn!(
                left = self.actions.len(),
                "operator actions still running at exit: their outcome is not recorded"
            );
        }
    }
}
