//! The control loop: one task that executes commands, watches the store for
//! changes made by other processes, samples worker usage, runs the shutdown
//! plan, and publishes a snapshot after anything changed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::download_tasks::DownloadTasks;
use super::fleet::Fleet;
use super::publish::{Parts, Publisher};
use super::store_watch::StoreWatch;
use super::sweeps::Sweeps;
use super::usage::{self, UsageWatch};
use super::{
    ManagerHandle, ManagerOptions, RunningManager, StartError, adoption, leftovers, migrate,
    run_record, stop_plan,
};
use crate::accounts::handover::Handover;
use crate::accounts::id::validate;
use crate::accounts::keeper::Keeper;
use crate::accounts::supervisor::{Op, SupervisorContext};
use crate::aria2::{Aria2Handle, Aria2Service};
use crate::lock::InstanceLock;
use crate::manager::command::Command;
use crate::manager::snapshot::{Aria2State, Aria2View, SweepOutcome};
use crate::manager::snapshot::{Instance, LastShutdown, NoticeLevel, ShutdownView};
use crate::proc::ProcId;
use crate::redact::{SecretMask, check_secret};
use crate::shutdown::{self, Progress};
use crate::store::{AccountRow, SharedStore, StoreError};
use crate::sweep::{self, DeadTempSweep, SweepScope};
use crate::tasks::TaskTable;
use crate::temp::TempRegistry;
use crate::time::now_ms;

/// How often the store is checked for commits by other processes when no
/// inotify watch tells (a CLI change takes effect within about this long: "a
/// couple of seconds"); with the watch, a commit is seen at once and the poll
/// is only a safety net.
const STORE_POLL: Duration = Duration::from_secs(2);
const STORE_POLL_WATCHED: Duration = Duration::from_secs(30);
/// After a store event that showed no new commit yet, it is looked for again
/// after these gaps (the committing process may be descheduled between its
/// WAL write and the index update that makes the commit visible).
const STORE_RECHECK: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(500),
    Duration::from_secs(2),
];
/// Deadline announced for a task cancel (the task's own stop applies it).
const CANCEL_DEADLINE: Duration = Duration::from_secs(10);
/// SIGTERM to SIGKILL for an operator-confirmed stop of a foreign aria2c.
const FOREIGN_STOP_DEADLINE: Duration = Duration::from_secs(3);
/// Beyond the longest stop an operator action runs (a foreign aria2c's
/// deadline, a removed account's worker stop), what the manager's end waits
/// for that action to record its outcome.
const ACTIONS_SLACK: Duration = Duration::from_secs(3);
/// Snapshots are rebuilt at most this often: a burst of changes (500 workers
/// stopping at once) costs a few rebuilds, not one per change.
const PUBLISH_MIN_GAP: Duration = Duration::from_millis(16);
/// During a shutdown: every worker changes state twice within a few tens of
/// ms, and each rebuild copies every account (a few ms with 500 of them, on
/// the cores the stopping workers need); 10 progress frames a second, the
/// status file's pace too, is plenty for the progress view.
const PUBLISH_MIN_GAP_SHUTDOWN: Duration = Duration::from_millis(100);
/// The status file is rewritten at most this often; during a shutdown, which
/// `steward stop` follows through it, at most every `STATUS_FILE_SHUTDOWN`.
const STATUS_FILE_EVERY: Duration = Duration::from_secs(1);
const STATUS_FILE_SHUTDOWN: Duration = Duration::from_millis(100);
/// How long start-up waits for aria2c to answer before starting workers
/// without its RPC coordinates (a broken aria2 must not hold workers back).
const ARIA2_READY_LIMIT: Duration = Duration::from_secs(5);

pub(super) async fn start(
    options: ManagerOptions,
    store: SharedStore,
    lock: InstanceLock,
) -> Result<RunningManager, StartError> {
    let me = ProcId::current();
    let isolation = adoption::isolation();
    let changed = Arc::new(Notify::new());
    let started = Arc::new(Notify::new());
    let tasks = TaskTable::with_notify(changed.clone());
    // Watching before the version is read: a commit landing in between
    // still wakes the loop.
    let store_watch = StoreWatch::new(&options.data_dir.db_file());
    let (last_shutdown, accounts, data_version) = {
        let s = store.lock().unwrap_or_else(|p| p.into_inner());
        let last = run_record::begin(&s, me);
        (last, s.accounts()?, s.data_version()?)
    };
    // Every account's secret is masked from here on, in events (the
    // leftover stops just below record some) and worker output; aria2's
    // joins once it is known.
    let mask = SecretMask::default();
    mask.set(accounts.iter().filter_map(|a| a.secret.as_deref()));
    store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .set_mask(mask.clone());
    let (mut publisher, snapshots) = Publisher::new();
    if last_shutdown == Some(LastShutdown::Crashed) {
        publisher.notice(
            NoticeLevel::Warn,
            "the previous run ended without a shutdown report (crashed or killed)",
        );
    }
    // Stored by an older steward, before input refused them: still masked,
    // but masking a 3-letter string blanks it out of every word.
    for a in &accounts {
        if let Some(Err(e)) = a.secret.as_deref().map(check_secret) {
            warn!(account = %a.id, "account secret too short: masked in ordinary text too");
            publisher.notice(NoticeLevel::Warn, format!("account {}: {e}", a.id));
        }
    }
    let scope = SweepScope::new(&options.config, &options.data_dir);
    let held_back = clean_up_after_previous_run(&options, &store, &scope, &mut publisher).await;
    let temp = TempRegistry::from_config(&options.config, &options.data_dir, store.clone())?;
    temp.set_changed_notify(changed.clone());
    let walker_stop = CancellationToken::new();
    temp.spawn_stats_walker(options.config.temp.stats_interval, walker_stop.clone());
    if held_back {
        spawn_dead_temp_retry(scope.clone(), store.clone(), walker_stop.clone());
    }
    let aria2_cancel = CancellationToken::new();
    let aria2 = Aria2Service::start(
        options.config.aria2.clone(),
        options.data_dir.clone(),
        store.clone(),
        aria2_cancel.clone(),
    );
    let worker_env = aria2_env(&aria2).await;
    // aria2c's secret is in every worker's environment: the fleet keeps it
    // in the mask beside the accounts' (set at each reconcile).
    let fixed_secrets: Vec<String> = worker_env
        .iter()
        .filter(|(k, _)| k == "ARIA2_RPC_SECRET")
        .map(|(_, v)| v.clone())
        .collect();

    let plan_force = CancellationToken::new();
    let kill_workers = plan_force.child_token();
    let handover = Handover::default();
    // Before any worker: each hands it its output pipes at spawn.
    let keeper = Keeper::start(&options.self_exe, options.data_dir.root());
    // Operator actions that finish beside the loop and end in a store record
    // (a confirmed foreign stop, an account removal): the manager does not
    // end before they did, or a shutdown right after one would lose it.
    let actions = TaskTracker::new();
    let ctx = SupervisorContext {
        store: store.clone(),
        tasks: tasks.clone(),
        changed: changed.clone(),
        started: started.clone(),
        force: kill_workers.clone(),
        owner: me,
        temp: temp.clone(),
        handover: handover.clone(),
        mask,
        cgroups: adoption::cgroups(),
        keeper: keeper.clone(),
    };
    let mut fleet = Fleet::new(
        ctx,
        options.config.clone(),
        options.data_dir.clone(),
        options.self_exe.clone(),
        worker_env,
        fixed_secrets,
        actions.clone(),
    );
    fleet.reconcile(accounts);
    info!(accounts = fleet.len(), data_dir = %options.data_dir.root().display(), "manager started");

    let (commands, rx) = mpsc::channel(64);
    let (notices, notices_rx) = mpsc::unbounded_channel();
    let sweeps = Sweeps::new(
        scope,
        store.clone(),
        tasks.clone(),
        temp.clone(),
        notices.clone(),
        changed.clone(),
    );
    let instance = Instance {
        data_dir: options.data_dir.root().to_path_buf(),
        pid: me.pid,
        started_ms: now_ms(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        live: true,
        as_root: crate::proc::running_as_root(),
        isolation: isolation.to_string(),
    };
    let escaped = adoption::spawn_reaper(options.data_dir.sessions_dir(), changed.clone());
    let control = Control {
        options,
        store,
        fleet,
        changed,
        started,
        publisher,
        notices,
        aria2_view: aria2.view(),
        download_tasks: DownloadTasks::new(tasks.clone()),
        tasks,
        aria2,
        aria2_cancel,
        temp,
        walker_stop,
        sweeps,
        instance,
        last_shutdown,
        data_version,
        plan_force,
        kill_workers,
        handover,
        actions,
        progress: None,
        usage: UsageWatch::default(),
        store_watch,
        escaped,
        keeper,
        _lock: lock,
    };
    let done = tokio::spawn(control.run(rx, notices_rx));
    Ok(RunningManager {
        handle: ManagerHandle {
            commands,
            snapshots,
        },
        done,
    })
}

/// What a previous run may have left: its workers (stopped, so an account
/// never has two), then the temp entries of owners now dead (their dirs are
/// free once those workers are gone). Each finding becomes a notice.
/// Returns whether some of those entries are still held by a process and
/// were left in place, or could not be looked at (another sweep ran).
async fn clean_up_after_previous_run(
    options: &ManagerOptions,
    store: &SharedStore,
    scope: &SweepScope,
    publisher: &mut Publisher,
) -> bool {
    let timeout = options.config.worker.stop_timeout;
    let mut findings = leftovers::stop_leftovers(store, timeout).await;
    findings.extend(leftovers::stop_unrecorded(store, &options.data_dir, timeout).await);
    findings.extend(leftovers::stop_escaped(store, &options.data_dir, timeout).await);
    findings.extend(adoption::end_previous_cgroups(store).await);
    // Once the old workers are gone and before any new one starts.
    findings.extend(migrate::trash_empty_session_files(&options.data_dir, store));
    for finding in findings {
        publisher.notice(NoticeLevel::Warn, finding);
    }
    let (scope, store) = (scope.clone(), store.clone());
    let swept =
        match tokio::task::spawn_blocking(move || sweep::sweep_dead_temp(&scope, &store)).await {
            Ok(DeadTempSweep::Applied(swept)) => swept,
            // Another sweep holds the lock (an operator's `steward sweep`): the
            // retry looks again shortly.
            Ok(DeadTempSweep::Busy) => return true,
            Err(_) => Vec::new(),
        };
    let freed: u64 = swept
        .iter()
        .filter(|r| matches!(r.outcome, SweepOutcome::Done { .. }))
        .map(|r| r.freed)
        .sum();
    if !swept.is_empty() {
        publisher.notice(
            NoticeLevel::Info,
            format!(
                "start-up sweep: {} temp entries of dead owners removed ({})",
                swept.len(),
                crate::time::human_bytes(freed)
            ),
        );
    }
    any_left(&swept)
}

/// A sweep result that leaves the entry in place (held by a process, or
/// not removable this time).
fn any_left(results: &[crate::manager::snapshot::SweepItemResult]) -> bool {
    results
        .iter()
        .any(|r| !matches!(r.outcome, SweepOutcome::Done { .. }))
}

/// Dead owners' temp entries the start-up sweep had to leave, typically
/// because a process still holds them (a worker the crashed steward forked
/// but died before recording keeps its TMPDIR locked until it exits), or
/// could not look at because another sweep held the lock. They are swept
/// again, 1 s after start then backing off to 4 s (a minute later to 60 s),
/// until none is left or the manager stops.
fn spawn_dead_temp_retry(scope: SweepScope, store: SharedStore, stop: CancellationToken) {
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_secs(1);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            let (scope, store) = (scope.clone(), store.clone());
            match tokio::task::spawn_blocking(move || sweep::sweep_dead_temp(&scope, &store)).await
            {
                // Another sweep holds the lock: look again after the delay.
                Ok(DeadTempSweep::Busy) => {}
                Ok(DeadTempSweep::Applied(swept)) if any_left(&swept) => {}
                Ok(DeadTempSweep::Applied(_)) | Err(_) => return,
            }
            delay = if started.elapsed() < Duration::from_secs(60) {
                (delay * 2).min(Duration::from_secs(4))
            } else {
                Duration::from_secs(60)
            };
        }
    });
}

/// Waits (bounded) until aria2c answers, and returns the variables workers
/// need to reach it; none when aria2 is disabled, missing or broken.
async fn aria2_env(aria2: &Aria2Handle) -> Vec<(String, String)> {
    let mut view = aria2.view();
    let settled = |v: &Aria2View| !matches!(v.state, Aria2State::Starting | Aria2State::Stopped);
    let _ = tokio::time::timeout(ARIA2_READY_LIMIT, view.wait_for(settled)).await;
    aria2
        .rpc_info()
        .map(|info| {
            info.env()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect()
        })
        .unwrap_or_default()
}

struct Control {
    options: ManagerOptions,
    store: SharedStore,
    fleet: Fleet,
    tasks: TaskTable,
    changed: Arc<Notify>,
    /// A worker started: its lock holders are read at once.
    started: Arc<Notify>,
    publisher: Publisher,
    /// Outcomes of commands that finish later (aria2 restarts, downloads).
    notices: mpsc::UnboundedSender<(NoticeLevel, String)>,
    aria2: Aria2Handle,
    aria2_view: tokio::sync::watch::Receiver<Aria2View>,
    aria2_cancel: CancellationToken,
    download_tasks: DownloadTasks,
    temp: TempRegistry,
    walker_stop: CancellationToken,
    sweeps: Sweeps,
    instance: Instance,
    last_shutdown: Option<LastShutdown>,
    data_version: i64,
    /// Cancelled by a shutdown request with force: every remaining wait ends now.
    plan_force: CancellationToken,
    kill_workers: CancellationToken,
    /// Collects stopped workers' dirs and records once the plan runs.
    handover: Handover,
    /// Operator actions still under way beside the loop (see `start`).
    actions: TaskTracker,
    /// Set once the shutdown plan runs.
    progress: Option<Progress>,
    usage: UsageWatch,
    /// Taken by the loop; `None` where inotify is unavailable.
    store_watch: Option<StoreWatch>,
    /// Adopted descendants outside their worker's group, by account.
    escaped: adoption::Escaped,
    /// Closed after the shutdown, when no worker is left to keep.
    keeper: Arc<Keeper>,
    /// Held for the manager's whole life; released when the loop ends.
    _lock: InstanceLock,
}

impl Control {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut notices: mpsc::UnboundedReceiver<(NoticeLevel, String)>,
    ) -> ShutdownView {
        let mut store_watch = self.store_watch.take();
        let poll_every = if store_watch.is_some() {
            STORE_POLL_WATCHED
        } else {
            warn!("no inotify watch on the store: polling it every 2 s");
            STORE_POLL
        };
        let mut store_poll = tokio::time::interval(poll_every);
        let mut store_recheck: Option<(tokio::time::Instant, usize)> = None;
        // Set when something moved: the live workers are looked at by then
        // (a new worker's figures show within `usage::BASE`).
        let mut look_by: Option<tokio::time::Instant> = Some(tokio::time::Instant::now());
        store_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut plan: Option<JoinHandle<ShutdownView>> = None;
        let mut commands_open = true;
        self.publish();
        let mut last_publish = tokio::time::Instant::now();
        let mut publish_due: Option<tokio::time::Instant> = None;
        let mut published_since_trim = true;
        let report = loop {
            let changed = self.changed.clone();
            let started = self.started.clone();
            // Only what can change the snapshot asks for a publish: an idle
            // instance with 1,000 workers then rebuilds nothing between samples.
            let mut dirty = true;
            let status_gap = self.status_gap();
            let next_sample = match (look_by, self.usage.next_due()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or_else(far_future),
            };
            tokio::select! {
                cmd = rx.recv(), if commands_open => match cmd {
                    Some(cmd) => {
                        if let Some(p) = self.handle(cmd, plan.is_some()) {
                            plan = Some(p);
                        }
                    }
                    None => {
                        // Every client is gone: nobody can ask for a shutdown
                        // any more, so begin one rather than orphan workers.
                        commands_open = false;
                        if plan.is_none() {
                            plan = Some(self.begin_shutdown());
                        }
                    }
                },
                _ = started.notified() => {
                    // The README promises lock holders read when a worker
                    // starts, not up to `usage::BASE` later.
                    look_by = Some(tokio::time::Instant::now());
                }
                _ = changed.notified() => {
                    // Something moved (a worker started, stopped, logged): the
                    // set of live workers is worth a look soon.
                    look_by.get_or_insert(tokio::time::Instant::now() + usage::BASE);
                }
                Some((level, text)) = notices.recv() => self.publisher.notice(level, text),
                Ok(()) = self.aria2_view.changed() => {
                    let view = self.aria2_view.borrow_and_update().clone();
                    if plan.is_none() {
                        self.download_tasks.sync(&view, &self.aria2);
                    }
                }
                () = async { store_watch.as_ref().expect("guarded by the if").changed().await }, if plan.is_none() && store_watch.is_some() => {
                    dirty = self.poll_store();
                    if !dirty {
                        // SQLite writes a commit's WAL frames (the event) before
                        // it publishes the commit in the shared-memory index
                        // (no event): look again shortly, a few times.
                        store_recheck.get_or_insert((tokio::time::Instant::now() + STORE_RECHECK[0], 0));
                    }
                }
                () = async { tokio::time::sleep_until(store_recheck.expect("guarded by the if").0).await }, if plan.is_none() && store_recheck.is_some() => {
                    let (_, round) = store_recheck.take().expect("guarded by the if");
                    dirty = self.poll_store();
                    if !dirty && let Some(gap) = STORE_RECHECK.get(round + 1) {
                        store_recheck = Some((tokio::time::Instant::now() + *gap, round + 1));
                    }
                }
                _ = store_poll.tick(), if plan.is_none() => {
                    if let Some(watch) = &store_watch {
                        watch.rewatch();
                    }
                    dirty = self.poll_store();
                }
                // A shutdown stops sampling: every row is on its way out, and
                // the stop phase needs the cores more than the figures do.
                _ = tokio::time::sleep_until(next_sample), if plan.is_none() => {
                    look_by = None;
                    dirty = self.sample();
                    // The first quiet round after publishing: a burst (workers
                    // starting, snapshots rebuilt) has ended; give back what it freed.
                    if !dirty && published_since_trim {
                        published_since_trim = false;
                        crate::alloc::release_free_memory();
                    }
                }
                // A publish held back by `publish_gap`.
                _ = async { tokio::time::sleep_until(publish_due.unwrap_or_else(tokio::time::Instant::now)).await }, if publish_due.is_some() => {}
                // Lands a status-file write the gap held back, one gap after the last.
                _ = tokio::time::sleep_until(self.publisher.status_due(status_gap).into()), if self.publisher.status_pending() => {
                    dirty = publish_due.is_some();
                    self.publisher.write_status(&self.options.data_dir.status_file(), status_gap);
                }
                done = async { plan.as_mut().expect("guarded by the if").await }, if plan.is_some() => {
                    break done.unwrap_or_default();
                }
            }
            // The plan stopped watching the store: let the watch go now.
            if plan.is_some()
                && let Some(watch) = store_watch.take()
            {
                watch.close_in_background();
            }
            if dirty {
                let now = tokio::time::Instant::now();
                let gap = self.publish_gap();
                if now >= last_publish + gap {
                    published_since_trim = true;
                    self.publish();
                    last_publish = now;
                    publish_due = None;
                } else if publish_due.is_none() {
                    publish_due = Some(last_publish + gap);
                }
            }
        };
        self.download_tasks.end_all();
        self.walker_stop.cancel();
        // aria2c was stopped by its phase; this ends its supervisor task.
        self.aria2_cancel.cancel();
        self.aria2.join().await;
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
        self.publisher
            .write_status(&self.options.data_dir.status_file(), Duration::ZERO);
        report
    }

    /// Executes one command; returns the shutdown plan's task if it started one.
    fn handle(&mut self, cmd: Command, shutting_down: bool) -> Option<JoinHandle<ShutdownView>> {
        if shutting_down {
            if let Command::Shutdown { force } = cmd {
                // Only an explicit force escalates: a repeated graceful request
                // (two `steward stop`s) must never kill a worker mid-save.
                if force {
                    info!("shutdown request with force: forcing");
                    self.force_shutdown();
                } else {
                    info!("graceful shutdown request while shutting down: already under way");
                }
            } else if cmd.starts_work() {
                self.publisher.notice(
                    NoticeLevel::Error,
                    "steward is shutting down: command refused",
                );
            }
            return None;
        }
        match cmd {
            Command::Shutdown { force } => {
                let plan = self.begin_shutdown();
                if force {
                    self.force_shutdown();
                }
                return Some(plan);
            }
            Command::AddAccount {
                id,
                name,
                secret,
                enabled,
            } => {
                if let Err(e) = validate(&id) {
                    self.publisher.notice(NoticeLevel::Error, e.to_string());
                    return None;
                }
                if let Some(Err(e)) = secret.as_ref().map(|s| check_secret(s.expose())) {
                    self.publisher
                        .notice(NoticeLevel::Error, format!("account {id}: {e}"));
                    return None;
                }
                if let Some(e) = name
                    .as_deref()
                    .and_then(|n| crate::accounts::id::validate_name(n).err())
                {
                    self.publisher.notice(NoticeLevel::Error, e.to_string());
                    return None;
                }
                let row = AccountRow {
                    name: name.unwrap_or_else(|| id.clone()),
                    id: id.clone(),
                    enabled,
                    secret: secret.map(|s| s.0),
                    created_ms: now_ms(),
                };
                let result = self.with_store(|s| s.add_account(&row));
                self.after_write(result, format!("account {id} added"));
            }
            Command::RemoveAccount { id } => {
                let result = self.with_store(|s| s.remove_account(&id));
                match result {
                    Ok(false) => self
                        .publisher
                        .notice(NoticeLevel::Error, format!("no account {id}")),
                    other => self.after_write(
                        other.map(|_| ()),
                        format!(
                            "account {id} removed: stopping its worker, session file goes to trash"
                        ),
                    ),
                }
            }
            Command::SetEnabled { id, enabled } => {
                let result = self.with_store(|s| s.set_enabled(&id, enabled));
                let word = if enabled { "enabled" } else { "disabled" };
                match result {
                    Ok(false) => self
                        .publisher
                        .notice(NoticeLevel::Error, format!("no account {id}")),
                    other => self.after_write(other.map(|_| ()), format!("account {id} {word}")),
                }
            }
            Command::StartWorker { id } => self.send_op(&id, Op::Start, "starting"),
            Command::StopWorker { id } => self.send_op(
                &id,
                Op::Stop {
                    done: None,
                    asked: None,
                },
                "stopping",
            ),
            Command::RestartWorker { id } => self.send_op(&id, Op::Restart, "restarting"),
            Command::RestartAria2 => {
                let (aria2, notices) = (self.aria2.clone(), self.notices.clone());
                self.publisher
                    .notice(NoticeLevel::Info, "restarting aria2c");
                tokio::spawn(async move {
                    let _ = notices.send(match aria2.restart().await {
                        Ok(()) => (NoticeLevel::Info, "aria2c restarted".to_string()),
                        Err(e) => (NoticeLevel::Error, format!("aria2c restart failed: {e}")),
                    });
                });
            }
            Command::AddDownload {
                url,
                account,
                subdir,
            } => {
                let (aria2, notices) = (self.aria2.clone(), self.notices.clone());
                tokio::spawn(async move {
                    let added = aria2.add_download(&url, account, subdir).await;
                    let _ = notices.send(match added {
                        Ok(gid) => (NoticeLevel::Info, format!("download {gid} added")),
                        Err(e) => (NoticeLevel::Error, format!("cannot add download: {e}")),
                    });
                });
            }
            Command::RemoveDownload { gid } => {
                let (aria2, notices) = (self.aria2.clone(), self.notices.clone());
                tokio::spawn(async move {
                    let _ = notices.send(match aria2.remove(&gid).await {
                        Ok(()) => (NoticeLevel::Info, format!("download {gid} removed")),
                        Err(e) => (
                            NoticeLevel::Error,
                            format!("cannot remove download {gid}: {e}"),
                        ),
                    });
                });
            }
            Command::CancelTask { id, force } => {
                match self.tasks.cancel(id, force, CANCEL_DEADLINE) {
                    Ok(()) => self.publisher.notice(
                        NoticeLevel::Info,
                        format!(
                            "task {id} {}",
                            if force {
                                "force-cancelled"
                            } else {
                                "cancelled"
                            }
                        ),
                    ),
                    Err(e) => self.publisher.notice(NoticeLevel::Error, e.to_string()),
                }
            }
            Command::StopForeignAria2 { pid, start_time } => {
                let foreign = self
                    .aria2_view
                    .borrow()
                    .foreign
                    .iter()
                    .find(|f| f.pid == pid && f.start_time == start_time)
                    .cloned();
                let Some(foreign) = foreign else {
                    self.publisher.notice(
                        NoticeLevel::Error,
                        format!("aria2c pid {pid} is not listed as foreign (any more)"),
                    );
                    return None;
                };
                let (notices, store) = (self.notices.clone(), self.store.clone());
                self.actions.spawn(async move {
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
                        let _ = store.record_event(
                            "aria2.stop_foreign",
                            &format!("pid {pid}"),
                            &text,
                            outcome,
                        );
                    }
                    let _ = notices.send((level, text));
                });
            }
            Command::PreviewSweep => self.sweeps.preview(),
            Command::ApplySweep { plan_id } => self.sweeps.apply(plan_id),
            Command::DismissSweep => self.sweeps.dismiss(),
        }
        None
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

    fn with_store<T>(
        &self,
        f: impl FnOnce(&crate::store::Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        f(&store)
    }

    /// After our own write to the accounts table: act on it now rather than
    /// waiting for the store poll (which only sees other processes' commits).
    fn after_write(&mut self, result: Result<(), StoreError>, ok_text: String) {
        match result {
            Ok(()) => {
                self.publisher.notice(NoticeLevel::Info, ok_text);
                self.reload_accounts();
            }
            Err(e) => self.publisher.notice(NoticeLevel::Error, e.to_string()),
        }
    }

    fn send_op(&mut self, id: &str, op: Op, verb: &str) {
        match self.fleet.handle(id) {
            Some(handle) => match handle.ops.try_send(op) {
                Ok(()) => self
                    .publisher
                    .notice(NoticeLevel::Info, format!("{verb} worker {id}")),
                Err(_) => self.publisher.notice(
                    NoticeLevel::Error,
                    format!("worker {id} is busy with earlier requests: try again"),
                ),
            },
            None => self
                .publisher
                .notice(NoticeLevel::Error, format!("no account {id}")),
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

    /// Notices commits by other processes (`steward account add` in another
    /// shell); true when it acted on one.
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
        {
            self.data_version = version;
            // `steward download add` in another shell records the owner in the
            // store: poll aria2 now, so the download shows without the idle wait.
            self.aria2.poke();
            match self.with_store(|s| s.accounts()) {
                Ok(rows) => {
                    let changes = self.fleet.reconcile(rows);
                    for id in changes.added {
                        self.publisher.notice(
                            NoticeLevel::Info,
                            format!("account {id} added (from another process)"),
                        );
                    }
                    for id in changes.removed {
                        self.publisher.notice(
                            NoticeLevel::Info,
                            format!("account {id} removed (from another process)"),
                        );
                    }
                }
                Err(e) => warn!(error = %e, "cannot read accounts"),
            }
        }
        true
    }

    /// CPU, memory and lock holders of the live workers due; true when they changed.
    fn sample(&mut self) -> bool {
        let live = self.fleet.live_workers();
        self.usage.sample(&live, tokio::time::Instant::now())
    }

    fn force_shutdown(&mut self) {
        self.plan_force.cancel();
        if let Some(p) = &self.progress {
            p.mark_forced();
        }
        self.publisher
            .notice(NoticeLevel::Warn, "forcing shutdown: SIGKILL now");
    }

    fn begin_shutdown(&mut self) -> JoinHandle<ShutdownView> {
        info!("shutdown requested");
        self.handover.collect(&self.temp);
        let progress = Progress::new(self.changed.clone());
        let phases = stop_plan::phases(stop_plan::PlanInputs {
            config: self.options.config.clone(),
            tasks: self.tasks.clone(),
            workers: self.fleet.handles(),
            store: self.store.clone(),
            kill_workers: self.kill_workers.clone(),
            force: self.plan_force.clone(),
            progress: progress.clone(),
            aria2: self.aria2.clone(),
            temp: self.temp.clone(),
            handover: self.handover.clone(),
        });
        self.progress = Some(progress.clone());
        let force = self.plan_force.clone();
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
        tokio::spawn(async move { shutdown::run(phases, &progress, force).await })
    }

    fn publish(&mut self) {
        self.publisher.publish(Parts {
            instance: self.instance.clone(),
            accounts: self.fleet.views(),
            tasks: self.tasks.views(),
            aria2: Some(self.aria2_view.borrow().clone()),
            temp: Some(self.temp.stats()),
            sweep: self.sweeps.view(),
            shutdown: self.progress.as_ref().and_then(|p| p.view()),
            last_shutdown: self.last_shutdown,
            usage: self.usage.usage().clone(),
            holders: self.usage.holders().clone(),
            escaped: self
                .escaped
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        });
        let gap = self.status_gap();
        self.publisher
            .write_status(&self.options.data_dir.status_file(), gap);
    }

    fn publish_gap(&self) -> Duration {
        if self.progress.is_some() {
            PUBLISH_MIN_GAP_SHUTDOWN
        } else {
            PUBLISH_MIN_GAP
        }
    }

    /// During a shutdown `steward stop` follows the status file: keep it fresher.
    fn status_gap(&self) -> Duration {
        if self.progress.is_some() {
            STATUS_FILE_SHUTDOWN
        } else {
            STATUS_FILE_EVERY
        }
    }
}

/// A deadline that never comes (tokio's timer takes no "never").
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}
