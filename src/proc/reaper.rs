//! Steward as a child subreaper: descendants of its workers that escape their
//! process group (`setsid`, double fork) are re-parented to steward when their
//! parent dies, instead of to init. This module makes steward a subreaper,
//! lists those adopted children, and reaps them once they exit, without
//! ever taking an exit status that tokio waits for.
//!
//! # Whose zombie is it
//!
//! tokio reaps each child it spawned by its own pid (pidfd, then `waitpid(pid)`;
//! or `waitpid(pid)` on SIGCHLD), and `spawn::Child` by its pidfd: a
//! `waitpid(-1)` here would race them and leave their wait with ECHILD. So every spawn of a long-lived child
//! goes through [`spawning`], which registers the child's identity while a
//! lock is held, and [`reap_adopted`] takes the same lock and reaps only
//! zombies that are not registered. Holding the lock across fork and
//! registration closes the window where a just-forked child could already be
//! a zombie and look adopted.

use std::collections::HashSet;
use std::path::PathBuf;
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

/// Whose children to list.
#[derive(Clone, Copy)]
enum Threads {
    /// Every thread's: all of this process's children.
    All,
    /// The main thread's only. The kernel hands an orphan to a subreaper's
    /// first live thread (`find_alive_thread`), the main one while steward
    /// runs, so every adopted orphan is there; the workers tokio's threads
    /// spawned are not, which keeps a look one read however big the fleet
    /// and however many blocking threads run.
    Main,
}

/// Pids of this process's direct children (of `threads`), zombies
/// included: the per-thread `/proc/self/task/*/children` lists (a child
/// belongs to the thread that forked it, or that it was re-parented to);
/// `None` where the kernel has no such file.
fn child_pids(threads: Threads) -> Option<Vec<i32>> {
    let mut pids = Vec::new();
    let mut listed = false;
    let tasks: Vec<PathBuf> = match threads {
        Threads::All => std::fs::read_dir("/proc/self/task")
            .ok()?
            .flatten()
            .map(|t| t.path())
            .collect(),
        Threads::Main => vec![PathBuf::from(format!(
            "/proc/self/task/{}",
            rustix::process::getpid().as_raw_nonzero()
        ))],
    };
    for task in tasks {
        if let Ok(text) = std::fs::read_to_string(task.join("children")) {
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
fn children_but(threads: Threads, skip: impl Fn(i32) -> bool) -> Vec<Stat> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    match child_pids(threads) {
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
    children_but(Threads::All, |_| false)
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

/// Reaps every exited child that is not registered (adopted orphans); with
/// `prune`, first forgets registered children that are gone (a read per
/// registered child: call it now and then, a number is not handed out
/// again within seconds). Returns how many were reaped.
pub fn reap_adopted(prune_own: bool) -> usize {
    let mut own = OWN.lock().unwrap_or_else(|p| p.into_inner());
    if prune_own {
        prune(&mut own);
    }
    // A cheap look first: no exited child at all, nothing to scan.
    let any = rustix::process::waitid(
        WaitId::All,
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
    );
    if !matches!(any, Ok(Some(_))) {
        return 0;
    }
    let registered: HashSet<i32> = own.iter().map(|id| id.pid).collect();
    let kids = children_but(Threads::Main, |pid| registered.contains(&pid));
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
    children_but(Threads::Main, |pid| registered.contains(&pid))
        .into_iter()
        .filter(|st| !st.is_zombie())
        .collect()
}

/// How long one look at the adopted children serves every caller.
const FRESH_FOR: std::time::Duration = std::time::Duration::from_millis(15);

/// The last look, shared: two hundred stops ending at once cost a few
/// looks, not four hundred.
static LAST_LOOK: Mutex<Option<(std::time::Instant, Vec<Stat>)>> = Mutex::new(None);

/// A `since` for `adopted_since` that any look still fresh satisfies.
pub fn any_recent_look() -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_sub(FRESH_FOR).unwrap_or(now)
}

/// `adopted`, from a look taken no earlier than `since` (and within the
/// last `FRESH_FOR`). A look lists every orphan adopted before it was taken;
/// one whose parent is still alive in it is adopted later and seen in a
/// later look, once that parent is gone from it.
pub fn adopted_since(since: std::time::Instant) -> Vec<Stat> {
    // Plain data: a panic elsewhere mid-update leaves it usable.
    let mut last = LAST_LOOK.lock().unwrap_or_else(|p| p.into_inner());
    let fresh = last
        .as_ref()
        .is_some_and(|(at, _)| *at >= since && at.elapsed() < FRESH_FOR);
    if !fresh {
        let at = std::time::Instant::now();
        *last = Some((at, adopted()));
    }
    last.as_ref().map(|(_, l)| l.clone()).unwrap_or_default()
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
