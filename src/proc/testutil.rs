//! Test helpers: spawn real processes in their own group and clean them up; poll with a deadline.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ident::ProcId;
use super::signal::{Group, Sig, signal_group};

/// A child spawned as the leader of its own process group; the whole group is SIGKILLed and
/// the child reaped on drop, so a failing test leaks nothing.
pub(crate) struct Spawned {
    pub child: Child,
    pub leader: ProcId,
}

impl Spawned {
    pub fn group(argv: &[&str]) -> Spawned {
        Self::group_with(argv, Stdio::null())
    }

    pub fn group_with(argv: &[&str], stdin: Stdio) -> Spawned {
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(stdin)
            .process_group(0)
            .spawn()
            .unwrap();
        // std's spawn returns after a successful exec, and the child cannot be reaped before we
        // wait for it, so reading its identity here cannot race.
        let leader = ProcId::of(child.id() as i32).unwrap();
        Spawned { child, leader }
    }

    pub fn id(&self) -> ProcId {
        self.leader
    }

    pub fn pid(&self) -> i32 {
        self.leader.pid
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = signal_group(&Group::of_leader(self.leader), Sig::Kill);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every few milliseconds until it holds; panics after 10 s.
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
