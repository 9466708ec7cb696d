//! `Command`: everything a client (the TUI, the CLI, a future remote) can ask
//! the manager to do, as plain serde data.

use serde::{Deserialize, Serialize};

use super::Secret;

/// A request to the manager. Outcomes come back as `Notice`s in a later
/// `Snapshot` (on `ManagerHandle::snapshots`); there is no reply channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    AddAccount {
        id: String,
        name: Option<String>,
        secret: Option<Secret>,
        enabled: bool,
    },
    RemoveAccount {
        id: String,
    },
    SetEnabled {
        id: String,
        enabled: bool,
    },
    StartWorker {
        id: String,
    },
    StopWorker {
        id: String,
    },
    RestartWorker {
        id: String,
    },
    CancelTask {
        id: u64,
        force: bool,
    },
    /// Start the shutdown plan. While one runs, `force: true` forces it and
    /// `force: false` changes nothing (repeated graceful requests are idempotent).
    Shutdown {
        force: bool,
    },
    /// Save aria2's session, stop its process group, start it again.
    RestartAria2,
    /// `aria2.addUri` into the download dir (or `SUBDIR` below it), owned by `account`.
    AddDownload {
        url: String,
        account: Option<String>,
        subdir: Option<String>,
    },
    /// `aria2.remove` (or `removeDownloadResult` for a finished one).
    RemoveDownload {
        gid: String,
    },
    /// Stop an aria2c that is not steward's (listed as foreign), after the
    /// operator selected and confirmed it: only if that pid still has this
    /// start time and is still aria2c.
    StopForeignAria2 {
        pid: i32,
        start_time: u64,
    },
    /// Scan for orphans and publish the plan (`Snapshot` sweep view) without acting.
    PreviewSweep,
    /// Apply the previewed plan `plan_id` (each item re-checked first). A stale
    /// id (another plan was previewed since) is refused.
    ApplySweep {
        plan_id: u64,
    },
    /// Close the sweep preview / results.
    DismissSweep,
}

impl Command {
    /// Whether this command starts new work (refused once a shutdown began).
    pub fn starts_work(&self) -> bool {
        matches!(
            self,
            Command::AddAccount { .. }
                | Command::StartWorker { .. }
                | Command::RestartWorker { .. }
                | Command::SetEnabled { enabled: true, .. }
                | Command::RestartAria2
                | Command::AddDownload { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_secret() {
        let cmd = Command::AddAccount {
            id: "a".into(),
            name: None,
            secret: Some(Secret("hunter2".into())),
            enabled: true,
        };
        let text = format!("{cmd:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("len 7"));
    }
}
