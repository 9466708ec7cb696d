//! The run record: whether the previous run of this data dir ended with a
//! shutdown report (`clean` / `forced`) or without one (`crashed`), kept in
//! the store's meta table.

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::model::{LastShutdown, ShutdownView};
use crate::proc::ProcId;
use crate::store::Store;
use crate::time::now_ms;

/// Present while a manager runs; left behind only by a run that died.
const ACTIVE: &str = "run.active";
/// The last shutdown's report (JSON `Report`).
const LAST_REPORT: &str = "shutdown.last";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ActiveRun {
    pid: i32,
    start_time: u64,
    started_ms: i64,
}

/// What the store keeps of a shutdown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub outcome: LastShutdown,
    pub view: ShutdownView,
}

/// Marks this run active and returns how the previous one ended.
pub(super) fn begin(store: &Store, me: ProcId) -> Option<LastShutdown> {
    let previous = read_last_shutdown(store);
    let active = ActiveRun {
        pid: me.pid,
        start_time: me.start_time,
        started_ms: now_ms(),
    };
    // Serialising a struct of integers cannot fail.
    let text = serde_json::to_string(&active).unwrap_or_default();
    if let Err(e) = store.set_meta(ACTIVE, &text) {
        warn!(error = %e, "cannot record the run as active");
    }
    previous
}

/// Writes the report and clears the active mark: this run ended on purpose.
pub(super) fn finish(store: &Store, view: &ShutdownView) -> LastShutdown {
    let outcome = if view.forced {
        LastShutdown::Forced
    } else {
        LastShutdown::Clean
    };
    let report = Report {
        outcome,
        view: view.clone(),
    };
    match serde_json::to_string(&report) {
        Ok(text) => {
            if let Err(e) = store.set_meta(LAST_REPORT, &text) {
                warn!(error = %e, "cannot write the shutdown report");
            }
        }
        Err(e) => warn!(error = %e, "cannot encode the shutdown report"),
    }
    if let Err(e) = store.delete_meta(ACTIVE) {
        warn!(error = %e, "cannot clear the active-run mark");
    }
    outcome
}

/// How the last run that is not running now ended: `crashed` if it left its
/// active mark behind, else its report's outcome; `None` on a fresh data dir.
/// Only meaningful while no manager holds the data dir.
impl Report {
    /// From the plan's start to its last phase's end.
    pub fn took_ms(&self) -> Option<u64> {
        let finished = self.view.finished_ms?;
        u64::try_from(finished.saturating_sub(self.view.started_ms)).ok()
    }
}

pub fn read_last_shutdown(store: &Store) -> Option<LastShutdown> {
    if let Ok(Some(_)) = store.get_meta(ACTIVE) {
        return Some(LastShutdown::Crashed);
    }
    last_report(store).map(|r| r.outcome)
}

pub fn last_report(store: &Store) -> Option<Report> {
    let text = store.get_meta(LAST_REPORT).ok()??;
    serde_json::from_str(&text).ok()
}
