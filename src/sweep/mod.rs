//! The orphan sweep: [`scan`] builds a [`SweepPlan`] of everything left
//! behind (temp entries of dead owners, old untracked temp paths, session
//! files with no account, workers and aria2c of a steward that is gone,
//! stale pid/lock files, expired trash); [`apply`] acts on it, re-checking
//! every item just before acting, and reports `done` / `skipped (reason)` /
//! `failed (error)` per item. Every applied item is written to the store's
//! `events` table and logged. Untracked temp trees are measured, and runs of
//! independent removals applied, on a few threads; results keep plan order.
//!
//! # Safety rules, checked at apply time
//!
//! - nothing outside the data dir is touched: every path is checked by its
//!   text ([`SweepScope::may_touch`]) and then reached from a descriptor on
//!   the data dir with no symlink followed on the way
//!   ([`Beneath`](crate::fs::Beneath)), in the scan and again at apply;
//! - symlinks are never followed: a symlink in the swept place is removed as
//!   the link itself, and a path that leads through one is left alone;
//! - filesystems are never crossed (`st_dev` of every directory);
//! - a path whose flock is held is never removed, and the plan names the
//!   holder; session files are also checked through `/proc/*/fd`, and are
//!   moved to trash, never deleted;
//! - processes are signalled only after their identity (pid + start time) is
//!   re-checked (`proc::signal` / `proc::signal_group`).
//!
//! # One sweeper at a time, with or without a running instance
//!
//! Sweeps take `<data-dir>/sweep.lock` ([`SweepLock`], a non-blocking flock):
//! a second sweeper refuses naming the holder's pid. The CLI's `steward
//! sweep` runs scan and apply itself even while a manager runs: everything a
//! live instance holds is protected by identity and locks, not by who sweeps
//! (its own temp entries belong to a live `ProcId`, its workers' dirs are
//! flock-held and owned by live workers, its workers are recorded with a live
//! owner, its aria2c names it in `--stop-with-process`).

mod apply;
mod parallel;
mod scan;
mod scope;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use apply::apply;
pub use scan::{aria2_leftovers, new_plan_id, scan};
pub use scope::SweepScope;

use crate::lock::{SweepLock, SweepLockError};
use crate::model::{SweepAction, SweepItem, SweepItemResult, SweepKind, SweepOutcome, SweepPlan};
use crate::store::SharedStore;

/// A plan and, unless it was a dry run, what applying it did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepReport {
    pub dry_run: bool,
    pub plan: SweepPlan,
    pub results: Vec<SweepItemResult>,
}

impl SweepReport {
    pub fn count(&self, f: impl Fn(&SweepOutcome) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.outcome)).count()
    }
    pub fn freed(&self) -> u64 {
        self.results.iter().map(|r| r.freed).sum()
    }
}

/// Scans (and unless `dry_run` applies) every kind, under the sweep lock.
pub fn run(
    scope: &SweepScope,
    store: &SharedStore,
    dry_run: bool,
    cancel: &CancellationToken,
) -> Result<SweepReport, SweepLockError> {
    // A dry run changes nothing, so it needs no lock, and must not create one.
    let _lock = match dry_run {
        true => None,
        false => Some(SweepLock::try_acquire(&scope.data_dir)?),
    };
    let mut plan = scan(scope, store, &SweepKind::ALL);
    let results = if dry_run {
        Vec::new()
    } else {
        let mut results = apply(scope, store, &plan, cancel);
        sweep_after_stops(scope, store, &mut plan, &mut results, cancel);
        results
    };
    Ok(SweepReport {
        dry_run,
        plan,
        results,
    })
}

/// Finishes a sweep that stopped leftover workers: their temp entries were
/// not in the plan (it was made while they lived), so the dead owners' temp
/// is scanned again and applied, and the new items and their results are
/// appended to `plan` and `results` (ids continue the plan's). Without this
/// a second sweep was needed to free what the first one's stops left.
/// Call it with the sweep lock held, after `apply` of `plan`.
pub fn sweep_after_stops(
    scope: &SweepScope,
    store: &SharedStore,
    plan: &mut SweepPlan,
    results: &mut Vec<SweepItemResult>,
    cancel: &CancellationToken,
) {
    let stopped = results.iter().any(|r| {
        r.kind == SweepKind::LeftoverWorker && matches!(r.outcome, SweepOutcome::Done { .. })
    });
    if !stopped || cancel.is_cancelled() {
        return;
    }
    let again = scan(scope, store, &[SweepKind::TempDeadOwner]);
    // Only what is new, or was left alone then (held by a worker just
    // stopped) and can be acted on now: nothing is applied twice.
    let fresh: Vec<SweepItem> = again
        .items
        .into_iter()
        .filter(
            |item| match plan.items.iter().find(|old| old.target == item.target) {
                None => true,
                Some(old) => old.action == SweepAction::Leave && item.action != SweepAction::Leave,
            },
        )
        .enumerate()
        .map(|(id, item)| SweepItem { id, ..item })
        .collect();
    if fresh.is_empty() {
        return;
    }
    let extra = SweepPlan {
        id: plan.id,
        created_ms: again.created_ms,
        total_bytes: fresh
            .iter()
            .filter(|i| i.action == SweepAction::Delete)
            .filter_map(|i| i.size)
            .sum(),
        items: fresh,
        notes: again.notes,
    };
    let done = apply(scope, store, &extra, cancel);
    info!(
        found = extra.items.len(),
        "sweep: temp of the leftover workers it stopped, scanned again and applied"
    );
    let offset = plan.items.len();
    plan.total_bytes += extra.total_bytes;
    plan.notes.extend(extra.notes);
    plan.items
        .extend(extra.items.into_iter().map(|item| SweepItem {
            id: item.id + offset,
            ..item
        }));
    results.extend(done.into_iter().map(|r| SweepItemResult {
        item: r.item + offset,
        ..r
    }));
}

/// What the automatic sweep of dead owners' temp entries did.
#[derive(Debug)]
pub enum DeadTempSweep {
    /// Another sweep held the sweep lock: nothing was looked at (try later).
    Busy,
    /// What became of each entry found (none found: empty).
    Applied(Vec<SweepItemResult>),
}

/// The automatic sweep at manager start: temp entries whose owner is dead
/// (the one kind that is always safe). Call it after leftover workers were
/// stopped, so their dirs are free.
pub fn sweep_dead_temp(scope: &SweepScope, store: &SharedStore) -> DeadTempSweep {
    let _lock = match SweepLock::try_acquire(&scope.data_dir) {
        Ok(lock) => lock,
        Err(e) => {
            warn!(error = %e, "automatic temp sweep skipped for now");
            return DeadTempSweep::Busy;
        }
    };
    let plan = scan(scope, store, &[SweepKind::TempDeadOwner]);
    if plan.items.is_empty() {
        return DeadTempSweep::Applied(Vec::new());
    }
    let results = apply(scope, store, &plan, &CancellationToken::new());
    let done = results
        .iter()
        .filter(|r| matches!(r.outcome, SweepOutcome::Done { .. }))
        .count();
    info!(
        found = plan.items.len(),
        removed = done,
        "automatic sweep of dead owners' temp entries"
    );
    DeadTempSweep::Applied(results)
}
