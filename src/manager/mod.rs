//! The embedded manager: owns the subsystems, runs the control loop, executes
//! `Command`s and publishes `Snapshot`s. Never imports ratatui.

mod accept;
mod adoption;
mod control;
mod download_tasks;
mod handle;
mod host_watch;
mod listen;
mod liveness;
pub mod metrics;
mod migrate;
mod publish;
mod run_record;
mod service_report;
mod stop_plan;
mod store_watch;
mod sweeps;
mod usage;

use std::sync::{Arc, Mutex};

pub use adoption::{CGROUP_PER_WORKER, SUBREAPER_ONLY, adopt_orphans};
pub use handle::{Call, ManagerHandle, ManagerOptions, RunningManager, StartError};
pub use liveness::{Liveness, PULSE};
pub use publish::read_status_file;
pub use run_record::{last_report, read_last_shutdown};

use crate::lock::InstanceLock;
use crate::store::Store;

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
        control::start::start(options, store, lock).await
    }
}

/// The manager's entry point; see `Manager::start`.
pub struct Manager;
