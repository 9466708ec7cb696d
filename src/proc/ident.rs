//! `ProcId`: a process identity (pid + start time) that survives pid reuse.

use std::sync::OnceLock;

use super::error::ProcError;
use super::stat::read_stat;

/// A process identity that survives pid reuse: a pid number can be handed out again once its
/// process is reaped, but never with the same start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ProcId {
    pub pid: i32,
    /// Field 22 of `/proc/PID/stat`: clock ticks since boot.
    pub start_time: u64,
}

impl ProcId {
    /// Reads the identity of the process that has `pid` now.
    pub fn of(pid: i32) -> Result<ProcId, ProcError> {
        let st = read_stat(pid)?;
        Ok(ProcId {
            pid,
            start_time: st.start_time,
        })
    }

    /// This process's identity, or the error reading `/proc/self`. Call once early at startup
    /// to report a broken `/proc` as a clean error; the value is cached, so later calls (and
    /// [`ProcId::current`]) never touch `/proc` again.
    pub fn try_current() -> Result<ProcId, ProcError> {
        static CURRENT: OnceLock<ProcId> = OnceLock::new();
        if let Some(id) = CURRENT.get() {
            return Ok(*id);
        }
        let id = ProcId::of(std::process::id() as i32)?;
        Ok(*CURRENT.get_or_init(|| id))
    }

    /// This process's identity.
    ///
    /// # Panics
    /// Only if `/proc` is not mounted (or the very first read hits fd exhaustion). Our own
    /// `/proc/<pid>/stat` exists for as long as we run, is always readable by ourselves and
    /// always parses; steward cannot work at all without `/proc`. `try_current` is the
    /// non-panicking form.
    pub fn current() -> ProcId {
        ProcId::try_current().expect("/proc/self/stat is readable while we run (is /proc mounted?)")
    }

    /// True if a process with this pid *and* this start time exists and is not a zombie.
    pub fn is_alive(&self) -> bool {
        match read_stat(self.pid) {
            Ok(st) => st.start_time == self.start_time && !st.is_zombie(),
            Err(_) => false,
        }
    }
}

impl std::fmt::Display for ProcId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.pid, self.start_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn own_identity_round_trips() {
        let me = ProcId::of(std::process::id() as i32).unwrap();
        assert_eq!(me, ProcId::current());
        assert_eq!(ProcId::try_current().unwrap(), me);
        assert!(me.is_alive());
        let forged = ProcId {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!forged.is_alive());
        let json = serde_json::to_string(&me).unwrap();
        assert_eq!(serde_json::from_str::<ProcId>(&json).unwrap(), me);
    }

    #[test]
    fn not_alive_after_exit_and_reap() {
        let mut child = Command::new("true").spawn().unwrap();
        let id = ProcId::of(child.id() as i32);
        child.wait().unwrap();
        // `true` may already be a zombie when we read it; either way it is not alive now.
        if let Ok(id) = id {
            assert!(!id.is_alive());
        }
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let id = ProcId::of(child.id() as i32).unwrap();
        assert!(id.is_alive());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!id.is_alive());
    }
}
