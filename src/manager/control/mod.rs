//! The control loop: one task that waits on every event source the manager
//! has and dispatches each in one line. The sources keep their own timers
//! (`StoreMonitor` its poll and rechecks, `UsageWatch` its sampling, the
//! `Publisher` its publish and status-file pace); commands are decided in
//! `commands` and carried out in `effects`; wiring is in `start` (which the
//! manager calls), the end in `stopping`.

mod answer;
mod commands;
mod effects;
mod previous_run;
pub(super) mod start;
mod stopping;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::adoption;
use super::download_tasks::DownloadTasks;
use super::handle::{Call, ManagerOptions};
use super::host_watch::HostWatch;
use super::publish::{Parts, Publisher};
use super::store_watch::{StoreMonitor, StoreWake};
use super::sweeps::Sweeps;
use super::usage::UsageWatch;
use crate::accounts::fleet::Fleet;
use crate::accounts::handover::Handover;
use crate::accounts::keeper::Keeper;
use crate::aria2::{Aria2Error, Aria2Handle};
use crate::host::Crossing;
use crate::lock::InstanceLock;
use crate::model::{Aria2View, Command, Instance, LastShutdown, NoticeLevel, ShutdownView};
use crate::shutdown::Progress;
use crate::store::SharedStore;
use crate::tasks::TaskTable;
use crate::temp::TempRegistry;

struct Control {
    options: ManagerOptions,
    store: SharedStore,
    fleet: Fleet,
    tasks: TaskTable,
    /// Fired by the subsystems whenever their view changes.
    changed: Arc<Notify>,
    /// A worker started: its lock holders are read at once.
    started: Arc<Notify>,
    publisher: Publisher,
    inbox: Inbox,
    /// Outcomes of commands that finish later (aria2 restarts, downloads).
    notices: mpsc::UnboundedSender<(NoticeLevel, String)>,
    aria2: Aria2Link,
    temp: TempRegistry,
    walker_stop: CancellationToken,
    sweeps: Sweeps,
    instance: Instance,
    last_shutdown: Option<LastShutdown>,
    /// How long that previous run's shutdown took.
    last_shutdown_took_ms: Option<u64>,
    data_version: i64,
    stopping: Stopping,
    /// Operator actions still under way beside the loop (see `start`).
    actions: TaskTracker,
    usage: UsageWatch,
    /// Load, memory, free space, and the low-space guard.
    host: HostWatch,
    store_monitor: StoreMonitor,
    /// Adopted descendants outside their worker's group, by account.
    escaped: adoption::Escaped,
    /// Closed after the shutdown, when no worker is left to keep.
    keeper: Arc<Keeper>,
    /// The reply to the command being handled, when it came with one.
    answering: Option<answer::Answering>,
    /// What the service manager is told (nothing outside one).
    service: super::service_report::ServiceReport,
    /// Stamped every turn; `pulse` makes an idle loop turn anyway.
    liveness: super::liveness::Liveness,
    pulse: super::liveness::Pulse,
    /// `control.sock`; closed (and removed) at the very end, lock still held.
    socket: Option<super::listen::ControlSocket>,
    /// `[metrics] listen`'s endpoint, when configured and bound.
    metrics: Option<super::metrics::MetricsServer>,
    /// Held for the manager's whole life; released when the loop ends.
    _lock: InstanceLock,
}

/// What clients send: commands, and notices from work finishing beside the loop.
struct Inbox {
    commands: mpsc::Receiver<Command>,
    /// False once every client handle is gone.
    open: bool,
    /// Commands whose sender waits for the outcome (the control socket).
    calls: mpsc::Receiver<Call>,
    notices: mpsc::UnboundedReceiver<(NoticeLevel, String)>,
}

struct Aria2Link {
    handle: Aria2Handle,
    view: watch::Receiver<Aria2View>,
    cancel: CancellationToken,
    downloads: DownloadTasks,
}

struct Stopping {
    /// The shutdown plan's task, once it runs.
    plan: Option<JoinHandle<ShutdownView>>,
    progress: Option<Progress>,
    /// Cancelled by a shutdown request with force: every remaining wait ends now.
    force: CancellationToken,
    kill_workers: CancellationToken,
    /// Collects stopped workers' dirs and records once the plan runs.
    handover: Handover,
}

impl Control {
    async fn run(mut self) -> ShutdownView {
        self.publish();
        let report = loop {
            self.liveness.stamp();
            let (changed, started) = (self.changed.clone(), self.started.clone());
            let running = self.stopping.plan.is_none();
            // Only what can change the snapshot asks for a publish: an idle
            // instance with 1,000 workers then rebuilds nothing between samples.
            let dirty = tokio::select! {
                cmd = self.inbox.commands.recv(), if self.inbox.open => self.on_command(cmd),
                Some(call) = self.inbox.calls.recv() => self.on_call(call),
                _ = started.notified() => { self.usage.look_now(); true }
                _ = changed.notified() => { self.usage.look_soon(); true }
                Some((level, text)) = self.inbox.notices.recv() => { self.publisher.notice(level, text); true }
                Ok(()) = self.aria2.view.changed() => self.on_aria2_view(),
                wake = self.store_monitor.next(), if running => self.on_store(wake),
                // A shutdown stops sampling: every row is on its way out.
                () = self.usage.due(), if running => self.on_sample(),
                Some(reading) = self.host.next(), if running => self.on_host(reading),
                () = self.publisher.due() => self.publisher.on_due(),
                () = self.pulse.due() => self.on_pulse(),
                done = plan_done(&mut self.stopping.plan) => break done,
            };
            if dirty && self.publisher.changed() {
                self.publish();
            }
        };
        self.finish(report).await
    }

    fn on_command(&mut self, cmd: Option<Command>) -> bool {
        let Some(cmd) = cmd else {
            // Every client is gone: nobody can ask for a shutdown any more,
            // so begin one rather than orphan workers.
            self.inbox.open = false;
            if self.stopping.plan.is_none() {
                self.begin_shutdown();
            }
            return true;
        };
        let shutting_down = self.stopping.plan.is_some();
        let foreign = self.aria2.view.borrow().foreign.clone();
        for effect in commands::plan(cmd, shutting_down, &foreign) {
            self.apply(effect);
        }
        true
    }

    /// A command with a reply: its effects' notices become the answer.
    fn on_call(&mut self, call: Call) -> bool {
        self.answering = Some(answer::Answering::new(call.reply));
        self.on_command(Some(call.command));
        if let Some(answering) = self.answering.take() {
            answering.finish();
        }
        true
    }

    /// Shows `text` on every screen and, while a call is handled, makes it
    /// the caller's answer.
    fn say(&mut self, level: NoticeLevel, text: String) {
        if let Some(answering) = &mut self.answering {
            answering.heard(level, &text);
        }
        self.publisher.notice(level, text);
    }

    /// The reply of the call being handled, for work that finishes later.
    fn reply_later(&mut self) -> Option<tokio::sync::oneshot::Sender<crate::model::Answer>> {
        self.answering.take().and_then(answer::Answering::later)
    }

    fn on_aria2_view(&mut self) -> bool {
        let view = self.aria2.view.borrow_and_update().clone();
        if self.stopping.plan.is_none() {
            self.aria2.downloads.sync(&view, &self.aria2.handle);
        }
        true
    }

    /// Looks for commits by other processes (`steward account add` in
    /// another shell); true when it acted on one.
    fn on_store(&mut self, wake: StoreWake) -> bool {
        let found = self.poll_store();
        self.store_monitor.looked(wake, found);
        found
    }

    fn poll_store(&mut self) -> bool {
        let version = match self.with_store(|s| s.data_version()) {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "cannot poll the store");
                return false;
            }
        };
        if version == self.data_version {
            return false;
        }
        self.data_version = version;
        // `steward download add` in another shell records the owner in the
        // store: poll aria2 now, so the download shows without the idle wait.
        self.aria2.handle.poke();
        match self.with_store(|s| s.accounts()) {
            Ok(rows) => {
                let changes = self.fleet.reconcile(rows);
                for (ids, word) in [(changes.added, "added"), (changes.removed, "removed")] {
                    for id in ids {
                        self.publisher.notice(
                            NoticeLevel::Info,
                            format!("account {id} {word} (from another process)"),
                        );
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot read accounts"),
        }
        true
    }

    /// CPU, memory and lock holders of the live workers due; true when they changed.
    fn on_sample(&mut self) -> bool {
        let live = self.fleet.live_workers();
        let moved = self.usage.sample(&live, tokio::time::Instant::now());
        // The first quiet round after publishing: a burst (workers starting,
        // snapshots rebuilt) has ended; give back what it freed.
        if !moved && self.publisher.burst_ended() {
            crate::alloc::release_free_memory();
        }
        moved
    }

    /// A host reading: true when a shown figure changed. On a crossing of
    /// the low-space line, one log line and the downloads held or released;
    /// while space stays low, downloads started since are held too; while it
    /// is fine, downloads still held (a failed release, an earlier run's hold)
    /// are released.
    fn on_host(&mut self, reading: crate::host::HostSample) -> bool {
        let (changed, crossing) = self.host.take(&reading);
        match crossing {
            Crossing::WentLow => {
                let line = self
                    .host
                    .view()
                    .map(|v| super::host_watch::low_space_line(&v))
                    .unwrap_or_default();
                warn!("{line}");
                self.publisher.notice(NoticeLevel::Warn, line);
                self.hold_downloads();
            }
            Crossing::Recovered => {
                let line = "disk space is back above the low-space line: resuming the downloads steward paused";
                info!("{line}");
                self.publisher.notice(NoticeLevel::Info, line);
                self.release_downloads();
            }
            // A hold or release that failed (aria2 restarting) is tried
            // again; an earlier run's hold ends once space allows.
            Crossing::Steady if self.host.is_low() && self.aria2_has_work() => {
                self.hold_downloads();
            }
            Crossing::Steady if !self.host.is_low() && self.aria2.handle.holds_downloads() => {
                self.release_downloads();
            }
            Crossing::Steady => {}
        }
        changed || crossing != Crossing::Steady
    }

    /// aria2 has a download that is writing, or about to.
    fn aria2_has_work(&self) -> bool {
        self.aria2.view.borrow().downloads.iter().any(|d| {
            matches!(
                d.status,
                crate::model::DownloadStatus::Active | crate::model::DownloadStatus::Waiting
            )
        })
    }

    /// Pauses aria2's active and waiting downloads, beside the loop.
    fn hold_downloads(&self) {
        self.move_held_downloads(true);
    }

    /// Resumes the downloads `hold_downloads` paused, beside the loop.
    fn release_downloads(&self) {
        self.move_held_downloads(false);
    }

    /// Holds (`hold`) or releases the downloads, beside the loop; says how
    /// many moved in the log and as a notice.
    fn move_held_downloads(&self, hold: bool) {
        let aria2 = self.aria2.handle.clone();
        let notices = self.notices.clone();
        let (level, done, failed) = if hold {
            (
                NoticeLevel::Warn,
                "paused for low disk space",
                "cannot pause downloads for low disk space",
            )
        } else {
            (
                NoticeLevel::Info,
                "resumed: disk space is back",
                "cannot resume the downloads paused for low disk space",
            )
        };
        tokio::spawn(async move {
            let moved = if hold {
                aria2.hold_downloads().await
            } else {
                aria2.release_held_downloads().await
            };
            match moved {
                Ok(gids) if gids.is_empty() => {}
                Ok(gids) => {
                    info!(count = gids.len(), ?gids, "downloads {done}");
                    let text = format!("{} download(s) {done}", gids.len());
                    let _ = notices.send((level, text));
                }
                // No aria2 running: nothing is downloading.
                Err(Aria2Error::Disabled | Aria2Error::NotRunning { .. }) => {}
                Err(e) => warn!(error = %e, "{failed}"),
            }
        });
    }

    /// The loop's own heartbeat: the watchdog ping comes from here only.
    fn on_pulse(&mut self) -> bool {
        self.pulse.beat();
        let now = tokio::time::Instant::now();
        self.service.pulse(&self.publisher.latest(), now);
        false
    }

    fn publish(&mut self) {
        self.publisher.publish(|| Parts {
            instance: self.instance.clone(),
            accounts: self.fleet.views(),
            tasks: self.tasks.views(),
            aria2: Some(self.aria2.view.borrow().clone()),
            temp: Some(self.temp.stats()),
            host: self.host.view(),
            sweep: self.sweeps.view(),
            shutdown: self.stopping.progress.as_ref().and_then(|p| p.view()),
            last_shutdown: self.last_shutdown,
            last_shutdown_took_ms: self.last_shutdown_took_ms,
            sweeps: self.sweeps.totals(),
            usage: self.usage.usage().clone(),
            holders: self.usage.holders().clone(),
            escaped: self
                .escaped
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        });
        let now = tokio::time::Instant::now();
        self.service.published(&self.publisher.latest(), now);
    }
}

/// The shutdown plan's report once it ran; never, before it began.
async fn plan_done(plan: &mut Option<JoinHandle<ShutdownView>>) -> ShutdownView {
    match plan {
        Some(plan) => plan.await.unwrap_or_default(),
        None => std::future::pending().await,
    }
}
