//! Error types of the `proc` module: reading `/proc` (`ProcError`) and sending signals (`SignalError`).

use std::io;

/// Reading a process's `/proc` entry failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// No process with this pid exists (or it vanished while being read).
    #[error("no process with pid {0}")]
    NotFound(i32),
    /// A `/proc` file did not have the expected format.
    #[error("cannot parse /proc data: {0}")]
    Parse(String),
    /// Any other I/O error (permissions, fd exhaustion, /proc not mounted, ...).
    #[error("reading /proc: {0}")]
    Io(#[from] io::Error),
}

/// Sending a signal was not done.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The process (or every member of the group) has exited. A zombie counts as gone.
    #[error("the process is gone")]
    Gone,
    /// The pid now belongs to a different process (pid reuse): nothing was sent.
    #[error(
        "pid {pid} is now another process (start time {found}, expected {expected}); nothing sent"
    )]
    NotSameProcess { pid: i32, expected: u64, found: u64 },
    /// The target can never be signalled safely (pid <= 0, pgid <= 1, or steward's own group):
    /// signalling it would hit every process or steward itself. Nothing was sent.
    #[error("refusing to signal {0}: not a valid target")]
    InvalidTarget(i32),
    /// The kernel refused (EPERM, ...).
    #[error("sending signal: {0}")]
    Os(#[from] io::Error),
}

impl From<rustix::io::Errno> for SignalError {
    fn from(e: rustix::io::Errno) -> Self {
        if e == rustix::io::Errno::SRCH {
            SignalError::Gone
        } else {
            SignalError::Os(e.into())
        }
    }
}

/// Maps an I/O error from reading `/proc/PID/...` to `ProcError`, turning
/// "no such file" and "no such process" (a process that vanished after `open`) into `NotFound`.
pub(crate) fn proc_io_error(pid: i32, e: io::Error) -> ProcError {
    if e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error())
    {
        ProcError::NotFound(pid)
    } else {
        ProcError::Io(e)
    }
}
