//! The one place steward sends signals: `Sig`, `signal` (one process, through a pidfd after
//! re-checking its identity) and `signal_group` (a process group steward started, with the
//! group identity rule described in the module docs of `proc`).

use std::fmt;
use std::str::FromStr;

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal};

use super::error::{ProcError, SignalError};
use super::ident::ProcId;
use super::list::list_processes;
use super::stat::read_stat;

/// The signals steward sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Sig {
    Term,
    Kill,
    Int,
    Hup,
    Quit,
    Usr1,
    Usr2,
}

impl Sig {
    pub const ALL: [Sig; 7] = [
        Sig::Term,
        Sig::Kill,
        Sig::Int,
        Sig::Hup,
        Sig::Quit,
        Sig::Usr1,
        Sig::Usr2,
    ];

    /// The name without the `SIG` prefix, e.g. `"TERM"`.
    pub fn name(self) -> &'static str {
        match self {
            Sig::Term => "TERM",
            Sig::Kill => "KILL",
            Sig::Int => "INT",
            Sig::Hup => "HUP",
            Sig::Quit => "QUIT",
            Sig::Usr1 => "USR1",
            Sig::Usr2 => "USR2",
        }
    }

    pub fn to_rustix(self) -> Signal {
        match self {
            Sig::Term => Signal::TERM,
            Sig::Kill => Signal::KILL,
            Sig::Int => Signal::INT,
            Sig::Hup => Signal::HUP,
            Sig::Quit => Signal::QUIT,
            Sig::Usr1 => Signal::USR1,
            Sig::Usr2 => Signal::USR2,
        }
    }

    /// The signal number (15 for TERM, ...).
    pub fn as_raw(self) -> i32 {
        self.to_rustix().as_raw()
    }
}

impl fmt::Display for Sig {
    /// `SIGTERM`, `SIGKILL`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIG{}", self.name())
    }
}

/// The text did not name a signal steward sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal {0:?} (expected TERM, KILL, INT, HUP, QUIT, USR1 or USR2)")]
pub struct UnknownSignal(pub String);

impl FromStr for Sig {
    type Err = UnknownSignal;

    /// Accepts `TERM`, `SIGTERM`, `term`, `sigterm` or the number (`15`).
    fn from_str(s: &str) -> Result<Sig, UnknownSignal> {
        let t = s.trim();
        if let Ok(n) = t.parse::<i32>() {
            return Sig::ALL
                .into_iter()
                .find(|sig| sig.as_raw() == n)
                .ok_or_else(|| UnknownSignal(s.to_string()));
        }
        let upper = t.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        Sig::ALL
            .into_iter()
            .find(|sig| sig.name() == name)
            .ok_or_else(|| UnknownSignal(s.to_string()))
    }
}

fn pid_of(raw: i32) -> Result<Pid, SignalError> {
    // Check the sign before `Pid::from_raw`, which debug-asserts `raw >= 0`.
    if raw <= 0 {
        return Err(SignalError::InvalidTarget(raw));
    }
    Pid::from_raw(raw).ok_or(SignalError::InvalidTarget(raw))
}

/// Checks that `id.pid` still belongs to the process `id` names, and that it has not exited.
fn same_process(id: &ProcId) -> Result<(), SignalError> {
    match read_stat(id.pid) {
        Ok(st) if st.start_time != id.start_time => Err(SignalError::NotSameProcess {
            pid: id.pid,
            expected: id.start_time,
            found: st.start_time,
        }),
        Ok(st) if st.is_zombie() => Err(SignalError::Gone),
        Ok(_) => Ok(()),
        Err(ProcError::NotFound(_)) => Err(SignalError::Gone),
        Err(ProcError::Io(e)) => Err(SignalError::Os(e)),
        Err(e @ ProcError::Parse(_)) => Err(SignalError::Os(std::io::Error::other(e))),
    }
}

/// Sends `sig` to the process `id` names, and only to it.
///
/// `pidfd_open(pid)` first, then `/proc/PID/stat` is re-read: the start time must equal
/// `id.start_time`, otherwise nothing is sent (`NotSameProcess`). The signal then goes through
/// the pidfd. This leaves no window for pid reuse: the pidfd was opened before the check, and
/// the process seen by the check started before this call, so both are the same process.
///
/// Exited processes (including zombies not yet reaped) are `Gone`. On kernels without pidfds
/// (< 5.3) it falls back to check-then-`kill`, which has a tiny reuse window.
pub fn signal(id: &ProcId, sig: Sig) -> Result<(), SignalError> {
    let pid = pid_of(id.pid)?;
    let pidfd = match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => Some(fd),
        Err(Errno::NOSYS) => None,
        Err(e) => return Err(e.into()),
    };
    same_process(id)?;
    match pidfd {
        Some(fd) => rustix::process::pidfd_send_signal(&fd, sig.to_rustix())?,
        None => rustix::process::kill_process(pid, sig.to_rustix())?,
    }
    Ok(())
}

/// A process group steward started: the leader was spawned with `process_group(0)`, so
/// `leader.pid == pgid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Group {
    pub pgid: i32,
    pub leader: ProcId,
}

impl Group {
    /// The group a freshly spawned leader created (`process_group(0)`): `pgid == leader.pid`.
    pub fn of_leader(leader: ProcId) -> Group {
        Group {
            pgid: leader.pid,
            leader,
        }
    }
}

/// Which way `signal_group` reached the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GroupSignal {
    /// The leader was still there (alive or a zombie not yet reaped): one `kill(-pgid)`.
    Leader,
    /// The leader was gone; this many leftover members of the group were signalled.
    Leftovers(usize),
}

fn is_own_group(pgid: i32) -> bool {
    rustix::process::getpgrp().as_raw_pid() == pgid
}

/// Sends `sig` to every process of `group`, after making sure `-pgid` still names the group
/// steward started (see the module docs of `proc` for why this is sound):
///
/// 1. a process with pid == pgid exists with the leader's start time → one `kill(-pgid)`,
///    no `/proc` scan (`GroupSignal::Leader`);
/// 2. pid == pgid exists with another start time → the number was reused: `NotSameProcess`,
///    nothing sent;
/// 3. no process has pid == pgid → the members with `pgrp == pgid` (non-zombie) are the
///    leftovers of our group (each must have started no earlier than the leader, else
///    `NotSameProcess`); if any, one `kill(-pgid)` (`GroupSignal::Leftovers(n)`), else `Gone`.
///
/// Works the same for a group of a crashed earlier steward (not our children): it needs only
/// the recorded `Group`. Refuses pgid <= 1 and steward's own group (`InvalidTarget`).
pub fn signal_group(group: &Group, sig: Sig) -> Result<GroupSignal, SignalError> {
    let pgid = group.pgid;
    if pgid <= 1 || is_own_group(pgid) {
        return Err(SignalError::InvalidTarget(pgid));
    }
    if group.leader.pid != pgid {
        return Err(SignalError::InvalidTarget(group.leader.pid));
    }
    let pid = pid_of(pgid)?;
    match read_stat(pgid) {
        Ok(st) if st.start_time == group.leader.start_time => {
            rustix::process::kill_process_group(pid, sig.to_rustix())?;
            Ok(GroupSignal::Leader)
        }
        Ok(st) => Err(SignalError::NotSameProcess {
            pid: pgid,
            expected: group.leader.start_time,
            found: st.start_time,
        }),
        Err(ProcError::NotFound(_)) => {
            let members: Vec<_> = list_processes()
                .into_iter()
                .filter(|st| st.pgrp == pgid && !st.is_zombie())
                .collect();
            if let Some(older) = members
                .iter()
                .find(|st| st.start_time < group.leader.start_time)
            {
                // A member older than our leader cannot belong to the group our leader created.
                return Err(SignalError::NotSameProcess {
                    pid: older.pid,
                    expected: group.leader.start_time,
                    found: older.start_time,
                });
            }
            if members.is_empty() {
                return Err(SignalError::Gone);
            }
            rustix::process::kill_process_group(pid, sig.to_rustix())?;
            Ok(GroupSignal::Leftovers(members.len()))
        }
        Err(ProcError::Io(e)) => Err(SignalError::Os(e)),
        Err(e @ ProcError::Parse(_)) => Err(SignalError::Os(std::io::Error::other(e))),
    }
}

/// Sends `sig` to every process of `group` whose leader is the caller's own
/// child **not yet reaped**: the kernel keeps an unreaped child's pid (and so
/// the group's number) for it, so `-pgid` names our group without the
/// `/proc` re-check [`signal_group`] makes (one file read per worker saved
/// when a fleet of hundreds stops). The caller must know the leader is
/// unreaped (tokio's `Child::id()` is `Some` until it is); once reaped, use
/// [`signal_group`]. Refuses pgid <= 1 and steward's own group.
pub fn signal_unreaped_group(group: &Group, sig: Sig) -> Result<GroupSignal, SignalError> {
    let pgid = group.pgid;
    if pgid <= 1 || is_own_group(pgid) || group.leader.pid != pgid {
        return Err(SignalError::InvalidTarget(pgid));
    }
    rustix::process::kill_process_group(pid_of(pgid)?, sig.to_rustix())?;
    Ok(GroupSignal::Leader)
}

/// Whether no living process is left in the group: the cheap `kill(-pgid, 0)`
/// first, and only when that still finds someone, a `/proc` scan to tell
/// living members from zombies waiting for a slow reaper (orphaned
/// grandchildren are reaped by init, which may take its time).
///
/// `since`: a census taken before this instant is not trusted. Pass the
/// moment the leader was reaped (or the first signal was sent): every member
/// alive then is in any later census, and later members descend from them.
pub fn group_gone(pgid: i32, since: std::time::Instant) -> bool {
    !group_alive(pgid) || census::live_members(pgid, since) == 0
}

/// One `/proc` scan shared by every caller for a short while, so fifty stops
/// polling at once cost one scan per window, not fifty. A stale census can
/// only over-count as long as it was taken after the caller's `since` (a
/// member seen alive that died since, or a new child counted through its
/// parent), which means "poll again", never a false "gone": a process joins a
/// group by fork, so its parent was counted.
mod census {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::list_processes;

    const FRESH_FOR: Duration = Duration::from_millis(15);

    static CENSUS: Mutex<Option<(Instant, HashMap<i32, usize>)>> = Mutex::new(None);

    pub(super) fn live_members(pgid: i32, since: Instant) -> usize {
        // Plain data: a panic elsewhere mid-update leaves it usable.
        let mut guard = CENSUS.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = guard
            .as_ref()
            .is_some_and(|(at, _)| *at >= since && at.elapsed() < FRESH_FOR);
        if !fresh {
            let mut counts = HashMap::new();
            for st in list_processes() {
                if !st.is_zombie() {
                    *counts.entry(st.pgrp).or_insert(0) += 1;
                }
            }
            *guard = Some((Instant::now(), counts));
        }
        guard
            .as_ref()
            .and_then(|(_, counts)| counts.get(&pgid).copied())
            .unwrap_or(0)
    }
}

/// `kill(-pgid, 0)` succeeds: some process (zombies included, until reaped) is in the group.
/// ESRCH → false; EPERM (exists but not ours) → true. pgid <= 1 → false.
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    let Some(pid) = Pid::from_raw(pgid) else {
        return false;
    };
    match rustix::process::test_kill_process_group(pid) {
        Ok(()) => true,
        Err(e) => e != Errno::SRCH,
    }
}

/// The live (non-zombie) processes whose process group is `pgid`. Scans `/proc`.
pub fn group_members(pgid: i32) -> Vec<ProcId> {
    if pgid <= 0 {
        return Vec::new();
    }
    list_processes()
        .into_iter()
        .filter(|st| st.pgrp == pgid && !st.is_zombie())
        .map(|st| ProcId {
            pid: st.pid,
            start_time: st.start_time,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig_names_round_trip() {
        for sig in Sig::ALL {
            assert_eq!(sig.to_string().parse::<Sig>().unwrap(), sig);
            assert_eq!(sig.name().parse::<Sig>().unwrap(), sig);
            assert_eq!(sig.name().to_lowercase().parse::<Sig>().unwrap(), sig);
            assert_eq!(sig.as_raw().to_string().parse::<Sig>().unwrap(), sig);
        }
        assert_eq!("sigterm".parse::<Sig>().unwrap(), Sig::Term);
        assert_eq!(" SIGKILL ".parse::<Sig>().unwrap(), Sig::Kill);
        assert_eq!(Sig::Term.to_string(), "SIGTERM");
        assert!("TERMINATE".parse::<Sig>().is_err());
        assert!("SIG".parse::<Sig>().is_err());
        assert!("0".parse::<Sig>().is_err());
    }

    #[test]
    fn refuses_invalid_targets() {
        for pid in [-5, 0] {
            let bogus = ProcId { pid, start_time: 0 };
            assert!(matches!(
                signal(&bogus, Sig::Term),
                Err(SignalError::InvalidTarget(p)) if p == pid
            ));
        }
        for pgid in [-5, 0, 1] {
            let g = Group {
                pgid,
                leader: ProcId {
                    pid: pgid,
                    start_time: 0,
                },
            };
            assert!(matches!(
                signal_group(&g, Sig::Term),
                Err(SignalError::InvalidTarget(_))
            ));
            assert!(matches!(
                signal_unreaped_group(&g, Sig::Term),
                Err(SignalError::InvalidTarget(_))
            ));
            assert!(!group_alive(pgid));
        }
        let own = rustix::process::getpgrp().as_raw_pid();
        let g = Group {
            pgid: own,
            leader: ProcId {
                pid: own,
                start_time: 0,
            },
        };
        assert!(matches!(
            signal_group(&g, Sig::Term),
            Err(SignalError::InvalidTarget(_))
        ));
        assert!(matches!(
            signal_unreaped_group(&g, Sig::Term),
            Err(SignalError::InvalidTarget(_))
        ));
    }
}
