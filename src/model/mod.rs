//! The wire types: `Command`, `Snapshot` and the views it is made of, as plain
//! serde data that the embedded dashboard, `status --json` and the control
//! socket all speak. A foundation: it names nothing above it.
//!
//! Each view sits in a file named after the subsystem that produces it (only
//! that subsystem builds one); they live here, not in the subsystems, because
//! `Snapshot` composes them and the wire types sit below everything that
//! speaks them. Every type has one path: `crate::model::Name`.

mod accounts;
mod aria2;
mod command;
mod host;
mod protocol;
mod secret;
mod shutdown;
mod snapshot;
mod sweep;
mod tasks;
mod temp;

pub use accounts::{AccountView, ExitView, RestartRecord, WorkerState, WorkerView};
pub use aria2::{
    Aria2Exit, Aria2Global, Aria2State, Aria2View, DownloadStatus, DownloadView, ForeignAria2,
};
pub use command::Command;
pub use host::{FsView, HostView};
pub use protocol::{
    Answer, Ask, Hello, LogLevel, LogLine, PROTOCOL_VERSION, Request, Role, ServerFrame, Welcome,
};
pub use secret::Secret;
pub use shutdown::{PendingItem, PhaseState, PhaseView, ShutdownView};
pub use snapshot::{Instance, LastShutdown, Notice, NoticeLevel, Snapshot};
pub use sweep::{
    SweepAction, SweepItem, SweepItemResult, SweepKind, SweepOutcome, SweepPlan, SweepTarget,
    SweepTotals, SweepView,
};
pub use tasks::{TaskKind, TaskState, TaskView};
pub use temp::{TempOwnerView, TempView};
