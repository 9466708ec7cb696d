//! Descendants that leave a worker's process group: steward becomes a child
//! subreaper at start so they are re-parented to it, and one task reaps
//! them when they exit (never a child tokio waits for, see `proc::reaper`)
//! and keeps, by account, the list of those alive for the view. Where cgroup
//! v2 can be used, each worker also gets its own cgroup (`proc::cgroup`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::accounts::escaped;
use crate::proc;
use crate::store::SharedStore;

/// How often adopted children are looked at without a SIGCHLD (an orphan's
/// re-parenting sends none, nor does a grandchild's exit).
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// The registry of spawned children is pruned (a `/proc/PID/stat` read per
/// child) only after a SIGCHLD said one of them may be gone, and otherwise
/// this often, as a safety net: pruning every `LOOK_EVERY` read every
/// worker's stat once a second, the whole idle cost of a large fleet.
const PRUNE_ANYWAY: Duration = Duration::from_secs(60);

/// What the instance says about descendant containment.
pub const SUBREAPER_ONLY: &str = "subreaper only";
pub const CGROUP_PER_WORKER: &str = "cgroup v2 per worker";

/// The parent of the workers' cgroups, when cgroup v2 is in use.
static CGROUPS: OnceLock<Arc<proc::cgroup::CgroupRoot>> = OnceLock::new();

/// The adopted descendants alive, by account.
pub(super) type Escaped = Arc<Mutex<HashMap<String, Vec<i32>>>>;

/// Makes steward a child subreaper and, where cgroup v2 can be used, creates
/// the parent of its workers' cgroups; for `steward run` (headless or
/// dashboard) before its manager starts. Not done by `Manager::start`
/// itself: a process embedding a manager (the tests) may wait for children
/// of its own that the reaper would take.
pub fn adopt_orphans() {
    if let Err(e) = proc::become_subreaper() {
        warn!(error = %e, "cannot become a child subreaper: descendants that leave a worker's group may outlive its stop");
    }
    match proc::cgroup::CgroupRoot::create() {
        Ok(root) => {
            let stale = proc::cgroup::remove_stale_roots(&root);
            info!(cgroup = %root.path().display(), stale_removed = stale, "each worker runs in its own cgroup");
            let _ = CGROUPS.set(Arc::new(root));
        }
        Err(why) => {
            info!(%why, "cgroup v2 not used: escaped descendants are found as a subreaper only")
        }
    }
}

/// The parent of the workers' cgroups, when cgroup v2 is in use.
pub(super) fn cgroups() -> Option<Arc<proc::cgroup::CgroupRoot>> {
    CGROUPS.get().cloned()
}

/// Removes the (by now empty) cgroups at the manager's end.
pub(super) fn remove_cgroups() {
    if let Some(root) = CGROUPS.get() {
        root.remove();
    }
}

/// The isolation mode in force, for the instance view and `doctor`.
pub(super) fn isolation() -> &'static str {
    if CGROUPS.get().is_some() {
        CGROUP_PER_WORKER
    } else if proc::is_subreaper() {
        SUBREAPER_ONLY
    } else {
        ""
    }
}

/// Starts the reaper task (on SIGCHLD, and every `LOOK_EVERY`); `changed`
/// is notified when the escaped list changes.
pub(super) fn spawn_reaper(sessions_dir: PathBuf, changed: Arc<Notify>) -> Escaped {
    let escaped: Escaped = Arc::default();
    if !proc::is_subreaper() {
        return escaped;
    }
    let out = escaped.clone();
    tokio::spawn(async move {
        let mut chld = match signal(SignalKind::child()) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(error = %e, "no SIGCHLD stream: adopted orphans reaped every second");
                None
            }
        };
        // At most one pass a `LOOK_EVERY` also prunes the registry of
        // spawned children (a read per child), and only after a child
        // exited: not every SIGCHLD's, of which a fleet's stop sends
        // hundreds, and not an idle fleet's every second.
        let mut pruned: Option<tokio::time::Instant> = None;
        let mut exited = true;
        loop {
            let prune = match pruned {
                None => true,
                Some(at) if exited => at.elapsed() >= LOOK_EVERY,
                Some(at) => at.elapsed() >= PRUNE_ANYWAY,
            };
            if prune {
                pruned = Some(tokio::time::Instant::now());
                exited = false;
            }
            let reaped = proc::reap_adopted(prune);
            if reaped > 0 {
                debug!(reaped, "adopted orphans reaped");
            }
            let now = escaped::adopted_by_account(&sessions_dir);
            let differs = {
                let mut guard = out.lock().unwrap_or_else(|p| p.into_inner());
                let differs = *guard != now;
                *guard = now;
                differs
            };
            if differs {
                changed.notify_one();
            }
            match chld.as_mut() {
                Some(s) => {
                    if let Ok(Some(())) = tokio::time::timeout(LOOK_EVERY, s.recv()).await {
                        exited = true;
                    }
                }
                None => {
                    tokio::time::sleep(LOOK_EVERY).await;
                    exited = true;
                }
            }
        }
    });
    escaped
}

/// The meta key naming the cgroup the last steward of this data dir made.
const CGROUP_META: &str = "cgroup_root";

/// After the leftover stops of a start: whatever the previous steward of
/// this data dir left in its cgroup (a descendant that cleared its
/// environment, so nothing else finds it) gets `cgroup.kill`, and its
/// cgroups are removed; then this run's cgroup is recorded for the next
/// start. Returns one line per account cgroup that still had processes.
pub(super) async fn end_previous_cgroups(store: &SharedStore) -> Vec<String> {
    let previous = {
        let s = store.lock().unwrap_or_else(|p| p.into_inner());
        s.get_meta(CGROUP_META).ok().flatten()
    };
    let current = cgroups().map(|r| r.path().display().to_string());
    let mut lines = Vec::new();
    if let Some(previous) = previous.filter(|p| Some(p) != current.as_ref()) {
        lines = tokio::task::spawn_blocking(move || {
            proc::cgroup::end_stale_root(std::path::Path::new(&previous))
        })
        .await
        .unwrap_or_default();
    }
    let s = store.lock().unwrap_or_else(|p| p.into_inner());
    let recorded = match &current {
        Some(path) => s.set_meta(CGROUP_META, path),
        None => s.delete_meta(CGROUP_META).map(drop),
    };
    if let Err(e) = recorded {
        warn!(error = %e, "cannot record this run's cgroup");
    }
    lines
        .into_iter()
        .map(|(account, line)| {
            warn!(account = %account, "{line}");
            let _ = s.record_event("worker.leftover", &account, &line, "killed");
            line
        })
        .collect()
}
