//! What a client of the manager holds and gives: the options it starts
//! with, the handle it talks through, and why a start failed.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::lock::LockError;
use crate::model::{Answer, Command, ShutdownView, Snapshot};
use crate::paths::DataDir;
use crate::store::StoreError;

/// What a client holds: a way to send commands (with or without waiting
/// for the outcome) and a stream of snapshots.
#[derive(Clone)]
pub struct ManagerHandle {
    /// Fire and forget: outcomes come back as notices in a later snapshot.
    /// Once every handle's sender is gone the manager shuts down.
    pub commands: mpsc::Sender<Command>,
    /// Commands whose outcome the caller waits for (the control socket).
    pub calls: mpsc::Sender<Call>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// When the control loop last turned (it turns at least every `PULSE`).
    pub liveness: super::liveness::Liveness,
}

/// A command and where its outcome goes.
pub struct Call {
    pub command: Command,
    pub reply: oneshot::Sender<Answer>,
}

impl ManagerHandle {
    /// Carries out `command` and returns how it went (as the notice the
    /// screens show, with a value for `--json` where there is one).
    pub async fn call(&self, command: Command) -> Answer {
        let (reply, answer) = oneshot::channel();
        if self.calls.send(Call { command, reply }).await.is_err() {
            return Answer::error("the instance is shutting down");
        }
        answer
            .await
            .unwrap_or_else(|_| Answer::error("the instance is shutting down"))
    }
}

/// Everything a manager needs to start.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    pub config: Config,
    pub data_dir: DataDir,
    /// The steward binary, run as `<exe> demo-worker` when no worker command is configured.
    pub self_exe: PathBuf,
    /// Where readiness, status and watchdog pings go under a service manager
    /// (inactive otherwise: `Notifier::default()`).
    pub notifier: crate::systemd::Notifier,
}

/// A started manager: its handle, and the task that ends after shutdown.
pub struct RunningManager {
    pub handle: ManagerHandle,
    /// Resolves with the final shutdown view once the plan has run.
    pub done: JoinHandle<ShutdownView>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    InUse(LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Temp(#[from] crate::temp::TempError),
    #[error("cannot prepare data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
}
