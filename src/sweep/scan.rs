//! `scan`: builds the sweep plan. Read-only: it stats, measures and probes
//! locks, and never changes anything.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::parallel::{SWEEP_THREADS, par_map};
use super::scope::{Fence, SweepScope};

use crate::fs::Beneath;
use crate::fs::tree;
use crate::lock::{self, InstanceLock, LockState};
use crate::model::{SweepAction, SweepItem, SweepKind, SweepPlan, SweepTarget};
use crate::proc::{self, ProcId};
use crate::store::{SharedStore, Store, TempRow};
use crate::time::{human, now_ms};

/// Lock/pid files younger than this are never stale: their writer may be
/// between creating and locking them.
pub(super) const LOCK_FILE_MIN_AGE: Duration = Duration::from_secs(60);

/// Lock files steward itself uses as mutexes: never removed (deleting one
/// would let two processes lock two different inodes).
pub(super) const OWN_LOCK_FILES: &[&str] = &["steward.lock", "sweep.lock"];

fn lock_store(store: &SharedStore) -> std::sync::MutexGuard<'_, Store> {
    // A poisoned mutex means a panic elsewhere mid-statement; SQLite is fine.
    store.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn alive(pid: i32, start_time: u64) -> bool {
    ProcId { pid, start_time }.is_alive()
}

pub(super) fn age_text(ms: i64) -> String {
    human(Duration::from_millis(ms.max(0) as u64))
}

/// Whether `path` (a top-level temp entry) is covered by a registration.
pub(super) fn tracked(rows: &[TempRow], path: &Path) -> bool {
    rows.iter()
        .any(|r| r.path == path || r.path.starts_with(path) || path.starts_with(&r.path))
}

// `st_ctime` is i64 on 64-bit targets but not everywhere: keep the conversion.
#[allow(clippy::useless_conversion)]
/// The unix ms a trash entry was trashed: from its `.<ms>` or `.<ms>.<n>`
/// suffix, else its ctime (a rename sets it).
pub(super) fn trashed_at(path: &Path) -> Option<i64> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let parts: Vec<&str> = name.rsplitn(3, '.').collect();
    let ms = |s: &str| s.parse::<i64>().ok().filter(|v| *v > 1_000_000_000_000);
    let parsed = match parts.as_slice() {
        [last, prev, _] => ms(last).or_else(|| ms(prev)),
        [last, _] => ms(last),
        _ => None,
    };
    parsed.or_else(|| {
        let st = tree::lstat(path).ok()?;
        Some(i64::from(st.st_ctime) * 1000 + (st.st_ctime_nsec as i64) / 1_000_000)
    })
}

/// The pid written in a pid/lock file, if any.
pub(super) fn pid_in(path: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(path).ok()?;
    text.trim().parse().ok().filter(|p: &i32| *p > 0)
}

/// The plan's words for a tree with something in use inside.
fn kept_text(pid: i32) -> String {
    format!(
        "kept: in use by pid {pid} (a file or directory inside is open, locked or a working directory)"
    )
}

fn first_holder(path: &Path) -> Option<i32> {
    lock::live_holders(path).first().copied()
}

struct Builder {
    items: Vec<SweepItem>,
    notes: Vec<String>,
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: SweepKind,
        target: SweepTarget,
        reason: String,
        size: Option<u64>,
        action: SweepAction,
        holder_pid: Option<i32>,
        account: Option<String>,
    ) {
        let id = self.items.len();
        self.items.push(SweepItem {
            id,
            kind,
            target,
            reason,
            size,
            action,
            holder_pid,
            account,
        });
    }
}

impl Builder {
    fn plan(self, now: i64) -> SweepPlan {
        let total_bytes = self
            .items
            .iter()
            .filter(|i| i.action == SweepAction::Delete)
            .filter_map(|i| i.size)
            .sum();
        SweepPlan {
            id: new_plan_id(now),
            created_ms: now,
            items: self.items,
            total_bytes,
            notes: self.notes,
        }
    }
}

fn path_target(path: &Path) -> SweepTarget {
    SweepTarget::Path {
        path: path.to_owned(),
    }
}

/// Builds the plan for `kinds`. Never changes anything. Holds the store
/// mutex only to read rows, never while walking the file system.
pub fn scan(scope: &SweepScope, store: &SharedStore, kinds: &[SweepKind]) -> SweepPlan {
    let mut b = Builder {
        items: Vec::new(),
        notes: Vec::new(),
    };
    let now = now_ms();
    let anchor = match Beneath::open_root(scope.data_dir.root()) {
        Ok(anchor) => anchor,
        Err(e) => {
            b.notes.push(format!(
                "cannot open the data dir {}: {e}",
                scope.data_dir.root().display()
            ));
            return b.plan(now);
        }
    };
    let fence = Fence::new(&anchor);
    let (rows, accounts, workers) = {
        let s = lock_store(store);
        let rows = s.temp_entries().unwrap_or_else(|e| {
            b.notes.push(format!("cannot read temp entries: {e}"));
            Vec::new()
        });
        let accounts: HashSet<String> = match s.accounts() {
            Ok(a) => a.into_iter().map(|a| a.id).collect(),
            Err(e) => {
                b.notes.push(format!("cannot read accounts: {e}"));
                // Without the account list no session file can be judged.
                HashSet::new()
            }
        };
        let workers = s.workers().unwrap_or_else(|e| {
            b.notes.push(format!("cannot read recorded workers: {e}"));
            Vec::new()
        });
        (rows, accounts, workers)
    };
    let accounts_known = !b
        .notes
        .iter()
        .any(|n| n.starts_with("cannot read accounts"));
    let root_dev = tree::lstat(&scope.temp_root).ok().map(|st| st.st_dev);

    for kind in kinds {
        match kind {
            SweepKind::TempDeadOwner => scan_dead_owner(scope, &fence, &rows, root_dev, &mut b),
            SweepKind::TempUntracked => scan_untracked(scope, &fence, &rows, root_dev, now, &mut b),
            SweepKind::SessionNoAccount if accounts_known => {
                scan_sessions(scope, &anchor, &accounts, &mut b)
            }
            SweepKind::SessionNoAccount => {}
            SweepKind::LeftoverWorker => {
                for w in &workers {
                    if alive(w.owner_pid, w.owner_start_time)
                        || proc::group_gone(w.pgid, std::time::Instant::now())
                    {
                        continue;
                    }
                    // The leader's pid reused by an unrelated process: not ours.
                    if let Ok(st) = proc::read_stat(w.pgid)
                        && st.start_time != w.start_time
                    {
                        continue;
                    }
                    b.push(
                        SweepKind::LeftoverWorker,
                        SweepTarget::Process {
                            pid: w.pid,
                            start_time: w.start_time,
                            pgid: w.pgid,
                        },
                        format!(
                            "worker of {} started by steward pid {}, which is gone",
                            w.account, w.owner_pid
                        ),
                        None,
                        SweepAction::Stop,
                        None,
                        Some(w.account.clone()),
                    );
                }
            }
            SweepKind::LeftoverAria2 => {
                for item in aria2_leftovers(scope) {
                    b.push(
                        item.kind,
                        item.target,
                        item.reason,
                        None,
                        item.action,
                        None,
                        None,
                    );
                }
            }
            SweepKind::StaleLockFile => scan_lock_files(scope, now, &mut b),
            SweepKind::TrashExpired => scan_trash(scope, &fence, now, &mut b),
        }
    }
    b.plan(now)
}

/// A plan id no earlier plan of this process had: the time, then a counter.
pub fn new_plan_id(now_ms: i64) -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    ((now_ms as u64) << 8) | (NEXT.fetch_add(1, Ordering::Relaxed) & 0xff)
}

fn scan_dead_owner(
    scope: &SweepScope,
    fence: &Fence<'_>,
    rows: &[TempRow],
    root_dev: Option<u64>,
    b: &mut Builder,
) {
    for row in rows {
        if alive(row.owner_pid, row.owner_start_time) {
            continue;
        }
        let owner = match &row.account {
            Some(a) => format!("pid {} ({a})", row.owner_pid),
            None => format!("pid {}", row.owner_pid),
        };
        let target = path_target(&row.path);
        if !scope.may_touch(&row.path) {
            b.push(
                SweepKind::TempDeadOwner,
                target,
                format!(
                    "owner dead ({owner}), but the path is outside the data dir: never touched"
                ),
                None,
                SweepAction::Leave,
                None,
                row.account.clone(),
            );
            continue;
        }
        if let Err(e) = fence.anchor.parent_and_name(&row.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            b.push(
                SweepKind::TempDeadOwner,
                target,
                format!("owner dead ({owner}), but {e}: never touched"),
                None,
                SweepAction::Leave,
                None,
                row.account.clone(),
            );
            continue;
        }
        if tree::lstat(&row.path).is_err() {
            b.push(
                SweepKind::TempDeadOwner,
                target,
                format!("owner dead ({owner}); the path is already gone, only its row is left"),
                Some(0),
                SweepAction::Delete,
                None,
                row.account.clone(),
            );
            continue;
        }
        let measured =
            tree::measure_in_use(fence.anchor, &row.path, root_dev, Some(fence.in_use()));
        let size = measured.as_ref().ok().map(|(m, _)| m.bytes);
        if let Ok((_, Some(pid))) = measured {
            b.push(
                SweepKind::TempDeadOwner,
                target,
                format!("owner dead ({owner}), but {}", kept_text(pid)),
                size,
                SweepAction::Leave,
                Some(pid),
                row.account.clone(),
            );
            continue;
        }
        if lock::flock_held(&row.path) {
            let holder = first_holder(&row.path);
            b.push(
                SweepKind::TempDeadOwner,
                target,
                format!(
                    "owner dead ({owner}), but still locked by {}",
                    holder.map_or("another process".to_owned(), |p| format!("pid {p}"))
                ),
                size,
                SweepAction::Leave,
                holder,
                row.account.clone(),
            );
            continue;
        }
        b.push(
            SweepKind::TempDeadOwner,
            target,
            format!("owner dead ({owner})"),
            size,
            SweepAction::Delete,
            None,
            row.account.clone(),
        );
    }
}

fn scan_untracked(
    scope: &SweepScope,
    fence: &Fence<'_>,
    rows: &[TempRow],
    root_dev: Option<u64>,
    now: i64,
    b: &mut Builder,
) {
    if !scope.temp_root_inside() {
        b.notes.push(format!(
            "temp root {} is outside the data dir: untracked paths there are not swept",
            scope.temp_root.display()
        ));
        return;
    }
    let Some(root_dev) = root_dev else { return };
    let listed = match fence.anchor.list(&scope.temp_root) {
        Ok(listed) => listed,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            b.notes.push(format!(
                "cannot read the temp root {}: {e}",
                scope.temp_root.display()
            ));
            return;
        }
    };
    let paths: Vec<PathBuf> = listed
        .into_iter()
        .filter(|path| !tracked(rows, path))
        .collect();
    // Measuring is most of a scan (a stat per file): the entries are
    // independent trees, judged on several threads, listed in read order.
    let judged = par_map(&paths, SWEEP_THREADS, |path| {
        judge_untracked(scope, fence, path, root_dev, now)
    });
    for (path, judged) in paths.iter().zip(judged) {
        if let Some(j) = judged {
            b.push(
                SweepKind::TempUntracked,
                path_target(path),
                j.reason,
                j.size,
                j.action,
                j.holder,
                None,
            );
        }
    }
}

/// What the plan says about one untracked entry.
struct Judged {
    reason: String,
    size: Option<u64>,
    action: SweepAction,
    holder: Option<i32>,
}

/// An untracked top-level entry: left alone on another filesystem, not
/// listed while younger than `max_age` (its newest mtime, anywhere inside),
/// left alone while locked, else deleted.
fn judge_untracked(
    scope: &SweepScope,
    fence: &Fence<'_>,
    path: &Path,
    root_dev: u64,
    now: i64,
) -> Option<Judged> {
    let st = tree::lstat(path).ok()?;
    if tree::is_dir(&st) && st.st_dev != root_dev {
        return Some(Judged {
            reason: "on another filesystem (a mount point): never touched".to_owned(),
            size: None,
            action: SweepAction::Leave,
            holder: None,
        });
    }
    let (m, in_use_by) =
        tree::measure_in_use(fence.anchor, path, Some(root_dev), Some(fence.in_use())).ok()?;
    let age = now.saturating_sub(m.newest_ms);
    if age < crate::time::ms(scope.max_age) {
        return None;
    }
    let what = if tree::is_symlink(&st) {
        "untracked symlink (the link is removed, never its target)"
    } else {
        "untracked"
    };
    let reason = format!(
        "{what}, last modified {} ago (max_age {})",
        age_text(age),
        human(scope.max_age)
    );
    if let Some(pid) = in_use_by {
        return Some(Judged {
            reason: format!("{reason}, but {}", kept_text(pid)),
            size: Some(m.bytes),
            action: SweepAction::Leave,
            holder: Some(pid),
        });
    }
    if !tree::is_symlink(&st) && lock::flock_held(path) {
        let holder = first_holder(path);
        return Some(Judged {
            reason: format!(
                "{reason}, but locked by {}",
                holder.map_or("another process".to_owned(), |p| format!("pid {p}"))
            ),
            size: Some(m.bytes),
            action: SweepAction::Leave,
            holder,
        });
    }
    Some(Judged {
        reason,
        size: Some(m.bytes),
        action: SweepAction::Delete,
        holder: None,
    })
}

/// The account a session file or one of its SQLite companions belongs to
/// (`<id>.session`, `<id>.session-journal`, ...), if it is one.
pub(super) fn session_account(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let name = crate::paths::SESSION_COMPANIONS
        .iter()
        .find_map(|sfx| name.strip_suffix(sfx))
        .unwrap_or(name);
    let id = name.strip_suffix(".session")?;
    (!id.is_empty()).then(|| id.to_owned())
}

/// Whether an account's session is in use: `Some(holder)` when a live
/// process holds its lock (`ID.lock`) or has the session file or a
/// companion open (`holder` is that pid). The lock file of an account that
/// is gone is left where it is, even unheld: deleting a lock file lets two
/// processes lock two inodes (a steward re-adding the account could be
/// between opening and locking it), and an empty file costs an inode only.
pub(super) fn session_in_use(path: &Path) -> Option<Option<i32>> {
    let account = session_account(path)?;
    let session = path.with_file_name(format!("{account}.session"));
    lock::session_users(&session).first().copied().map(Some)
}

fn scan_sessions(
    scope: &SweepScope,
    anchor: &Beneath,
    accounts: &HashSet<String>,
    b: &mut Builder,
) {
    let Some(listed) = list_or_note(anchor, &scope.data_dir.sessions_dir(), b) else {
        return;
    };
    let present: HashSet<&PathBuf> = listed.iter().collect();
    for path in &listed {
        let Some(account) = session_account(path) else {
            continue;
        };
        if accounts.contains(&account) {
            continue;
        }
        let session = scope.data_dir.session_file(&account);
        let companions = crate::paths::session_companions(&session);
        let is_companion = companions.contains(path);
        // A companion goes with its database, which is listed itself.
        if is_companion && present.contains(&session) {
            continue;
        }
        let size_of = |p: &Path| {
            tree::lstat(p)
                .ok()
                .map(|st| u64::try_from(st.st_size).unwrap_or(0))
        };
        let mut size = size_of(path);
        let mut with = Vec::new();
        if !is_companion {
            for c in companions.iter().filter(|c| present.contains(c)) {
                size = Some(size.unwrap_or(0) + size_of(c).unwrap_or(0));
                with.extend(c.file_name().map(|n| n.to_string_lossy().into_owned()));
            }
        }
        let mut reason = if is_companion {
            format!("no account {account:?} (an SQLite companion left without its session file)")
        } else {
            format!("no account {account:?}")
        };
        if !with.is_empty() {
            reason.push_str(&format!(" (with {})", with.join(", ")));
        }
        match session_in_use(path) {
            Some(holder) => {
                let who = holder.map_or("another process".to_owned(), |p| format!("pid {p}"));
                b.push(
                    SweepKind::SessionNoAccount,
                    path_target(path),
                    format!("{reason}, but in use by {who}"),
                    size,
                    SweepAction::Leave,
                    holder,
                    Some(account),
                );
            }
            None => b.push(
                SweepKind::SessionNoAccount,
                path_target(path),
                reason,
                size,
                SweepAction::Trash,
                None,
                Some(account),
            ),
        }
    }
}

/// Candidate pid/lock files: `*.pid` / `*.lock` directly in the data dir
/// and in its `aria2/` dir, except steward's own mutexes.
pub(super) fn lock_file_candidates(scope: &SweepScope) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [
        scope.data_dir.root().to_path_buf(),
        scope.data_dir.aria2_dir(),
    ] {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if OWN_LOCK_FILES.contains(&name) && dir == scope.data_dir.root() {
                continue;
            }
            if name.ends_with(".pid") || name.ends_with(".lock") {
                out.push(path);
            }
        }
    }
    out
}

/// Why a pid/lock file is stale, or `None` if it may be in use.
pub(super) fn stale_lock_reason(path: &Path, now: i64) -> Option<String> {
    let st = tree::lstat(path).ok()?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return None;
    }
    if now.saturating_sub(tree::mtime_ms(&st)) < crate::time::ms(LOCK_FILE_MIN_AGE) {
        return None;
    }
    if lock::flock_held(path) {
        return None;
    }
    match pid_in(path) {
        Some(pid) if proc::read_stat(pid).is_ok_and(|s| !s.is_zombie()) => None,
        Some(pid) => Some(format!("nobody holds it and pid {pid} in it is gone")),
        None => Some("nobody holds it".to_owned()),
    }
}

fn scan_lock_files(scope: &SweepScope, now: i64, b: &mut Builder) {
    for path in lock_file_candidates(scope) {
        if let Some(reason) = stale_lock_reason(&path, now) {
            let size = tree::lstat(&path)
                .ok()
                .map(|st| u64::try_from(st.st_size).unwrap_or(0));
            b.push(
                SweepKind::StaleLockFile,
                path_target(&path),
                reason,
                size,
                SweepAction::Delete,
                None,
                None,
            );
        }
    }
}

/// The entries of `dir` reached beneath the data dir; a missing dir lists
/// nothing, one that cannot be read (a symlink, say) leaves a note.
fn list_or_note(anchor: &Beneath, dir: &Path, b: &mut Builder) -> Option<Vec<PathBuf>> {
    match anchor.list(dir) {
        Ok(listed) => Some(listed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            b.notes.push(format!("cannot read {}: {e}", dir.display()));
            None
        }
    }
}

fn scan_trash(scope: &SweepScope, fence: &Fence<'_>, now: i64, b: &mut Builder) {
    let Some(listed) = list_or_note(fence.anchor, &scope.data_dir.trash_dir(), b) else {
        return;
    };
    let keep = crate::time::ms(scope.trash_keep);
    for path in listed {
        let Some(at) = trashed_at(&path) else {
            continue;
        };
        let age = now.saturating_sub(at);
        if age <= keep {
            continue;
        }
        let measured = tree::measure_in_use(fence.anchor, &path, None, Some(fence.in_use()));
        let size = measured.as_ref().ok().map(|(m, _)| m.bytes);
        let reason = format!(
            "in trash for {} (keep {})",
            age_text(age),
            human(scope.trash_keep)
        );
        match measured.ok().and_then(|(_, holder)| holder) {
            Some(pid) => b.push(
                SweepKind::TrashExpired,
                path_target(&path),
                format!("{reason}, but {}", kept_text(pid)),
                size,
                SweepAction::Leave,
                Some(pid),
                None,
            ),
            None => b.push(
                SweepKind::TrashExpired,
                path_target(&path),
                reason,
                size,
                SweepAction::Delete,
                None,
                None,
            ),
        }
    }
}

/// Leftover aria2c processes of this data dir: an `aria2c` whose command line
/// names `<data-dir>/aria2` and that the running instance (the holder of the
/// instance lock) did not start (its `--stop-with-process=` is not that pid,
/// nor is its parent). With no instance running, every such aria2c is a
/// leftover.
///
/// Hook for the aria2 subsystem: once it records the identity of the aria2c
/// it starts (pid + start time, e.g. in the store's meta table), this is the
/// place to also recognise that exact process as live and everything else as
/// leftover. Items are `SweepKind::LeftoverAria2` / `SweepAction::Stop`.
pub fn aria2_leftovers(scope: &SweepScope) -> Vec<SweepItem> {
    let aria2_dir = scope.data_dir.aria2_dir();
    let aria2_dir = aria2_dir.to_string_lossy();
    let instance = match InstanceLock::holder(&scope.data_dir) {
        Ok(LockState::HeldBy(pid)) => pid,
        _ => None,
    };
    let mut out = Vec::new();
    for st in proc::find_by_comm("aria2c") {
        if st.is_zombie() {
            continue;
        }
        let Some(args) = proc::cmdline(st.pid) else {
            continue;
        };
        if !args.iter().any(|a| a.contains(aria2_dir.as_ref())) {
            continue;
        }
        let watched: Option<i32> = args.iter().find_map(|a| {
            a.strip_prefix("--stop-with-process=")
                .and_then(|v| v.parse().ok())
        });
        if let Some(live) = instance
            && (watched == Some(live) || st.ppid == live)
        {
            continue;
        }
        let reason = match (instance, watched) {
            (None, _) => "aria2c of this data dir with no steward running".to_owned(),
            (Some(live), Some(w)) => {
                format!("aria2c of this data dir watching pid {w}, not the running steward {live}")
            }
            (Some(live), None) => {
                format!("aria2c of this data dir not started by the running steward {live}")
            }
        };
        out.push(SweepItem {
            id: 0,
            kind: SweepKind::LeftoverAria2,
            target: SweepTarget::Process {
                pid: st.pid,
                start_time: st.start_time,
                pgid: st.pgrp,
            },
            reason,
            size: None,
            action: SweepAction::Stop,
            holder_pid: None,
            account: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trash_names_and_session_names() {
        assert_eq!(
            trashed_at(Path::new("/t/alice.session.1700000000000")),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            trashed_at(Path::new("/t/alice.session.1700000000000.2")),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            session_account(Path::new("/s/bob.session")).as_deref(),
            Some("bob")
        );
        assert_eq!(session_account(Path::new("/s/.session")), None);
        assert_eq!(
            session_account(Path::new("/s/bob.session-journal")).as_deref(),
            Some("bob")
        );
        assert_eq!(session_account(Path::new("/s/bob.lock")), None);
        assert_eq!(session_account(Path::new("/s/bob.txt")), None);
    }
}
