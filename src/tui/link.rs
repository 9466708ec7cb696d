//! What the dashboard drives: the manager in this process (embedded), or an
//! instance it attached to over the control socket. The UI is the same
//! either way; only what `q` means, which keys act, and the header differ.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::manager::ManagerHandle;
use crate::model::{Command, Snapshot};

/// How this dashboard is connected to the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attachment {
    /// The fleet lives in this process: `q` shuts it down.
    Embedded,
    /// The fleet lives in another steward: `q` detaches, `Q` shuts it down
    /// (asks first). Read-only refuses every key that acts.
    Attached { read_only: bool },
}

impl Attachment {
    pub fn read_only(self) -> bool {
        matches!(self, Attachment::Attached { read_only: true })
    }

    pub fn attached(self) -> bool {
        matches!(self, Attachment::Attached { .. })
    }
}

/// Commands out, snapshots in.
pub struct Link {
    pub commands: mpsc::Sender<Command>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub attachment: Attachment,
}

impl Link {
    /// The manager in this process.
    pub fn embedded(handle: &ManagerHandle) -> Link {
        Link {
            commands: handle.commands.clone(),
            snapshots: handle.snapshots.clone(),
            attachment: Attachment::Embedded,
        }
    }
}
