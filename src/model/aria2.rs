//! What the aria2 subsystem publishes: the singleton's state, its downloads, foreign aria2c.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::time;

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
    /// `hint` says what to do (made by the aria2 subsystem, which knows how
    /// the binary is looked up).
    NotInstalled {
        binary: String,
        #[serde(default)]
        hint: String,
    },
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
            Aria2State::NotInstalled { binary, hint } if hint.is_empty() => {
                format!("not installed ({binary})")
            }
            Aria2State::NotInstalled { hint, .. } => format!("not installed ({hint})"),
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

#[cfg(test)]
mod tests {
    use super::*;

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
            hint: "aria2c not found on PATH: apt install aria2".into(),
        };
        assert_eq!(
            view.label(now),
            "not installed (aria2c not found on PATH: apt install aria2)"
        );
        // An older snapshot (before the hint travelled in the state).
        let old: Aria2State =
            serde_json::from_str(r#"{"state":"not_installed","binary":"/opt/aria2c"}"#).unwrap();
        assert_eq!(old.label(now), "not installed (/opt/aria2c)");
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
}
