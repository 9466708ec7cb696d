//! What a client of the manager holds and gives: the options it starts
//! with, the handle it talks through, and why a start failed.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::lock::LockError;
use crate::model::{Command, ShutdownView, Snapshot};
use crate::paths::DataDir;
use crate::store::StoreError;

/// What a client holds: a way to send commands and a stream of snapshots.
#[derive(Clone)]
pub struct ManagerHandle {
    pub commands: mpsc::Sender<Command>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
}

/// Everything a manager needs to start.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    pub config: Config,
    pub data_dir: DataDir,
    /// The steward binary, run as `<exe> demo-worker` when no worker command is configured.
    pub self_exe: PathBuf,
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
