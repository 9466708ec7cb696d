//! Stopping processes that are not this run's children (a dead steward's
//! leftover workers, a leftover or foreign aria2c): no pidfd or child handle
//! to wait on, so SIGTERM, look until gone or a deadline, SIGKILL, look until
//! gone or a grace. One sequence for every caller, driven step by step
//! ([`Termination::step`]) so async callers wait with tokio and blocking ones
//! with the thread.

use std::time::{Duration, Instant};

use super::error::SignalError;
use super::ident::ProcId;
use super::signal::{Group, Sig, group_gone, signal, signal_group};
use super::stat::Stat;

/// How often a termination looks whether its target is gone.
const POLL: Duration = Duration::from_millis(20);

/// How long a group or process may take to go after SIGKILL: the kernel
/// still tears it down (a big address space takes a while). Whatever is
/// still there after this is stuck in the kernel (D state): reported, not
/// waited on forever.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// What to signal: the whole group when the process leads one, else the
/// process alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Group(Group),
    Process(ProcId),
}

impl Target {
    /// The group when `stat`'s process leads one, else the process.
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

    /// Re-identifies, then signals (see `signal_group` and `signal`).
    pub fn send(&self, sig: Sig) -> Result<(), SignalError> {
        match self {
            Target::Group(g) => signal_group(g, sig).map(drop),
            Target::Process(id) => signal(id, sig),
        }
    }

    /// Nothing of it is left alive (zombies count as gone). `since`: when
    /// the first signal went out (see `group_gone`).
    fn is_gone(&self, since: Instant) -> bool {
        match self {
            Target::Group(g) => group_gone(g.pgid, since),
            Target::Process(id) => !id.is_alive(),
        }
    }
}

/// How a termination ended.
#[derive(Debug)]
pub enum Ended {
    /// Gone after SIGTERM (before SIGKILL was due).
    Exited,
    /// Gone after SIGKILL.
    Killed,
    /// Still there `kill_grace` after SIGKILL: stuck in the kernel (D state).
    StillAlive,
    /// The kernel refused a signal (EPERM, ...): SIGKILL, or SIGTERM for a
    /// caller that maps `begin`'s error here.
    Refused(SignalError),
}

impl Ended {
    /// Whether nothing of the target is left.
    pub fn is_gone(&self) -> bool {
        matches!(self, Ended::Exited | Ended::Killed)
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Exited => f.write_str("exited after SIGTERM"),
            Ended::Killed => f.write_str("killed with SIGKILL after the deadline"),
            Ended::StillAlive => f.write_str("still running after SIGKILL (stuck in the kernel?)"),
            Ended::Refused(e) => write!(f, "signal refused: {e}"),
        }
    }
}

/// What the caller does next.
#[derive(Debug)]
pub enum Step {
    /// Wait this long, then call `step` again.
    Wait(Duration),
    Ended(Ended),
}

/// A stop under way: SIGTERM sent, SIGKILL at the deadline (or when hurried).
#[derive(Debug)]
pub struct Termination {
    target: Target,
    signalled: Instant,
    /// The deadline for SIGKILL, then (once sent) for giving up.
    until: Instant,
    kill_grace: Duration,
    killed: bool,
}

impl Termination {
    /// Sends SIGTERM. An error means nothing was sent: `Gone` and
    /// `NotSameProcess` mean nothing of the target is left to stop.
    pub fn begin(
        target: Target,
        timeout: Duration,
        kill_grace: Duration,
    ) -> Result<Termination, SignalError> {
        let signalled = Instant::now();
        target.send(Sig::Term)?;
        Ok(Termination {
            target,
            signalled,
            until: crate::time::Later::later(signalled, timeout),
            kill_grace,
            killed: false,
        })
    }

    /// One look. `hurry`: SIGKILL now instead of at the deadline.
    pub fn step(&mut self, hurry: bool) -> Step {
        if self.target.is_gone(self.signalled) {
            return Step::Ended(if self.killed {
                Ended::Killed
            } else {
                Ended::Exited
            });
        }
        let now = Instant::now();
        if !self.killed && (hurry || now >= self.until) {
            match self.target.send(Sig::Kill) {
                Ok(()) => {}
                // It went between the look and the signal (its number may
                // even be someone else's now): it exited by itself.
                Err(SignalError::Gone | SignalError::NotSameProcess { .. }) => {
                    return Step::Ended(Ended::Exited);
                }
                Err(e) => return Step::Ended(Ended::Refused(e)),
            }
            self.killed = true;
            self.until = now + self.kill_grace;
            return Step::Wait(POLL);
        }
        if self.killed && now >= self.until {
            return Step::Ended(Ended::StillAlive);
        }
        Step::Wait(POLL.min(self.until - now))
    }

    /// Runs to the end on this thread; `hurry` is asked at every look.
    pub fn finish_blocking(mut self, hurry: impl Fn() -> bool) -> Ended {
        loop {
            match self.step(hurry()) {
                Step::Wait(d) => std::thread::sleep(d),
                Step::Ended(ended) => return ended,
            }
        }
    }

    /// Runs to the end, waiting with tokio's timer.
    pub async fn finish(mut self) -> Ended {
        loop {
            match self.step(false) {
                Step::Wait(d) => tokio::time::sleep(d).await,
                Step::Ended(ended) => return ended,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::testutil::{Spawned, wait_until};

    const LONG: Duration = Duration::from_secs(10);

    #[test]
    fn a_group_that_obeys_sigterm_exits() {
        let g = Spawned::group(&["sh", "-c", "sleep 300 & wait"]);
        // Both the shell and its sleep are in the group before the signal.
        wait_until("two members", || {
            crate::proc::group_members(g.pid()).len() == 2
        });
        let t = Termination::begin(Target::Group(Group::of_leader(g.id())), LONG, LONG).unwrap();
        let ended = t.finish_blocking(|| false);
        assert!(matches!(ended, Ended::Exited), "{ended:?}");
        assert!(crate::proc::group_members(g.pid()).is_empty());
    }

    #[test]
    fn a_process_ignoring_sigterm_is_killed_at_the_deadline_or_when_hurried() {
        let stubborn = || Spawned::group(&["sh", "-c", "trap '' TERM; exec sleep 300"]);
        let p = stubborn();
        wait_until("sleep exec'd", || {
            crate::proc::read_stat(p.pid()).is_ok_and(|s| s.comm == "sleep")
        });
        let started = Instant::now();
        let t =
            Termination::begin(Target::Process(p.id()), Duration::from_millis(200), LONG).unwrap();
        let ended = t.finish_blocking(|| false);
        assert!(matches!(ended, Ended::Killed), "{ended:?}");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(!p.id().is_alive());

        let p = stubborn();
        wait_until("sleep exec'd", || {
            crate::proc::read_stat(p.pid()).is_ok_and(|s| s.comm == "sleep")
        });
        let t = Termination::begin(Target::Group(Group::of_leader(p.id())), LONG, LONG).unwrap();
        // Hurried: no wait for the 10 s deadline.
        let ended = t.finish_blocking(|| true);
        assert!(matches!(ended, Ended::Killed), "{ended:?}");
    }

    #[test]
    fn a_stale_identity_is_not_signalled() {
        let p = Spawned::group(&["sleep", "300"]);
        let stale = ProcId {
            pid: p.pid(),
            start_time: p.id().start_time + 1,
        };
        let refused = Termination::begin(Target::Process(stale), LONG, LONG).unwrap_err();
        assert!(matches!(refused, SignalError::NotSameProcess { .. }));
        assert!(p.id().is_alive());
    }

    #[tokio::test]
    async fn finish_waits_with_the_async_timer() {
        let p = Spawned::group(&["sleep", "300"]);
        let t = Termination::begin(Target::Group(Group::of_leader(p.id())), LONG, LONG).unwrap();
        assert!(t.finish().await.is_gone());
    }
}
