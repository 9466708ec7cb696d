//! Processes: identity that survives pid reuse, signals that re-check identity, listing, and
//! "who holds this file".
//!
//! # Identity
//!
//! A pid number alone is not an identity: once a process is reaped its number can be handed out
//! again. [`ProcId`] pairs the pid with the start time from `/proc/PID/stat` (field 22, clock
//! ticks since boot), which never repeats for the same number. Everything that acts on a process
//! takes a `ProcId` and re-checks it first.
//!
//! # Signalling one process
//!
//! [`signal`] opens a pidfd, re-reads the start time, and sends through the pidfd: the pidfd was
//! opened before the check and the checked process started before the call, so they are the
//! same process and there is no reuse window.
//!
//! # Signalling a process group: the identity rule
//!
//! Groups have no pidfd. What makes `kill(-pgid)` safe is a kernel rule: **Linux never hands out
//! a pid number while any process still uses it as its process-group id (or session id)**. The
//! number stays allocated as long as one process, zombies included, is in the group. So:
//!
//! - while the group has at least one member, `-pgid` names exactly the group our leader created
//!   (the leader was spawned with `process_group(0)`, so `leader.pid == pgid`);
//! - if a process with pid == pgid exists with the leader's start time, it *is* our leader, the
//!   number is held, and one `kill(-pgid)` reaches the whole group: no `/proc` scan, one
//!   syscall per group even when stopping hundreds of workers;
//! - if a process with pid == pgid exists with a *different* start time, the number was freed
//!   (our whole group died out, leader included) and reused: the group is not ours any more, and
//!   nothing is sent;
//! - if no process has pid == pgid, the leader is gone but members may remain (grandchildren,
//!   or workers of a crashed steward). Any process with `pgrp == pgid` must be a leftover of our
//!   group, since the number could not have been reused while they held it; as a sanity check
//!   each must have started no earlier than the leader. Then `kill(-pgid)` reaches exactly them.
//!
//! A leader that is the caller's own child and not yet reaped needs none of this:
//! the kernel keeps an unreaped child's pid for it, so the number is held and
//! [`signal_unreaped_group`] sends `kill(-pgid)` at once (a supervisor stopping
//! its own worker; hundreds of them at a shutdown).
//!
//! The one residual race: between the check and the `kill`, every member (and leader) exits, is
//! reaped, and a new process both receives that pid *and* makes itself a group leader. That
//! needs a full pid wrap-around within microseconds.
//!
//! [`group_alive`] is `kill(-pgid, 0)`; unreaped zombies still count as members, so a group is
//! "alive" until its leader is reaped by us and its orphans by init (or a subreaper).
//! [`group_members`] lists only non-zombie members.
//!
//! # Files
//!
//! [`flock_holders`] reads `/proc/locks` once; [`open_file_holders`] scans `/proc/*/fd`.
//!
//! # Adopted descendants
//!
//! See [`reaper`]: steward as a child subreaper, and reaping orphans without
//! taking tokio's children.

pub mod cgroup;
mod clock;
mod error;
mod holders;
mod ident;
mod in_use;
mod inherit;
mod limits;
mod list;
#[cfg(test)]
mod list_tests;
mod reaper;
mod sample;
mod signal;
#[cfg(test)]
mod signal_tests;
pub mod spawn;
mod stat;
mod terminate;
#[cfg(test)]
mod testutil;

pub use clock::{boot_time_unix, clock_ticks_per_second, start_time_unix_ms};
pub use error::{ProcError, SignalError};
pub use holders::{
    any_lock_holders, flock_holders, flock_holders_of, flock_takers, open_file_holders,
};
pub use ident::ProcId;
pub use in_use::FilesInUse;
pub use inherit::inherit_across_exec;
pub use limits::{OpenFiles, raise_open_files, restore_open_files_in_child};
pub use list::{CommWatch, find_by_comm, find_by_comms, list_processes};
pub use reaper::{
    Spawning, adopted, adopted_since, any_recent_look, become_subreaper, children, is_subreaper,
    reap_adopted, spawning,
};
pub use sample::{Sampler, Usage};
pub use signal::{
    Group, GroupSignal, Sig, UnknownSignal, group_alive, group_gone, group_members, signal,
    signal_group, signal_unreaped_group,
};
pub use stat::{Stat, cmdline, environ_var, parse_stat, read_stat};
pub use terminate::{Ended, KILL_GRACE, Step, Target, Termination};

/// What steward says wherever it tells an operator that it runs as root.
pub const ROOT_WARNING: &str = "workers and aria2c run as root; run steward as a dedicated user";

/// Whether this process runs with euid 0 (so every worker and aria2c do).
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}
