//! What the accounts subsystem publishes: each account and its worker's state.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::time;

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
    /// CPU time the worker process has used since it started (user +
    /// system), for the metrics' counter; starts again with each restart.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
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
    /// Every state's [`word`](Self::word), in the order of the enum.
    pub const WORDS: [&'static str; 7] = [
        "starting", "running", "backoff", "stopping", "stopped", "exited", "failed",
    ];

    /// One word for the state, the same at every instant: the dashboard's
    /// filter and the metrics' `state` label.
    pub fn word(&self) -> &'static str {
        match self {
            WorkerState::Starting => "starting",
            WorkerState::Running => "running",
            WorkerState::Backoff { .. } => "backoff",
            WorkerState::Stopping { .. } => "stopping",
            WorkerState::Stopped => "stopped",
            WorkerState::Exited { .. } => "exited",
            WorkerState::Failed { .. } => "failed",
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_lists_every_state_word_in_order() {
        let states = [
            WorkerState::Starting,
            WorkerState::Running,
            WorkerState::Backoff { until_ms: 0 },
            WorkerState::Stopping { deadline_ms: 0 },
            WorkerState::Stopped,
            WorkerState::Exited {
                code: None,
                signal: None,
            },
            WorkerState::Failed {
                reason: String::new(),
            },
        ];
        let words: Vec<&str> = states.iter().map(WorkerState::word).collect();
        assert_eq!(words, WorkerState::WORDS);
    }

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
}
