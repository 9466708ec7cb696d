//! Wiring: builds every part the control loop owns, in the order start-up
//! needs (the store and the mask first, then what the previous run left,
//! then temp, aria2, the output keeper and the fleet), and spawns the loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::previous_run::{clean_up_after_previous_run, spawn_dead_temp_retry};
use super::{Aria2Link, Control, Inbox, Stopping};
use crate::accounts::fleet::Fleet;
use crate::accounts::handover::Handover;
use crate::accounts::keeper::Keeper;
use crate::accounts::supervisor::SupervisorContext;
use crate::aria2::{Aria2Handle, Aria2Service};
use crate::lock::InstanceLock;
use crate::manager::download_tasks::DownloadTasks;
use crate::manager::handle::{Call, ManagerHandle, ManagerOptions, RunningManager, StartError};
use crate::manager::host_watch::HostWatch;
use crate::manager::listen::{ControlSocket, Served};
use crate::manager::liveness::{Liveness, Pulse};
use crate::manager::metrics::MetricsServer;
use crate::manager::publish::Publisher;
use crate::manager::service_report::ServiceReport;
use crate::manager::store_watch::StoreMonitor;
use crate::manager::sweeps::{SweepTally, Sweeps};
use crate::manager::usage::UsageWatch;
use crate::manager::{adoption, run_record};
use crate::model::{
    Aria2State, Aria2View, Instance, LastShutdown, NoticeLevel, PROTOCOL_VERSION, Role, Snapshot,
    Welcome,
};
use crate::proc::ProcId;
use crate::redact::{SecretMask, check_secret};
use crate::store::{AccountRow, SharedStore};
use crate::sweep::SweepScope;
use crate::tasks::TaskTable;
use crate::temp::TempRegistry;
use crate::time::now_ms;

/// How long start-up waits for aria2c to answer before starting workers
/// without its RPC coordinates (a broken aria2 must not hold workers back).
const ARIA2_READY_LIMIT: Duration = Duration::from_secs(5);

pub(crate) async fn start(
    options: ManagerOptions,
    store: SharedStore,
    lock: InstanceLock,
) -> Result<RunningManager, StartError> {
    let me = ProcId::current();
    let changed = Arc::new(Notify::new());
    let started = Arc::new(Notify::new());
    let tasks = TaskTable::with_notify(changed.clone());
    // Watching before the version is read: a commit landing in between
    // still wakes the loop.
    let store_monitor = StoreMonitor::new(&options.data_dir.db_file());
    let (last_shutdown, last_shutdown_took_ms, accounts, data_version) = {
        let s = store.lock().unwrap_or_else(|p| p.into_inner());
        let last = run_record::begin(&s, me);
        let took = match last {
            Some(LastShutdown::Clean | LastShutdown::Forced) => {
                run_record::last_report(&s).and_then(|r| r.took_ms())
            }
            // A crashed run's report, if any, is an older run's.
            Some(LastShutdown::Crashed) | None => None,
        };
        (last, took, s.accounts()?, s.data_version()?)
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
    let (mut publisher, snapshots) = Publisher::new(options.data_dir.status_file());
    early_notices(&mut publisher, last_shutdown, &accounts);
    let scope = SweepScope::new(&options.config, &options.data_dir);
    let sweep_tally = SweepTally::default();
    let held_back =
        clean_up_after_previous_run(&options, &store, &scope, &mut publisher, &sweep_tally).await;
    let temp = TempRegistry::from_config(&options.config, &options.data_dir, store.clone())?;
    temp.set_changed_notify(changed.clone());
    let walker_stop = CancellationToken::new();
    temp.spawn_stats_walker(options.config.temp.stats_interval, walker_stop.clone());
    if held_back {
        spawn_dead_temp_retry(
            scope.clone(),
            store.clone(),
            walker_stop.clone(),
            sweep_tally.clone(),
        );
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

    let force = CancellationToken::new();
    let kill_workers = force.child_token();
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

    let (commands, commands_rx) = mpsc::channel(64);
    let (calls, calls_rx) = mpsc::channel(64);
    let (notices, notices_rx) = mpsc::unbounded_channel();
    let sweeps = Sweeps::new(
        scope,
        store.clone(),
        tasks.clone(),
        temp.clone(),
        notices.clone(),
        changed.clone(),
        sweep_tally,
    );
    let instance = Instance {
        data_dir: options.data_dir.root().to_path_buf(),
        pid: me.pid,
        started_ms: now_ms(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        live: true,
        as_root: crate::proc::running_as_root(),
        isolation: adoption::isolation().to_string(),
    };
    let liveness = Liveness::default();
    let service = ServiceReport::new(options.notifier.clone());
    let pulse = Pulse::new(service.watchdog());
    tracing::debug!(period = ?pulse.period(), "the control loop turns at least this often");
    let socket = open_socket(&options, &calls, &snapshots, &instance, &mut publisher);
    let metrics = open_metrics(&options, &snapshots, &liveness, &mut publisher);
    let escaped = adoption::spawn_reaper(options.data_dir.sessions_dir(), changed.clone());
    let mut usage = UsageWatch::default();
    usage.look_now();
    let host = HostWatch::start(
        vec![
            ("data", options.data_dir.root().to_path_buf()),
            ("downloads", options.config.download_dir(&options.data_dir)),
            ("temp", options.config.temp_root(&options.data_dir)),
        ],
        options.config.host.min_free_space,
    );
    let control = Control {
        options,
        store,
        fleet,
        changed,
        started,
        publisher,
        inbox: Inbox {
            commands: commands_rx,
            open: true,
            calls: calls_rx,
            notices: notices_rx,
        },
        notices,
        aria2: Aria2Link {
            view: aria2.view(),
            downloads: DownloadTasks::new(tasks.clone()),
            handle: aria2,
            cancel: aria2_cancel,
        },
        tasks,
        temp,
        walker_stop,
        sweeps,
        instance,
        last_shutdown,
        last_shutdown_took_ms,
        data_version,
        stopping: Stopping {
            plan: None,
            progress: None,
            force,
            kill_workers,
            handover,
        },
        actions,
        usage,
        host,
        store_monitor,
        escaped,
        keeper,
        answering: None,
        liveness: liveness.clone(),
        service,
        pulse,
        socket,
        metrics,
        _lock: lock,
    };
    let done = tokio::spawn(control.run());
    Ok(RunningManager {
        handle: ManagerHandle {
            commands,
            calls,
            snapshots,
            liveness,
        },
        done,
    })
}

/// The control socket; without it the instance still runs, but nothing can
/// attach or reach it from the command line, which the operator is told.
fn open_socket(
    options: &ManagerOptions,
    calls: &mpsc::Sender<Call>,
    snapshots: &watch::Receiver<Arc<Snapshot>>,
    instance: &Instance,
    publisher: &mut Publisher,
) -> Option<ControlSocket> {
    let path = options.data_dir.control_socket();
    let welcome = Welcome {
        protocol: PROTOCOL_VERSION,
        pid: instance.pid,
        version: instance.version.clone(),
        data_dir: instance.data_dir.clone(),
        role: Role::Control,
    };
    let served = Served::new(calls.clone(), snapshots.clone(), welcome);
    match ControlSocket::open(&path, served) {
        Ok(socket) => Some(socket),
        Err(e) => {
            warn!(error = %e, path = %path.display(), "cannot open the control socket");
            publisher.notice(
                NoticeLevel::Warn,
                format!(
                    "no control socket ({e}): `steward attach`, `stop` and `status` cannot reach this instance"
                ),
            );
            None
        }
    }
}

/// The Prometheus endpoint, when `[metrics] listen` names one; a port that
/// cannot be bound is said (log and notice) and the instance runs without it.
fn open_metrics(
    options: &ManagerOptions,
    snapshots: &watch::Receiver<Arc<Snapshot>>,
    liveness: &Liveness,
    publisher: &mut Publisher,
) -> Option<MetricsServer> {
    let addr = options.config.metrics.listen?;
    match MetricsServer::open(addr, snapshots.clone(), liveness.clone()) {
        Ok(server) => Some(server),
        Err(e) => {
            warn!(error = %e, %addr, "cannot open the metrics endpoint");
            publisher.notice(
                NoticeLevel::Warn,
                format!("no metrics endpoint: cannot listen on {addr} ({e})"),
            );
            None
        }
    }
}

/// What the operator should know from the first snapshot on: a crash of the
/// previous run, and secrets an older steward stored that input refuses now
/// (still masked, but masking a 3-letter string blanks it out of every word).
fn early_notices(publisher: &mut Publisher, last: Option<LastShutdown>, accounts: &[AccountRow]) {
    if last == Some(LastShutdown::Crashed) {
        publisher.notice(
            NoticeLevel::Warn,
            "the previous run ended without a shutdown report (crashed or killed)",
        );
    }
    for a in accounts {
        if let Some(Err(e)) = a.secret.as_deref().map(check_secret) {
            warn!(account = %a.id, "account secret too short: masked in ordinary text too");
            publisher.notice(NoticeLevel::Warn, format!("account {}: {e}", a.id));
        }
    }
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
