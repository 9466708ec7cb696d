//! The embedded manager: owns the subsystems, runs the control loop, executes
//! `Command`s and publishes `Snapshot`s. Never imports ratatui.

pub mod command;
pub mod snapshot;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

pub use command::{Command, Secret};
pub use snapshot::*;

/// What a client holds: a way to send commands and a stream of snapshots.
#[derive(Clone)]
pub struct ManagerHandle {
    pub commands: mpsc::Sender<Command>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
}
