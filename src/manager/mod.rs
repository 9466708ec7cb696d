//! The embedded manager: owns the subsystems, runs the control loop, executes
//! `Command`s and publishes `Snapshot`s. Never imports ratatui.

mod adoption;
mod control;
mod download_tasks;
mod migrate;
mod publish;
mod run_record;
mod stop_plan;
mod store_watch;
mod sweeps;
mod usage;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use adoption::{CGROUP_PER_WORKER, SUBREAPER_ONLY, adopt_orphans};
pub use publish::read_status_file;
pub use run_record::{last_report, read_last_shutdown};

use crate::config::Config;
use crate::lock::{InstanceLock, LockError};
use crate::model::{Command, ShutdownView, Snapshot};
use crate::paths::DataDir;
use crate::store::{Store, StoreError};

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

impl Manager {
    /// Takes the data dir's instance lock, opens the store, stops workers left
    /// by a steward that died, starts a supervisor per account, and runs the
    /// control loop until a `Shutdown` command (or every handle is dropped).
    pub async fn start(options: ManagerOptions) -> Result<RunningManager, StartError> {
        let lock = InstanceLock::acquire(&options.data_dir).map_err(StartError::InUse)?;
        for dir in [
            options.data_dir.sessions_dir(),
            options.data_dir.logs_dir(),
            options.data_dir.trash_dir(),
        ] {
            crate::layout::create_private_dir(&dir)
                .map_err(|source| StartError::DataDir { path: dir, source })?;
        }
        let store = Store::open(&options.data_dir.db_file())?;
        let store = Arc::new(Mutex::new(store));
        control::start(options, store, lock).await
    }
}

/// The manager's entry point; see `Manager::start`.
pub struct Manager;
