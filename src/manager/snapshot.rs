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

/// The aria2c daemon as the dashboard shows it (filled by the aria2 issue).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aria2View {
    pub state: String,
    pub pid: Option<i32>,
    pub port: Option<u16>,
    pub version: Option<String>,
}

/// The temp registry's figures (filled by the temp-files issue).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TempView {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    pub orphaned: u64,
    pub refreshed_ms: i64,
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
