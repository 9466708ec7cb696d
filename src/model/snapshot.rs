//! `Snapshot`: everything a reader (the TUI, `status --json`, a future remote
//! client) may know about the instance, as plain serde data. Times are unix
//! epoch milliseconds so readers compute ages and countdowns themselves.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{
    AccountView, Aria2View, HostView, ShutdownView, SweepTotals, SweepView, TaskView, TempView,
};

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
    /// Load, memory and free space of the machine; `None` before the first
    /// sample (and in the status of a stopped instance).
    #[serde(default)]
    pub host: Option<HostView>,
    /// The dashboard's sweep: a preview, then its results, until dismissed.
    #[serde(default)]
    pub sweep: Option<SweepView>,
    /// Present while a shutdown runs (and in its final form once it ended).
    pub shutdown: Option<ShutdownView>,
    /// How the previous run of this data dir ended.
    pub last_shutdown: Option<LastShutdown>,
    /// How long the previous run's shutdown took (from its report; `None`
    /// when it crashed or there was none).
    #[serde(default)]
    pub last_shutdown_took_ms: Option<u64>,
    /// What this run's sweeps have removed so far.
    #[serde(default)]
    pub sweeps: SweepTotals,
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
    use crate::model::{WorkerState, WorkerView};

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
