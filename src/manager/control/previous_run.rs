//! What a previous run of this data dir may have left, dealt with before
//! any new worker starts: its workers (stopped, so an account never has
//! two), then the temp entries of owners now dead; entries still held are
//! swept again in the background until none is left.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::accounts::leftovers;
use crate::manager::handle::ManagerOptions;
use crate::manager::publish::Publisher;
use crate::manager::sweeps::SweepTally;
use crate::manager::{adoption, migrate};
use crate::model::{NoticeLevel, SweepItemResult, SweepOutcome};
use crate::store::SharedStore;
use crate::sweep::{self, DeadTempSweep, SweepScope};

/// What a previous run may have left: its workers (stopped, so an account
/// never has two), then the temp entries of owners now dead (their dirs are
/// free once those workers are gone). Each finding becomes a notice.
/// Returns whether some of those entries are still held by a process and
/// were left in place, or could not be looked at (another sweep ran).
pub(super) async fn clean_up_after_previous_run(
    options: &ManagerOptions,
    store: &SharedStore,
    scope: &SweepScope,
    publisher: &mut Publisher,
    tally: &SweepTally,
) -> bool {
    let timeout = options.config.worker.stop_timeout;
    let mut findings = leftovers::stop_leftovers(store, timeout).await;
    findings.extend(leftovers::stop_unrecorded(store, &options.data_dir, timeout).await);
    findings.extend(leftovers::stop_escaped(store, &options.data_dir, timeout).await);
    findings.extend(adoption::end_previous_cgroups(store).await);
    // Once the old workers are gone and before any new one starts.
    findings.extend(migrate::trash_empty_session_files(&options.data_dir, store));
    for finding in findings {
        publisher.notice(NoticeLevel::Warn, finding);
    }
    let (scope, store) = (scope.clone(), store.clone());
    let swept =
        match tokio::task::spawn_blocking(move || sweep::sweep_dead_temp(&scope, &store)).await {
            Ok(DeadTempSweep::Applied(swept)) => swept,
            // Another sweep holds the lock (an operator's `steward sweep`): the
            // retry looks again shortly.
            Ok(DeadTempSweep::Busy) => return true,
            Err(_) => Vec::new(),
        };
    tally.add_run(&swept);
    let freed: u64 = swept
        .iter()
        .filter(|r| matches!(r.outcome, SweepOutcome::Done { .. }))
        .map(|r| r.freed)
        .sum();
    if !swept.is_empty() {
        publisher.notice(
            NoticeLevel::Info,
            format!(
                "start-up sweep: {} temp entries of dead owners removed ({})",
                swept.len(),
                crate::time::human_bytes(freed)
            ),
        );
    }
    any_left(&swept)
}

/// A sweep result that leaves the entry in place (held by a process, or
/// not removable this time).
fn any_left(results: &[SweepItemResult]) -> bool {
    results
        .iter()
        .any(|r| !matches!(r.outcome, SweepOutcome::Done { .. }))
}

/// Dead owners' temp entries the start-up sweep had to leave, typically
/// because a process still holds them (a worker the crashed steward forked
/// but died before recording keeps its TMPDIR locked until it exits), or
/// could not look at because another sweep held the lock. They are swept
/// again, 1 s after start then backing off to 4 s (a minute later to 60 s),
/// until none is left or the manager stops.
pub(super) fn spawn_dead_temp_retry(
    scope: SweepScope,
    store: SharedStore,
    stop: CancellationToken,
    tally: SweepTally,
) {
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_secs(1);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            let (scope, store) = (scope.clone(), store.clone());
            match tokio::task::spawn_blocking(move || sweep::sweep_dead_temp(&scope, &store)).await
            {
                // Another sweep holds the lock: look again after the delay.
                Ok(DeadTempSweep::Busy) => {}
                Ok(DeadTempSweep::Applied(swept)) => {
                    tally.add_run(&swept);
                    if !any_left(&swept) {
                        return;
                    }
                }
                Err(_) => return,
            }
            delay = if started.elapsed() < Duration::from_secs(60) {
                (delay * 2).min(Duration::from_secs(4))
            } else {
                Duration::from_secs(60)
            };
        }
    });
}
