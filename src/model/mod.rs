//! The wire types: `Command`, `Snapshot` and the views it is made of, as plain
//! serde data that the embedded dashboard, `status --json` and the control
//! socket all speak.

pub mod command;
pub mod snapshot;
