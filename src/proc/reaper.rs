//! Steward as a child subreaper: descendants of its workers that escape their
//! process group (`setsid`, double fork) are re-parented to steward when their
//! parent dies, instead of to init. This module makes steward a subreaper,
//! lists those adopted children, and reaps them once they exit, without
//! ever taking an exit status that tokio waits for.
//!
//! # Whose zombie is it
//!
//! tokio reaps each child it spawned by its own pid (pidfd, then `waitpid(pid)`;
//! or `waitpid(pid)` on SIGCHLD): a `waitpid(-1)` here would race it and
//! leave its `Child::wait` with ECHILD. So every spawn of a long-lived child
//! goes through [`spawning`], which registers the child's identity while a
//! lock is held, and [`reap_adopted`] takes the same lock and reaps only
//! zombies that are not registered. Holding the lock across fork and
//! registration closes the window where a just-forked child could already be
//! a zombie and look adopted.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::process::{Pid, WaitId, WaitIdOptions, WaitOptions};

use super::ident::ProcId;
use super::list::list_processes;
use super::stat::{Stat, read_stat};

/// The children this process spawned itself (tokio reaps them).
static OWN: Mutex<Vec<ProcId>> = Mutex::new(Vec::new());
/// Set once `become_subreaper` succeeded.
static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`).
pub fn become_subreaper() -> std::io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    SUBREAPER.store(true, Ordering::SeqCst);
    Ok(())
}

/// Whether `become_subreaper` succeeded in this process.
pub fn is_subreaper() -> bool {
    SUBREAPER.load(Ordering::SeqCst)
}

/// Held across a spawn: the reaper does not look at children meanwhile.
pub struct Spawning(std::sync::MutexGuard<'static, Vec<ProcId>>);

/// Call before spawning a child that someone else (tokio) will reap, and
/// `register` its pid before dropping the guard.
pub fn spawning() -> Spawning {
    // Plain data: a panic elsewhere mid-update leaves it usable.
    Spawning(OWN.lock().unwrap_or_else(|p| p.into_inner()))
}

impl Spawning {
    /// Records `pid` (just spawned, not reaped: its `/proc` entry exists) as
    /// reaped by its spawner. Only a subreaper reaps anything, so nothing is
    /// kept otherwise.
    pub fn register(&mut self, pid: i32) {
        if !is_subreaper() {
            return;
        }
        match ProcId::of(pid) {
            Ok(id) => self.0.push(id),
            // No /proc entry for an unreaped child cannot happen; if it did,
            // a start time of 0 still keeps the pid from being reaped here
            // (see `is_own`).
            Err(_) => self.0.push(ProcId { pid, start_time: 0 }),
        }
    }
}

/// Whether `st` is a child that its spawner reaps.
fn is_own(own: &[ProcId], st: &Stat) -> bool {
    own.iter()
        .any(|id| id.pid == st.pid && (id.start_time == st.start_time || id.start_time == 0))
}

/// Pids of this process's direct children, zombies included: the per-thread
/// `/proc/self/task/*/children` lists (a child belongs to the thread that
/// forked it, or that it was re-parented to); `None` where the kernel has
/// no such file.
fn child_pids() -> Option<Vec<i32>> {
    let mut pids = Vec::new();
    let mut listed = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            listed = true;
            pids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    pids.sort_unstable();
    pids.dedup();
    listed.then_some(pids)
}

/// Direct children of this process, zombies included, except those whose
/// pid `skip` says to leave out (read no further: with hundreds of workers,
/// their `stat` files are most of the cost).
fn children_but(skip: impl Fn(i32) -> bool) -> Vec<Stat> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    match child_pids() {
        Some(pids) => pids
            .into_iter()
            .filter(|&pid| !skip(pid))
            .filter_map(|pid| read_stat(pid).ok())
            .filter(|st| st.ppid == me)
            .collect(),
        None => list_processes()
            .into_iter()
            .filter(|st| st.ppid == me && !skip(st.pid))
            .collect(),
    }
}

/// Direct children of this process, zombies included.
pub fn children() -> Vec<Stat> {
    children_but(|_| false)
}

/// The zombies among `children` that nobody else reaps.
fn to_reap(children: &[Stat], own: &[ProcId]) -> Vec<i32> {
    children
        .iter()
        .filter(|st| st.is_zombie() && !is_own(own, st))
        .map(|st| st.pid)
        .collect()
}

/// Forgets registered children that are gone (reaped by their spawner), so
/// that a number handed out again is not taken for theirs.
fn prune(own: &mut Vec<ProcId>) {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    own.retain(|id| {
        read_stat(id.pid)
            .is_ok_and(|st| st.ppid == me && (id.start_time == 0 || st.start_time == id.start_time))
    });
}

/// Reaps every exited child that is not registered (adopted orphans), and
/// forgets registered children that are gone. Returns how many were reaped.
pub fn reap_adopted() -> usize {
    let mut own = OWN.lock().unwrap_or_else(|p| p.into_inner());
    prune(&mut own);
    // A cheap look first: no exited child at all, nothing to scan.
    let any = rustix::process::waitid(
        WaitId::All,
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
    );
    if !matches!(any, Ok(Some(_))) {
        return 0;
    }
    let registered: HashSet<i32> = own.iter().map(|id| id.pid).collect();
    let kids = children_but(|pid| registered.contains(&pid));
    let mut reaped = 0;
    for pid in to_reap(&kids, &own) {
        // Our own unregistered zombie: reaping it by pid takes exactly it.
        if let Some(pid) = Pid::from_raw(pid)
            && let Ok(Some(_)) = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG)
        {
            reaped += 1;
        }
    }
    reaped
}

/// Live children this process did not spawn itself: orphans re-parented to
/// it as a subreaper. Registered children are skipped by pid without a
/// read (the reaper's `prune` keeps that list exact).
pub fn adopted() -> Vec<Stat> {
    let registered: HashSet<i32> = {
        let own = OWN.lock().unwrap_or_else(|p| p.into_inner());
        own.iter().map(|id| id.pid).collect()
    };
    children_but(|pid| registered.contains(&pid))
        .into_iter()
        .filter(|st| !st.is_zombie())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(pid: i32, start_time: u64, state: char) -> Stat {
        Stat {
            pid,
            comm: "x".into(),
            state,
            ppid: 1,
            pgrp: pid,
            session: pid,
            start_time,
            cpu_ticks: 0,
            rss_pages: 0,
        }
    }

    #[test]
    fn only_unregistered_zombies_are_reaped() {
        let own = [ProcId {
            pid: 10,
            start_time: 5,
        }];
        let kids = [
            stat(10, 5, 'Z'), // tokio's: left to it
            stat(11, 6, 'Z'), // adopted: reaped
            stat(12, 7, 'S'), // alive: not yet
            stat(10, 9, 'S'),
        ];
        assert_eq!(to_reap(&kids, &own), vec![11]);
        // The same number, started later, is someone else: reaped.
        assert_eq!(to_reap(&[stat(10, 9, 'Z')], &own), vec![10]);
    }

    #[test]
    fn children_lists_a_spawned_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(children().iter().any(|st| st.pid == pid));
        let _ = child.kill();
        let _ = child.wait();
    }
}
