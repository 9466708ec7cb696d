//! `apply`: acts on a sweep plan, re-checking every item just before acting
//! (the world may have changed since the scan), recording each outcome in
//! the events table and the log.

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::parallel::{SWEEP_THREADS, par_map};
use super::scan::{
    alive, aria2_leftovers, session_account, session_in_use, stale_lock_reason, tracked, trashed_at,
};
use super::scope::{Fence, SweepScope};
use crate::fs::Beneath;
use crate::fs::tree;
use crate::lock;
use crate::model::{
    SweepAction, SweepItem, SweepItemResult, SweepKind, SweepOutcome, SweepPlan, SweepTarget,
};
use crate::proc::{Ended, Group, KILL_GRACE, ProcId, SignalError, Target, Termination};
use crate::store::{SharedStore, Store};
use crate::time::now_ms;

fn lock_store(store: &SharedStore) -> std::sync::MutexGuard<'_, Store> {
    // A poisoned mutex means a panic elsewhere mid-statement; SQLite is fine.
    store.lock().unwrap_or_else(|p| p.into_inner())
}

fn done(detail: impl Into<String>) -> SweepOutcome {
    SweepOutcome::Done {
        detail: detail.into(),
    }
}
fn skipped(reason: impl Into<String>) -> SweepOutcome {
    SweepOutcome::Skipped {
        reason: reason.into(),
    }
}
fn failed(error: impl Into<String>) -> SweepOutcome {
    SweepOutcome::Failed {
        error: error.into(),
    }
}

fn held_text(holder: Option<i32>) -> String {
    match holder {
        Some(pid) => format!("in use by pid {pid}"),
        None => "in use by another process".to_owned(),
    }
}

/// Applies `plan`: items in plan order, each re-checked first; `Leave`
/// items are reported as skipped. A run of removals of paths that do not
/// nest is spread over `SWEEP_THREADS` (4) threads: the results keep plan
/// order, but events and log lines follow completion. Stops early
/// (remaining items skipped) when `cancel` fires. Blocking (file removal,
/// waits for stopped processes): run it on `spawn_blocking` from async
/// code. Take the [`SweepLock`](crate::lock::SweepLock) around it.
pub fn apply(
    scope: &SweepScope,
    store: &SharedStore,
    plan: &SweepPlan,
    cancel: &CancellationToken,
) -> Vec<SweepItemResult> {
    let items = &plan.items;
    // Every path is reached from the data dir's descriptor, never through a
    // symlink. Without it nothing is touched: each item fails with the reason.
    let anchor = Beneath::open_root(scope.data_dir.root()).map_err(|e| {
        format!(
            "cannot open the data dir {}: {e}",
            scope.data_dir.root().display()
        )
    });
    let fence = match &anchor {
        Ok(anchor) => Ok(Fence::new(anchor)),
        Err(e) => Err(e),
    };
    let fence = fence.as_ref().map_err(|e| *e);
    let mut results = Vec::with_capacity(items.len());
    let mut start = 0;
    while start < items.len() {
        // A run of removals of unrelated paths goes to several threads; every
        // other item (processes, session files) runs alone, in plan order.
        let end = start
            + items[start..]
                .iter()
                .take_while(|i| removes_a_path(i))
                .count();
        if end > start + 1 && !nested(&items[start..end]) {
            results.extend(par_map(&items[start..end], SWEEP_THREADS, |item| {
                apply_item(scope, fence, store, item, cancel)
            }));
            start = end;
        } else {
            results.push(apply_item(scope, fence, store, &items[start], cancel));
            start += 1;
        }
    }
    results
}

/// Applies (or skips) one item and records the outcome.
fn apply_item(
    scope: &SweepScope,
    fence: Result<&Fence<'_>, &String>,
    store: &SharedStore,
    item: &SweepItem,
    cancel: &CancellationToken,
) -> SweepItemResult {
    let (outcome, freed) = if cancel.is_cancelled() {
        (skipped("sweep cancelled"), 0)
    } else if item.action == SweepAction::Leave {
        (skipped(item.reason.clone()), 0)
    } else {
        match fence {
            Ok(fence) => apply_one(scope, fence, store, item, cancel),
            Err(e) => (failed(e.clone()), 0),
        }
    };
    record(store, item, &outcome);
    SweepItemResult {
        item: item.id,
        kind: item.kind,
        target: item.target.clone(),
        outcome,
        freed,
    }
}

/// Items whose whole effect is removing their own path: independent of each
/// other unless one path holds another.
fn removes_a_path(item: &SweepItem) -> bool {
    matches!(item.target, SweepTarget::Path { .. })
        && matches!(
            item.kind,
            SweepKind::TempDeadOwner
                | SweepKind::TempUntracked
                | SweepKind::StaleLockFile
                | SweepKind::TrashExpired
        )
}

/// Whether a path of `items` lies inside another's (registered entries may
/// nest): such a run is applied in order, one item at a time, so no two
/// threads ever walk the same tree.
fn nested(items: &[SweepItem]) -> bool {
    let mut paths: Vec<&Path> = items
        .iter()
        .filter_map(|i| match &i.target {
            SweepTarget::Path { path } => Some(path.as_path()),
            _ => None,
        })
        .collect();
    // Component-wise order puts a path's descendants right after it.
    paths.sort();
    paths.windows(2).any(|w| w[1].starts_with(w[0]))
}

fn record(store: &SharedStore, item: &SweepItem, outcome: &SweepOutcome) {
    let subject = item.target.to_string();
    let result = match outcome {
        SweepOutcome::Done { .. } => "ok".to_owned(),
        other => other.label(),
    };
    let detail = match outcome {
        SweepOutcome::Done { detail } => format!("{}; {detail}", item.reason),
        _ => item.reason.clone(),
    };
    match outcome {
        SweepOutcome::Done { .. } => {
            info!(kind = item.kind.event_kind(), target = %subject, %detail, "sweep: done")
        }
        SweepOutcome::Skipped { reason } => {
            info!(kind = item.kind.event_kind(), target = %subject, %reason, "sweep: skipped")
        }
        SweepOutcome::Failed { error } => {
            warn!(kind = item.kind.event_kind(), target = %subject, %error, "sweep: failed")
        }
    }
    if let Err(e) =
        lock_store(store).record_event(item.kind.event_kind(), &subject, &detail, &result)
    {
        warn!(error = %e, "sweep: cannot record event");
    }
}

fn apply_one(
    scope: &SweepScope,
    fence: &Fence<'_>,
    store: &SharedStore,
    item: &SweepItem,
    cancel: &CancellationToken,
) -> (SweepOutcome, u64) {
    match (&item.target, item.kind) {
        (SweepTarget::Path { path }, SweepKind::TempDeadOwner) => {
            temp_dead_owner(scope, fence, store, path, item.size)
        }
        (SweepTarget::Path { path }, SweepKind::TempUntracked) => {
            temp_untracked(scope, fence, store, path, item.size)
        }
        (SweepTarget::Path { path }, SweepKind::SessionNoAccount) => {
            (session(scope, store, path), 0)
        }
        (SweepTarget::Path { path }, SweepKind::StaleLockFile) => {
            if stale_lock_reason(path, now_ms()).is_none() {
                return (skipped("no longer stale"), 0);
            }
            remove(scope, fence, path, None, item.size, None)
        }
        (SweepTarget::Path { path }, SweepKind::TrashExpired) => {
            let expired = trashed_at(path)
                .is_some_and(|at| now_ms().saturating_sub(at) > crate::time::ms(scope.trash_keep));
            if !expired {
                return (skipped("gone or no longer expired"), 0);
            }
            let dev = tree::lstat(&scope.data_dir.trash_dir())
                .ok()
                .map(|s| s.st_dev);
            remove(scope, fence, path, dev, item.size, None)
        }
        (
            &SweepTarget::Process {
                pid,
                start_time,
                pgid,
            },
            SweepKind::LeftoverWorker,
        ) => (
            leftover_worker(scope, store, item, pid, start_time, pgid, cancel),
            0,
        ),
        (
            &SweepTarget::Process {
                pid,
                start_time,
                pgid,
            },
            SweepKind::LeftoverAria2,
        ) => {
            let still = aria2_leftovers(scope).iter().any(|i| {
                matches!(i.target, SweepTarget::Process { pid: p, start_time: s, .. } if p == pid && s == start_time)
            });
            if !still {
                return (skipped("gone, or now owned by the running instance"), 0);
            }
            (
                stop(ProcId { pid, start_time }, pgid, scope.stop_timeout, cancel),
                0,
            )
        }
        (target, kind) => (
            failed(format!("{} cannot apply to {target}", kind.label())),
            0,
        ),
    }
}

/// The last checks and the removal itself: inside the scope, not locked.
/// Files are unlinked without a `stat` ([`tree::Count::Entries`]), so the
/// bytes reported as freed are the plan's measure of the item (`plan_bytes`),
/// counted once the item is gone; a removal that fails partway frees 0.
/// `keep_newer_than_ms`: see [`tree::Removal`].
fn remove(
    scope: &SweepScope,
    fence: &Fence<'_>,
    path: &Path,
    dev: Option<u64>,
    plan_bytes: Option<u64>,
    keep_newer_than_ms: Option<i64>,
) -> (SweepOutcome, u64) {
    if !scope.may_touch(path) {
        return (failed("outside the data dir: refused"), 0);
    }
    if lock::flock_held(path) {
        return (
            skipped(held_text(lock::live_holders(path).first().copied())),
            0,
        );
    }
    let how = tree::Removal {
        dev,
        count: tree::Count::Entries,
        keep_newer_than_ms,
        keep_in_use: Some(fence.in_use()),
    };
    match tree::remove(fence.anchor, path, &how) {
        Ok(m) => {
            let bytes = plan_bytes.unwrap_or(0);
            (
                done(format!(
                    "removed {} files, {} dirs, {bytes} bytes (as measured by the plan)",
                    m.files, m.dirs
                )),
                bytes,
            )
        }
        Err(tree::RemoveError::Modified(_)) => (skipped("modified since the scan"), 0),
        Err(tree::RemoveError::Kept { pid, removed, .. }) => (
            skipped(format!(
                "kept: in use by pid {pid} (with the directories holding it; {} files, {} dirs around it removed)",
                removed.files, removed.dirs
            )),
            0,
        ),
        Err(e) => (failed(e.to_string()), 0),
    }
}

fn temp_dead_owner(
    scope: &SweepScope,
    fence: &Fence<'_>,
    store: &SharedStore,
    path: &Path,
    plan_bytes: Option<u64>,
) -> (SweepOutcome, u64) {
    let row = match lock_store(store).temp_entry(path) {
        Ok(Some(row)) => row,
        Ok(None) => return (skipped("no longer registered"), 0),
        Err(e) => return (failed(e.to_string()), 0),
    };
    if alive(row.owner_pid, row.owner_start_time) {
        return (skipped(format!("owner pid {} is alive", row.owner_pid)), 0);
    }
    let dev = tree::lstat(&scope.temp_root).ok().map(|s| s.st_dev);
    let (outcome, freed) = if tree::lstat(path).is_err() {
        (done("path already gone"), 0)
    } else {
        remove(scope, fence, path, dev, plan_bytes, None)
    };
    if let SweepOutcome::Done { .. } = outcome {
        // The path is gone: now the row.
        if let Err(e) = lock_store(store).delete_temp(path) {
            return (
                failed(format!("removed, but cannot unregister: {e}")),
                freed,
            );
        }
    }
    (outcome, freed)
}

/// Re-checks an untracked path: still unregistered, and still older than
/// `max_age` at the top level (its own mtime, before anything is removed)
/// and in every directory the removal enters (checked on the `stat` each
/// directory gets anyway; one written since the scan is left alone). Files
/// are not `stat`ed again: their mtimes were judged by the plan.
fn temp_untracked(
    scope: &SweepScope,
    fence: &Fence<'_>,
    store: &SharedStore,
    path: &Path,
    plan_bytes: Option<u64>,
) -> (SweepOutcome, u64) {
    let rows = match lock_store(store).temp_entries() {
        Ok(rows) => rows,
        Err(e) => return (failed(e.to_string()), 0),
    };
    if tracked(&rows, path) {
        return (skipped("registered since the scan"), 0);
    }
    let dev = tree::lstat(&scope.temp_root).ok().map(|s| s.st_dev);
    let Ok(st) = tree::lstat(path) else {
        return (skipped("already gone"), 0);
    };
    let keep_newer_than = now_ms().saturating_sub(crate::time::ms(scope.max_age));
    if tree::mtime_ms(&st) > keep_newer_than {
        return (skipped("modified since the scan"), 0);
    }
    remove(scope, fence, path, dev, plan_bytes, Some(keep_newer_than))
}

fn session(scope: &SweepScope, store: &SharedStore, path: &Path) -> SweepOutcome {
    let Some(account) = session_account(path) else {
        return failed("not a session file");
    };
    match lock_store(store).account(&account) {
        Ok(Some(_)) => return skipped(format!("account {account:?} exists again")),
        Ok(None) => {}
        Err(e) => return failed(e.to_string()),
    }
    if tree::lstat(path).is_err() {
        return skipped("already gone");
    }
    if let Some(holder) = session_in_use(path) {
        return skipped(held_text(holder));
    }
    if !scope.may_touch(path) {
        return failed("outside the data dir: refused");
    }
    match crate::trash::move_to_trash(&scope.data_dir, path) {
        Ok(Some(to)) => done(format!("moved to {}", to.display())),
        Ok(None) => skipped("already gone"),
        Err(e) => failed(e.to_string()),
    }
}

#[allow(clippy::too_many_arguments)]
fn leftover_worker(
    scope: &SweepScope,
    store: &SharedStore,
    item: &SweepItem,
    pid: i32,
    start_time: u64,
    pgid: i32,
    cancel: &CancellationToken,
) -> SweepOutcome {
    let Some(account) = &item.account else {
        return failed("no account recorded");
    };
    let row = match lock_store(store).workers() {
        Ok(rows) => rows.into_iter().find(|w| &w.account == account),
        Err(e) => return failed(e.to_string()),
    };
    let Some(row) = row.filter(|w| w.pid == pid && w.start_time == start_time) else {
        return skipped("the record changed since the scan");
    };
    if alive(row.owner_pid, row.owner_start_time) {
        return skipped(format!("its steward pid {} is running", row.owner_pid));
    }
    let outcome = stop(ProcId { pid, start_time }, pgid, scope.stop_timeout, cancel);
    if matches!(outcome, SweepOutcome::Done { .. })
        && let Err(e) = lock_store(store).clear_worker(account)
    {
        warn!(%account, error = %e, "sweep: cannot clear the worker record");
    }
    outcome
}

/// SIGTERM (to the group when `pgid == pid`), up to `timeout` (or until
/// the apply is cancelled), SIGKILL; each send re-checks identity.
fn stop(id: ProcId, pgid: i32, timeout: Duration, cancel: &CancellationToken) -> SweepOutcome {
    let target = if pgid == id.pid {
        Target::Group(Group::of_leader(id))
    } else {
        Target::Process(id)
    };
    let stop = match Termination::begin(target, timeout, KILL_GRACE) {
        Ok(stop) => stop,
        Err(SignalError::Gone) => return skipped("already gone"),
        Err(e @ SignalError::NotSameProcess { .. }) => return skipped(e.to_string()),
        Err(e) => return failed(e.to_string()),
    };
    match stop.finish_blocking(|| cancel.is_cancelled()) {
        Ended::Exited => done("stopped with SIGTERM"),
        Ended::Killed => done("stopped with SIGKILL after the timeout"),
        other => failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn item(id: usize, path: &str) -> SweepItem {
        SweepItem {
            id,
            kind: SweepKind::TempUntracked,
            target: SweepTarget::Path {
                path: PathBuf::from(path),
            },
            reason: String::new(),
            size: None,
            action: SweepAction::Delete,
            holder_pid: None,
            account: None,
        }
    }

    #[test]
    fn nesting_paths_are_found_whatever_their_order() {
        let flat = [
            item(0, "/d/tmp/a-x"),
            item(1, "/d/tmp/a"),
            item(2, "/d/tmp/b"),
        ];
        assert!(!nested(&flat));
        let inner = [
            item(0, "/d/tmp/a/inner/f"),
            item(1, "/d/tmp/a-x"),
            item(2, "/d/tmp/a"),
        ];
        assert!(nested(&inner));
        assert!(nested(&[item(0, "/d/tmp/a"), item(1, "/d/tmp/a")]));
    }
}
