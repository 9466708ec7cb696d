//! Workers left running by a steward that died (kill -9, OOM, power cut of
//! the terminal): found from the identities recorded in the store, or, for a
//! worker forked just before the crash and never recorded, through the
//! session lock (`sessions/ID.lock`) it holds, or, for descendants that left
//! their worker's process group, through the environment they inherited; all
//! stopped before any new worker starts, so an account never has two workers.

use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{info, warn};

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;

use crate::paths::DataDir;
use crate::proc::{self, Group, KILL_GRACE, ProcId, SignalError, Target, Termination};
use crate::store::{SharedStore, WorkerRow};

/// How one leftover group ended.
enum Outcome {
    /// Gone before it was signalled, or its pid is someone else's now.
    Untouched,
    /// Stopped: the line for the operator.
    Stopped(String),
    /// Still there after SIGKILL and `proc::KILL_GRACE`, or a signal refused:
    /// the line for the operator. Its record is kept for the next start.
    Stuck(String),
}

/// Stops every recorded worker group that is still alive: TERM, up to
/// `timeout`, then KILL. Returns one line per leftover found.
pub async fn stop_leftovers(store: &SharedStore, timeout: Duration) -> Vec<String> {
    let rows = {
        let store = store.lock().unwrap_or_else(|p| p.into_inner());
        store.workers().unwrap_or_else(|e| {
            warn!(error = %e, "cannot read recorded workers");
            Vec::new()
        })
    };
    let me = ProcId::current();
    let rows = rows
        .into_iter()
        .filter(|row| row.owner_pid != me.pid || row.owner_start_time != me.start_time)
        .collect();
    stop_groups(store, rows, timeout, Origin::Recorded).await
}

/// Stops workers a steward forked but died before recording (the window
/// between `fork` and its write to the store): each still holds its
/// account's session lock, so the account could never start again while it
/// lives. Found only among the live holders of an account's lock file of
/// this data dir that were exec'd with `STEWARD_SESSION_FILE` naming the
/// account's session file: no other process can hold that lock, which only
/// steward hands out, and the
/// instance lock says no live steward uses this data dir. Call it after
/// `stop_leftovers`. Returns one line per worker stopped.
pub async fn stop_unrecorded(
    store: &SharedStore,
    data_dir: &DataDir,
    timeout: Duration,
) -> Vec<String> {
    let accounts = {
        let store = store.lock().unwrap_or_else(|p| p.into_inner());
        store.accounts().unwrap_or_else(|e| {
            warn!(error = %e, "cannot read accounts");
            Vec::new()
        })
    };
    let files: Vec<_> = accounts
        .iter()
        .map(|a| {
            let lock = data_dir.session_lock_file(&a.id);
            (a.id.clone(), data_dir.session_file(&a.id), lock)
        })
        .collect();
    let locks: Vec<_> = files.iter().map(|(_, _, l)| l.clone()).collect();
    let mut held = proc::flock_holders_of(&locks);
    let mut groups = HashSet::new();
    let mut rows = Vec::new();
    for (account, path, lock) in files {
        for pid in held.remove(&lock).unwrap_or_default() {
            let names_it = |pid| {
                proc::environ_var(pid, "STEWARD_SESSION_FILE").as_deref()
                    == Some(path.as_os_str().as_bytes())
            };
            let Ok(stat) = proc::read_stat(pid) else {
                continue;
            };
            // The worker leads its group (spawned with process_group(0)) and
            // was exec'd naming the file; descendants holding it go with it.
            let Ok(leader) = ProcId::of(stat.pgrp) else {
                continue;
            };
            if !names_it(pid) || !names_it(leader.pid) || !groups.insert(stat.pgrp) {
                continue;
            }
            rows.push(WorkerRow {
                account: account.clone(),
                pid: leader.pid,
                start_time: leader.start_time,
                pgid: stat.pgrp,
                owner_pid: 0,
                owner_start_time: 0,
                started_ms: 0,
            });
        }
    }
    stop_groups(store, rows, timeout, Origin::Unrecorded).await
}

/// Stops processes left by a steward that died which carry a worker's
/// environment (`STEWARD_ACCOUNT`, a `STEWARD_SESSION_FILE` of this data dir)
/// but are in no recorded group: descendants that left their worker's group
/// (`setsid`, a double fork), which neither the records nor the session
/// lock find. Call it after `stop_leftovers` and `stop_unrecorded`, before
/// any worker of this run starts. Returns one line per process stopped.
pub async fn stop_escaped(
    store: &SharedStore,
    data_dir: &DataDir,
    timeout: Duration,
) -> Vec<String> {
    let sessions = data_dir.sessions_dir();
    let found = match tokio::task::spawn_blocking(move || {
        crate::accounts::escaped::leftovers_under(&sessions)
    })
    .await
    {
        Ok(found) => found,
        Err(_) => return Vec::new(),
    };
    let mut stops = JoinSet::new();
    for (account, st) in found {
        stops.spawn(async move {
            let target = Target::of(&st);
            let what = format!(
                "leftover process of {account} (pid {}, {}) that left its worker's process group, from a steward that died",
                st.pid, st.comm
            );
            let ended = match Termination::begin(target, timeout, KILL_GRACE) {
                Ok(stop) => stop.finish().await,
                Err(SignalError::Gone | SignalError::NotSameProcess { .. }) => return None,
                Err(e) => proc::Ended::Refused(e),
            };
            let (text, result) = match ended {
                proc::Ended::Exited => (format!("stopped {what} (SIGTERM)"), "stopped"),
                proc::Ended::Killed => (format!("stopped {what} (SIGKILL after timeout)"), "stopped"),
                stuck => (format!("{what}: {stuck}"), "stuck"),
            };
            Some((account, text, result))
        });
    }
    let mut findings = Vec::new();
    while let Some(done) = stops.join_next().await {
        let Ok(Some((account, text, result))) = done else {
            continue;
        };
        if result == "stopped" {
            info!(account = %account, "{text}");
        } else {
            warn!(account = %account, "{text}");
        }
        let store = store.lock().unwrap_or_else(|p| p.into_inner());
        let _ = store.record_event("worker.leftover", &account, &text, result);
        findings.push(text);
    }
    findings
}

/// Where the leftover rows come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The store's worker records: each is cleared once its group is done.
    Recorded,
    /// Found through a session lock: there is no record to clear.
    Unrecorded,
}

/// Stops every row's group at once (each waits for its own), recording a
/// `worker.leftover` event for each group stopped. Returns their lines.
async fn stop_groups(
    store: &SharedStore,
    rows: Vec<WorkerRow>,
    timeout: Duration,
    origin: Origin,
) -> Vec<String> {
    let mut stops = JoinSet::new();
    for row in rows {
        stops.spawn(stop_one(row, timeout));
    }
    let mut findings = Vec::new();
    while let Some(done) = stops.join_next().await {
        let Ok((row, outcome)) = done else { continue };
        let (finding, stuck) = match outcome {
            Outcome::Untouched => (None, false),
            Outcome::Stopped(text) => (Some(text), false),
            Outcome::Stuck(text) => (Some(text), true),
        };
        let finding = finding.map(|text| match origin {
            Origin::Recorded => text,
            Origin::Unrecorded => format!("{text} (it was never recorded)"),
        });
        {
            let store = store.lock().unwrap_or_else(|p| p.into_inner());
            // A stuck group keeps its record: the next start looks again.
            if origin == Origin::Recorded
                && !stuck
                && let Err(e) = store.clear_worker(&row.account)
            {
                warn!(account = %row.account, error = %e, "cannot clear leftover record");
            }
            if let Some(text) = &finding {
                let result = if stuck { "stuck" } else { "stopped" };
                let _ = store.record_event("worker.leftover", &row.account, text, result);
            }
        }
        findings.extend(finding);
    }
    findings
}

async fn stop_one(row: WorkerRow, timeout: Duration) -> (WorkerRow, Outcome) {
    let group = Group {
        pgid: row.pgid,
        leader: ProcId {
            pid: row.pid,
            start_time: row.start_time,
        },
    };
    let stop = match Termination::begin(Target::Group(group), timeout, KILL_GRACE) {
        Ok(stop) => stop,
        Err(SignalError::Gone) => return (row, Outcome::Untouched),
        Err(SignalError::NotSameProcess { .. }) => {
            info!(account = %row.account, pid = row.pid, "recorded worker pid now belongs to another process: left alone");
            return (row, Outcome::Untouched);
        }
        Err(e) => {
            warn!(account = %row.account, pid = row.pid, error = %e, "cannot signal leftover worker");
            return (row, Outcome::Untouched);
        }
    };
    let what = format!(
        "leftover worker of {} (pid {}, group {}) from a steward that died",
        row.account, row.pid, row.pgid
    );
    let how = match stop.finish().await {
        proc::Ended::Exited => "SIGTERM",
        proc::Ended::Killed => "SIGKILL after timeout",
        stuck => {
            let text = format!("{what}: {stuck}");
            warn!(account = %row.account, pid = row.pid, "{text}");
            return (row, Outcome::Stuck(text));
        }
    };
    let text = format!("stopped {what} ({how})");
    info!(account = %row.account, pid = row.pid, "{text}");
    (row, Outcome::Stopped(text))
}
