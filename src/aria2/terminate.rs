//! Stopping an aria2c that is not our child (a leftover of an earlier run):
//! TERM to its group through `proc` (which re-checks identity first), poll
//! until gone or the deadline, then KILL. Our own child is stopped by the
//! supervisor, which can also wait on it.

use std::time::{Duration, Instant};

use super::error::Aria2Error;
use crate::manager::snapshot::ForeignAria2;
use crate::proc::{
    Group, ProcId, Sig, SignalError, Stat, group_members, read_stat, signal, signal_group,
};

/// How long to wait for the exit after SIGKILL.
pub const KILL_WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(25);

/// What to signal: the whole group when the process leads one, else the process alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Group(Group),
    Process(ProcId),
}

impl Target {
    pub fn of(stat: &Stat) -> Target {
        let id = ProcId {
            pid: stat.pid,
            start_time: stat.start_time,
        };
        if stat.pgrp == stat.pid {
            Target::Group(Group::of_leader(id))
        } else {
            Target::Process(id)
        }
    }

    pub fn send(&self, sig: Sig) -> Result<(), SignalError> {
        match self {
            Target::Group(g) => signal_group(g, sig).map(drop),
            Target::Process(id) => signal(id, sig),
        }
    }

    /// Nothing of it is left (zombies count as gone).
    pub fn is_gone(&self) -> bool {
        match self {
            Target::Group(g) => !g.leader.is_alive() && group_members(g.pgid).is_empty(),
            Target::Process(id) => !id.is_alive(),
        }
    }
}

/// How a stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Gone after SIGTERM (or already gone).
    Exited,
    /// Needed SIGKILL.
    Killed,
    /// Still there after SIGKILL and `KILL_WAIT` (or the kernel refused the signal).
    StillAlive,
}

async fn wait_gone(target: &Target, within: Duration) -> bool {
    let until = Instant::now() + within;
    loop {
        if target.is_gone() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// SIGTERM, wait up to `deadline`, SIGKILL, wait up to `KILL_WAIT`.
/// A process that turns out to be another one (pid reuse) is not signalled and counts as gone.
pub async fn terminate(target: Target, deadline: Duration) -> Ended {
    match target.send(Sig::Term) {
        Ok(()) => {}
        Err(SignalError::Gone | SignalError::NotSameProcess { .. }) => return Ended::Exited,
        Err(e) => tracing::warn!(?target, "SIGTERM: {e}"),
    }
    if wait_gone(&target, deadline).await {
        return Ended::Exited;
    }
    tracing::warn!(
        ?target,
        "still running {deadline:?} after SIGTERM: sending SIGKILL"
    );
    match target.send(Sig::Kill) {
        Ok(()) => {}
        Err(SignalError::Gone | SignalError::NotSameProcess { .. }) => return Ended::Killed,
        Err(e) => tracing::warn!(?target, "SIGKILL: {e}"),
    }
    if wait_gone(&target, KILL_WAIT).await {
        Ended::Killed
    } else {
        Ended::StillAlive
    }
}

/// Stops a foreign aria2c the operator selected and confirmed: only if the
/// process with that pid still has the start time shown and is still named
/// `aria2c` (otherwise `NotRunning`, nothing sent). Never called by steward on its own.
pub async fn stop_foreign(foreign: &ForeignAria2, deadline: Duration) -> Result<Ended, Aria2Error> {
    let gone = || Aria2Error::NotRunning {
        state: format!(
            "aria2c pid {} is gone or is another process now",
            foreign.pid
        ),
    };
    let stat = read_stat(foreign.pid).map_err(|_| gone())?;
    if stat.start_time != foreign.start_time || stat.comm != "aria2c" || stat.is_zombie() {
        return Err(gone());
    }
    Ok(terminate(Target::of(&stat), deadline).await)
}
