//! `Snapshot`: everything a reader (the TUI, `status --json`, a future remote
//! client) may know about the instance, as plain serde data. Times are unix
//! epoch milliseconds so readers compute ages and countdowns themselves.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::time;

/// One published view of the whole instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Increases with every publish; lets readers skip redraws of the same state.
    pub seq: u64,
    pub instance: Instance,
    pub accounts: Vec<AccountView>,
    pub tasks: Vec<TaskView>,
    /// Filled by the aria2 subsystem; `None` where it is not part of this build.
    pub aria2: Option<Aria2View>,
    /// Filled by the temp registry; `None` where it is not part of this build.
    pub temp: Option<TempView>,
    /// The dashboard's sweep: a preview, then its results, until dismissed.
    #[serde(default)]
    pub sweep: Option<SweepView>,
    /// Present while a shutdown runs (and in its final form once it ended).
    pub shutdown: Option<ShutdownView>,
    /// How the previous run of this data dir ended.
    pub last_shutdown: Option<LastShutdown>,
    /// Outcomes of recent commands and notable events, newest last.
    pub notices: Vec<Notice>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub data_dir: PathBuf,
    pub pid: i32,
    pub started_ms: i64,
    pub version: String,
    /// True when this snapshot comes from a running manager; false when
    /// `status` read the store of a stopped instance.
    pub live: bool,
    /// steward runs with euid 0: its workers and aria2c do too.
    #[serde(default)]
    pub as_root: bool,
    /// How descendants that leave a worker's process group are kept from
    /// outliving its stop: "subreaper only", or "" when not even that.
    #[serde(default)]
    pub isolation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// Never the value: only that there is one, and its length.
    pub secret_len: Option<usize>,
    pub worker: WorkerView,
}

impl AccountView {
    /// How the secret is shown anywhere a person can see it.
    pub fn secret_label(&self) -> String {
        match self.secret_len {
            Some(len) => format!("•••• ({len} chars)"),
            None => "none".to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerView {
    pub state: WorkerState,
    pub pid: Option<i32>,
    pub pgid: Option<i32>,
    pub started_ms: Option<i64>,
    pub restarts: u32,
    pub last_exit: Option<ExitView>,
    pub cpu_percent: Option<f32>,
    pub rss_bytes: Option<u64>,
    pub session_file: PathBuf,
    /// Pids holding a flock on the session file (the worker, and steward itself).
    pub lock_holders: Vec<i32>,
    pub command: Vec<String>,
    /// Names of the variables the worker gets; values are never published.
    pub env_names: Vec<String>,
    pub restart_history: Vec<RestartRecord>,
    pub recent_logs: Vec<String>,
    /// Whether the last stop needed SIGKILL (the worker outlived its deadline).
    pub stop_forced: bool,
    /// Pids of the worker's descendants that left its process group (setsid,
    /// double fork), adopted by steward: stopped with the worker.
    #[serde(default)]
    pub escaped: Vec<i32>,
}

/// A worker's lifecycle, as the operator reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WorkerState {
    Starting,
    Running,
    Backoff {
        until_ms: i64,
    },
    Stopping {
        deadline_ms: i64,
    },
    #[default]
    Stopped,
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    Failed {
        reason: String,
    },
}

impl WorkerState {
    /// `running`, `backoff (next in 4s)`, `exited (code 1)`, ...
    pub fn label(&self, now_ms: i64) -> String {
        match self {
            WorkerState::Starting => "starting".into(),
            WorkerState::Running => "running".into(),
            WorkerState::Backoff { until_ms } => {
                format!("backoff (next in {}s)", time::secs_until(*until_ms, now_ms))
            }
            WorkerState::Stopping { deadline_ms } => {
                format!(
                    "stopping (kill in {}s)",
                    time::secs_until(*deadline_ms, now_ms)
                )
            }
            WorkerState::Stopped => "stopped".into(),
            WorkerState::Exited {
                code: Some(code), ..
            } => format!("exited (code {code})"),
            WorkerState::Exited {
                signal: Some(sig), ..
            } => format!("exited (signal {sig})"),
            WorkerState::Exited { .. } => "exited".into(),
            WorkerState::Failed { reason } => format!("failed ({reason})"),
        }
    }

    /// Whether a process may exist for this state.
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            WorkerState::Starting | WorkerState::Running | WorkerState::Stopping { .. }
        )
    }

    /// Whether the label holds a countdown that changes every second.
    pub fn has_countdown(&self) -> bool {
        matches!(
            self,
            WorkerState::Backoff { .. } | WorkerState::Stopping { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitView {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartRecord {
    pub at_ms: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: u64,
    pub kind: TaskKind,
    pub name: String,
    pub owner: Option<String>,
    pub state: TaskState,
    pub started_ms: i64,
    pub restarts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Worker,
    Download,
    Sweep,
    Monitor,
}

impl TaskKind {
    pub fn label(self) -> &'static str {
        match self {
            TaskKind::Worker => "worker",
            TaskKind::Download => "download",
            TaskKind::Sweep => "sweep",
            TaskKind::Monitor => "monitor",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskState {
    Running,
    Cancelling { deadline_ms: i64, force: bool },
    Cancelled,
    Finished,
    Failed { reason: String },
}

impl TaskState {
    pub fn label(&self, now_ms: i64) -> String {
        match self {
            TaskState::Running => "running".into(),
            TaskState::Cancelling { force: true, .. } => "force-cancelling".into(),
            TaskState::Cancelling { deadline_ms, .. } => {
                format!("cancelling ({}s)", time::secs_until(*deadline_ms, now_ms))
            }
            TaskState::Cancelled => "cancelled".into(),
            TaskState::Finished => "finished".into(),
            TaskState::Failed { reason } => format!("failed ({reason})"),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, TaskState::Running | TaskState::Cancelling { .. })
    }
}

/// The aria2c daemon as the dashboard shows it: published by `aria2::Aria2Handle::view`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aria2View {
    pub state: Aria2State,
    /// Our aria2c's pid while one exists (starting, running, stopping).
    pub pid: Option<i32>,
    /// The RPC port on 127.0.0.1 of the current (or last) instance.
    pub port: Option<u16>,
    /// aria2c's version as it answered `aria2.getVersion`.
    pub version: Option<String>,
    /// When the current instance was confirmed running.
    pub started_ms: Option<i64>,
    /// How many times aria2c was started again within this run (crash or command).
    pub restarts: u32,
    /// The last time aria2c ended without being asked to (kept across the restart).
    pub last_exit: Option<Aria2Exit>,
    /// The last notable problem, as one line (port taken, leftover would not die, ...).
    pub last_error: Option<String>,
    pub download_dir: Option<PathBuf>,
    /// `aria2.getGlobalStat` of the last poll; `None` before the first one.
    pub global: Option<Aria2Global>,
    /// Active, then waiting, then stopped (newest first) downloads.
    pub downloads: Vec<DownloadView>,
    /// aria2c processes that are not this data dir's: shown, never touched.
    pub foreign: Vec<ForeignAria2>,
    /// When the downloads were last polled.
    pub polled_ms: Option<i64>,
}

/// The aria2c singleton's lifecycle, as the operator reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Aria2State {
    /// `[aria2] enabled = false`.
    Disabled,
    /// Spawned, not yet confirmed over RPC.
    Starting,
    /// Answered `getVersion` / `getSessionInfo` with our secret.
    Running,
    /// Waiting before the next start (after a crash or a failed start).
    Restarting { until_ms: i64, reason: String },
    /// Saving the session and stopping the process group.
    Stopping { deadline_ms: i64 },
    #[default]
    Stopped,
    /// aria2c ended on its own; a restart follows (see `Restarting`).
    Crashed {
        code: Option<i32>,
        signal: Option<i32>,
        stderr_tail: Vec<String>,
    },
    /// The binary was not found: a degraded state, steward keeps running.
    NotInstalled { binary: String },
    /// Something other than aria2c itself failed (data dir not writable, ...).
    Failed { reason: String },
}

impl Aria2State {
    /// `running`, `restarting (next in 2s: crashed)`, `not installed (...)`, ...
    /// (`Aria2View::label` adds pid, port and version to `running`).
    pub fn label(&self, now_ms: i64) -> String {
        match self {
            Aria2State::Disabled => "disabled".into(),
            Aria2State::Starting => "starting".into(),
            Aria2State::Running => "running".into(),
            Aria2State::Restarting { until_ms, reason } => format!(
                "restarting (next in {}s: {reason})",
                time::secs_until(*until_ms, now_ms)
            ),
            Aria2State::Stopping { deadline_ms } => format!(
                "stopping (kill in {}s)",
                time::secs_until(*deadline_ms, now_ms)
            ),
            Aria2State::Stopped => "stopped".into(),
            Aria2State::Crashed {
                code: Some(code), ..
            } => format!("crashed (exit code {code})"),
            Aria2State::Crashed {
                signal: Some(sig), ..
            } => format!("crashed (signal {sig})"),
            Aria2State::Crashed { .. } => "crashed".into(),
            Aria2State::NotInstalled { binary } => {
                format!(
                    "not installed ({})",
                    crate::aria2::binary::not_found_hint(binary)
                )
            }
            Aria2State::Failed { reason } => format!("failed ({reason})"),
        }
    }

    /// Whether the label holds a countdown that changes every second.
    pub fn has_countdown(&self) -> bool {
        matches!(
            self,
            Aria2State::Restarting { .. } | Aria2State::Stopping { .. }
        )
    }
}

impl Aria2View {
    /// The state line: `running (pid 4242, port 6800, 1.36.0)` or the state's label.
    pub fn label(&self, now_ms: i64) -> String {
        match (&self.state, self.pid, self.port) {
            (Aria2State::Running, Some(pid), Some(port)) => format!(
                "running (pid {pid}, port {port}, {})",
                self.version.as_deref().unwrap_or("version ?")
            ),
            (state, _, _) => state.label(now_ms),
        }
    }
}

/// How an aria2c instance ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aria2Exit {
    pub pid: i32,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub at_ms: i64,
    /// The last lines aria2c printed (stdout and stderr interleaved).
    pub stderr_tail: Vec<String>,
}

/// `aria2.getGlobalStat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aria2Global {
    /// Bytes per second, all downloads.
    pub download_speed: u64,
    pub upload_speed: u64,
    pub num_active: u64,
    pub num_waiting: u64,
    pub num_stopped: u64,
}

/// One download as aria2 reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadView {
    pub gid: String,
    pub status: DownloadStatus,
    /// File name (or the URL's last segment before aria2 knows it).
    pub name: String,
    /// Full path of the (first) file, once known.
    pub path: Option<PathBuf>,
    /// Bytes; 0 while unknown.
    pub total: u64,
    pub completed: u64,
    /// Bytes per second.
    pub speed: u64,
    /// Seconds left at the current speed; `None` when unknown or not moving.
    pub eta_secs: Option<u64>,
    /// The account the download was added for (`download add --account`), if any.
    pub account: Option<String>,
    /// aria2's error code and message for `error` downloads.
    pub error: Option<String>,
}

impl DownloadView {
    /// Progress in 0.0..=1.0, `None` while the size is unknown.
    pub fn progress(&self) -> Option<f64> {
        (self.total > 0).then(|| (self.completed as f64 / self.total as f64).clamp(0.0, 1.0))
    }
}

/// aria2's download status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadStatus {
    Active,
    Waiting,
    Paused,
    Error,
    Complete,
    Removed,
}

impl DownloadStatus {
    pub fn label(self) -> &'static str {
        match self {
            DownloadStatus::Active => "active",
            DownloadStatus::Waiting => "waiting",
            DownloadStatus::Paused => "paused",
            DownloadStatus::Error => "error",
            DownloadStatus::Complete => "complete",
            DownloadStatus::Removed => "removed",
        }
    }

    /// Active, waiting or paused: the download may still move.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            DownloadStatus::Active | DownloadStatus::Waiting | DownloadStatus::Paused
        )
    }
}

/// An aria2c process that is not this data dir's: listed, never signalled
/// without an explicit operator confirm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignAria2 {
    pub pid: i32,
    /// With `pid`, its identity: a confirmed kill acts on exactly the process shown.
    pub start_time: u64,
    /// Its `--rpc-listen-port`, when its command line names one.
    pub port: Option<u16>,
    /// Its command line, with any `--rpc-secret` value masked.
    pub cmdline: Vec<String>,
}

/// The temp registry's figures (filled by the `temp` stats walker). Totals
/// are adjusted at once on every create / release and recomputed by a
/// throttled background walk; `refreshed_ms` is when that walk last ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TempView {
    /// The temp root (`[temp] root`, default `<data-dir>/tmp`).
    pub root: PathBuf,
    /// Registered entries (rows in the store).
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// Registered entries whose owner process is dead (swept at start / on demand).
    pub orphaned: u64,
    /// Paths directly under the root with no registration.
    pub untracked: u64,
    /// When the oldest entry was created (registration time, or the newest
    /// mtime inside an untracked path); `None` when the root is empty.
    pub oldest_ms: Option<i64>,
    /// Per owner process and account, largest first.
    pub owners: Vec<TempOwnerView>,
    /// When the last full walk ended (0: not yet).
    pub refreshed_ms: i64,
    /// How long that walk took.
    pub walk_ms: u64,
    /// True while a walk is running.
    pub walking: bool,
}

/// One owner's share of the temp tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TempOwnerView {
    pub pid: i32,
    pub start_time: u64,
    pub account: Option<String>,
    /// False when the owner process is gone: its entries are orphans.
    pub alive: bool,
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
}

/// What the orphan sweep found: every item with why, how big, and what
/// applying the plan would do to it. Built by `sweep::scan`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepPlan {
    /// Distinguishes plans, so a confirm applies exactly the plan previewed.
    pub id: u64,
    pub created_ms: i64,
    pub items: Vec<SweepItem>,
    /// Bytes the `delete` items would free (`trash` moves keep theirs).
    pub total_bytes: u64,
    /// Things the scan could not look at (one line each), e.g. an unreadable dir.
    pub notes: Vec<String>,
}

impl SweepPlan {
    /// Items that applying would act on (not the ones left alone).
    pub fn actionable(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.action != SweepAction::Leave)
            .count()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepItem {
    /// Index in the plan.
    pub id: usize,
    pub kind: SweepKind,
    pub target: SweepTarget,
    /// Why it is in the plan, e.g. `owner dead (pid 4242)`.
    pub reason: String,
    /// Bytes on disk, for paths.
    pub size: Option<u64>,
    pub action: SweepAction,
    /// For `Leave` items: the live process holding the path.
    pub holder_pid: Option<i32>,
    /// The account the item belongs to, if any.
    pub account: Option<String>,
}

/// What kind of leftover an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepKind {
    /// A registered temp entry whose owner process is dead.
    TempDeadOwner,
    /// A path under the temp root with no registration, older than `max_age`.
    TempUntracked,
    /// A session file with no account.
    SessionNoAccount,
    /// A worker group recorded by a steward that is no longer running.
    LeftoverWorker,
    /// An aria2c of this data dir not owned by the running instance.
    LeftoverAria2,
    /// A pid/lock file nobody holds.
    StaleLockFile,
    /// A trashed file older than `[trash] keep`.
    TrashExpired,
}

impl SweepKind {
    pub const ALL: [SweepKind; 7] = [
        SweepKind::TempDeadOwner,
        SweepKind::TempUntracked,
        SweepKind::SessionNoAccount,
        SweepKind::LeftoverWorker,
        SweepKind::LeftoverAria2,
        SweepKind::StaleLockFile,
        SweepKind::TrashExpired,
    ];

    /// Short label for lists: `temp (owner dead)`, `session`, ...
    pub fn label(self) -> &'static str {
        match self {
            SweepKind::TempDeadOwner => "temp (owner dead)",
            SweepKind::TempUntracked => "temp (untracked)",
            SweepKind::SessionNoAccount => "session (no account)",
            SweepKind::LeftoverWorker => "leftover worker",
            SweepKind::LeftoverAria2 => "leftover aria2c",
            SweepKind::StaleLockFile => "stale lock/pid file",
            SweepKind::TrashExpired => "expired trash",
        }
    }

    /// The `events` table kind of an applied item, e.g. `sweep.temp_dead_owner`.
    pub fn event_kind(self) -> &'static str {
        match self {
            SweepKind::TempDeadOwner => "sweep.temp_dead_owner",
            SweepKind::TempUntracked => "sweep.temp_untracked",
            SweepKind::SessionNoAccount => "sweep.session_no_account",
            SweepKind::LeftoverWorker => "sweep.leftover_worker",
            SweepKind::LeftoverAria2 => "sweep.leftover_aria2",
            SweepKind::StaleLockFile => "sweep.stale_lock_file",
            SweepKind::TrashExpired => "sweep.trash_expired",
        }
    }
}

/// A path, or a process (with the identity it had when scanned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SweepTarget {
    Path {
        path: PathBuf,
    },
    Process {
        pid: i32,
        start_time: u64,
        pgid: i32,
    },
}

impl std::fmt::Display for SweepTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SweepTarget::Path { path } => write!(f, "{}", path.display()),
            SweepTarget::Process { pid, pgid, .. } if pid == pgid => {
                write!(f, "pid {pid} (group)")
            }
            SweepTarget::Process { pid, .. } => write!(f, "pid {pid}"),
        }
    }
}

/// What applying does to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepAction {
    /// Remove the path (a symlink itself, never its target).
    Delete,
    /// Move to `<data-dir>/trash/` (session files are never deleted outright).
    Trash,
    /// SIGTERM, a deadline, then SIGKILL.
    Stop,
    /// Listed for information only (held by a live process): nothing is done.
    Leave,
}

impl SweepAction {
    pub fn label(self) -> &'static str {
        match self {
            SweepAction::Delete => "delete",
            SweepAction::Trash => "trash",
            SweepAction::Stop => "stop",
            SweepAction::Leave => "leave",
        }
    }
}

/// How applying one item went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SweepOutcome {
    Done { detail: String },
    Skipped { reason: String },
    Failed { error: String },
}

impl SweepOutcome {
    pub fn label(&self) -> String {
        match self {
            SweepOutcome::Done { detail } => format!("done ({detail})"),
            SweepOutcome::Skipped { reason } => format!("skipped ({reason})"),
            SweepOutcome::Failed { error } => format!("failed ({error})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepItemResult {
    /// `SweepItem::id` in the applied plan.
    pub item: usize,
    pub kind: SweepKind,
    pub target: SweepTarget,
    pub outcome: SweepOutcome,
    /// Bytes freed, as measured by the plan: the item's `size` once the item
    /// was removed, 0 when it was not (or only partly) removed. Files are
    /// not `stat`ed again to count them, so a file that grew or shrank
    /// between plan and apply counts at its planned size.
    pub freed: u64,
}

/// A sweep as the TUI shows it: the preview, then (once applied) the results,
/// kept until dismissed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepView {
    pub plan: SweepPlan,
    /// True while `apply` runs.
    pub applying: bool,
    /// Empty until applied.
    pub results: Vec<SweepItemResult>,
    pub finished_ms: Option<i64>,
    /// Why the scan or the apply could not run (e.g. another sweep holds
    /// the data dir's sweep lock); the plan is then empty or unapplied.
    #[serde(default)]
    pub error: Option<String>,
}

/// A shutdown in progress (or finished): the phases as a checklist.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShutdownView {
    pub started_ms: i64,
    pub forced: bool,
    /// When the operator asked to force (second request), if they did.
    pub forced_ms: Option<i64>,
    /// Accounts whose workers had to be SIGKILLed.
    pub killed_workers: Vec<String>,
    pub phases: Vec<PhaseView>,
    /// Set once the last phase has ended.
    pub finished_ms: Option<i64>,
}

impl ShutdownView {
    pub fn is_finished(&self) -> bool {
        self.finished_ms.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseView {
    pub name: String,
    pub state: PhaseState,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub deadline_ms: Option<i64>,
    /// A one-line outcome, e.g. `12 stopped, 2 killed`.
    pub detail: Option<String>,
    /// What the phase is still waiting for (e.g. `alice pid 4242`), with a deadline each.
    pub pending: Vec<PendingItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingItem {
    pub label: String,
    pub pids: Vec<i32>,
    pub deadline_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PhaseState {
    Pending,
    Running,
    Done,
    TimedOut,
    Failed { reason: String },
}

impl PhaseState {
    pub fn label(&self) -> String {
        match self {
            PhaseState::Pending => "pending".into(),
            PhaseState::Running => "running".into(),
            PhaseState::Done => "done".into(),
            PhaseState::TimedOut => "timed out".into(),
            PhaseState::Failed { reason } => format!("failed: {reason}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LastShutdown {
    Clean,
    Forced,
    Crashed,
}

impl LastShutdown {
    /// `clean`, `forced`, `crashed`: the same words as in JSON.
    pub fn label(self) -> &'static str {
        match self {
            LastShutdown::Clean => "clean",
            LastShutdown::Forced => "forced",
            LastShutdown::Crashed => "crashed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub seq: u64,
    pub at_ms: i64,
    pub level: NoticeLevel,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    Info,
    Warn,
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_labels_read_like_the_issue_says() {
        let now = 100_000;
        assert_eq!(WorkerState::Running.label(now), "running");
        assert_eq!(
            WorkerState::Backoff {
                until_ms: now + 3_200
            }
            .label(now),
            "backoff (next in 4s)"
        );
        assert_eq!(
            WorkerState::Exited {
                code: Some(1),
                signal: None
            }
            .label(now),
            "exited (code 1)"
        );
        assert_eq!(
            WorkerState::Failed {
                reason: "no such file".into()
            }
            .label(now),
            "failed (no such file)"
        );
    }

    #[test]
    fn aria2_labels_read_like_the_issue_says() {
        let now = 100_000;
        let mut view = Aria2View {
            state: Aria2State::Running,
            pid: Some(4242),
            port: Some(6800),
            version: Some("1.36.0".into()),
            ..Default::default()
        };
        assert_eq!(view.label(now), "running (pid 4242, port 6800, 1.36.0)");
        view.state = Aria2State::Restarting {
            until_ms: now + 1_500,
            reason: "crashed: signal 9".into(),
        };
        assert_eq!(
            view.label(now),
            "restarting (next in 2s: crashed: signal 9)"
        );
        view.state = Aria2State::NotInstalled {
            binary: "aria2c".into(),
        };
        assert_eq!(
            view.label(now),
            "not installed (aria2c not found on PATH: apt install aria2)"
        );
        view.state = Aria2State::NotInstalled {
            binary: "/opt/aria2/aria2c".into(),
        };
        assert_eq!(
            view.label(now),
            "not installed (/opt/aria2/aria2c does not exist or is not executable: fix [aria2].binary)"
        );
        let crashed = Aria2State::Crashed {
            code: Some(7),
            signal: None,
            stderr_tail: vec![],
        };
        assert_eq!(crashed.label(now), "crashed (exit code 7)");
    }

    #[test]
    fn aria2_view_round_trips_through_json() {
        let view = Aria2View {
            state: Aria2State::Stopping { deadline_ms: 9 },
            downloads: vec![DownloadView {
                gid: "2089b05ecca3d829".into(),
                status: DownloadStatus::Active,
                name: "a.iso".into(),
                path: None,
                total: 10,
                completed: 5,
                speed: 1,
                eta_secs: Some(5),
                account: Some("alice".into()),
                error: None,
            }],
            foreign: vec![ForeignAria2 {
                pid: 7,
                start_time: 8,
                port: Some(6800),
                cmdline: vec!["aria2c".into()],
            }],
            ..Default::default()
        };
        let text = serde_json::to_string(&view).unwrap();
        assert!(text.contains(r#""state":"stopping""#), "{text}");
        assert_eq!(serde_json::from_str::<Aria2View>(&text).unwrap(), view);
        assert_eq!(view.downloads[0].progress(), Some(0.5));
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let snap = Snapshot {
            seq: 3,
            accounts: vec![AccountView {
                id: "alice".into(),
                name: "Alice".into(),
                enabled: true,
                secret_len: Some(12),
                worker: WorkerView {
                    state: WorkerState::Backoff { until_ms: 5 },
                    ..Default::default()
                },
            }],
            ..Default::default()
        };
        let text = serde_json::to_string(&snap).unwrap();
        assert!(text.contains(r#""state":"backoff""#));
        let back: Snapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, snap);
    }
}
