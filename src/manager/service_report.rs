//! What steward tells its service manager, decided from the snapshots it
//! publishes: `READY=1` once start-up is done, a `STATUS=` line kept current
//! at a low rate, `STOPPING=1` and a line per shutdown phase, and, from the
//! control loop's pulse only, `WATCHDOG=1` (with `EXTEND_TIMEOUT_USEC=`
//! while a shutdown phase is still within its own deadline). Decisions are
//! data (`Vec<String>` of `KEY=value` lines), so they are unit-tested
//! without a socket; `Notifier` sends them.

use std::time::Duration;

use tokio::time::Instant;

use crate::model::{Aria2State, PhaseState, Snapshot, WorkerState};
use crate::systemd::Notifier;
use crate::time::{human_bytes, now_ms};

/// The fewest seconds between two running-state `STATUS=` lines (shutdown
/// phases are reported at once).
const STATUS_GAP: Duration = Duration::from_secs(5);
/// Added to a phase's remaining deadline in `EXTEND_TIMEOUT_USEC`: the plan
/// ends a phase at its deadline, then needs a moment to move on.
const EXTEND_SLACK: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(super) struct ServiceReport {
    notifier: Notifier,
    ready: bool,
    stopping: bool,
    status: String,
    status_at: Option<Instant>,
}

impl ServiceReport {
    pub(super) fn new(notifier: Notifier) -> ServiceReport {
        ServiceReport {
            notifier,
            ..Default::default()
        }
    }

    /// The watchdog interval the service manager asked for.
    pub(super) fn watchdog(&self) -> Option<Duration> {
        self.notifier.watchdog
    }

    /// After each publish.
    pub(super) fn published(&mut self, snapshot: &Snapshot, now: Instant) {
        if !self.notifier.active() {
            return;
        }
        let lines = self.on_snapshot(snapshot, now);
        self.send(&lines);
    }

    /// From the control loop's pulse arm, never from elsewhere.
    pub(super) fn pulse(&mut self, snapshot: &Snapshot, now: Instant) {
        if !self.notifier.active() {
            return;
        }
        let mut lines = self.on_snapshot(snapshot, now);
        lines.extend(self.on_pulse(snapshot, now_ms()));
        self.send(&lines);
    }

    fn send(&self, lines: &[String]) {
        if !lines.is_empty() {
            self.notifier.send(&lines.join("\n"));
        }
    }

    fn on_snapshot(&mut self, snapshot: &Snapshot, now: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(shutdown) = &snapshot.shutdown {
            if !self.stopping {
                self.stopping = true;
                lines.push("STOPPING=1".to_string());
            }
            let status = shutdown_status(shutdown);
            if status != self.status {
                lines.push(format!("STATUS={status}"));
                self.status = status;
            }
            return lines;
        }
        if !self.ready && started(snapshot) {
            self.ready = true;
            lines.push("READY=1".to_string());
        }
        let status = running_status(snapshot);
        let gap_passed = self.status_at.is_none_or(|at| now >= at + STATUS_GAP);
        if status != self.status && (gap_passed || lines.len() == 1) {
            lines.push(format!("STATUS={status}"));
            self.status = status;
            self.status_at = Some(now);
        }
        lines
    }

    fn on_pulse(&self, snapshot: &Snapshot, now_ms: i64) -> Vec<String> {
        let mut lines = Vec::new();
        if self.notifier.watchdog.is_some() {
            lines.push("WATCHDOG=1".to_string());
        }
        if let Some(extend) = snapshot
            .shutdown
            .as_ref()
            .and_then(|s| extend_by(s, now_ms))
        {
            lines.push(format!("EXTEND_TIMEOUT_USEC={}", extend.as_micros()));
        }
        lines
    }
}

/// Start-up is done: every enabled account's worker was spawned (it is past
/// starting, whatever became of it) and aria2c is up or known degraded.
fn started(snapshot: &Snapshot) -> bool {
    let workers = snapshot
        .accounts
        .iter()
        .filter(|a| a.enabled)
        .all(|a| !matches!(a.worker.state, WorkerState::Starting | WorkerState::Stopped));
    let aria2 = snapshot
        .aria2
        .as_ref()
        .is_none_or(|a| !matches!(a.state, Aria2State::Starting | Aria2State::Stopped));
    workers && aria2
}

/// `200/200 accounts running · aria2 running · temp 1.2 GiB`.
fn running_status(snapshot: &Snapshot) -> String {
    let running = snapshot
        .accounts
        .iter()
        .filter(|a| a.worker.state == WorkerState::Running)
        .count();
    let aria2 = snapshot.aria2.as_ref().map_or("n/a".to_string(), |a| {
        // Without countdowns: the line must not change every second.
        match &a.state {
            Aria2State::Restarting { .. } => "restarting".to_string(),
            Aria2State::Stopping { .. } => "stopping".to_string(),
            Aria2State::NotInstalled { .. } => "not installed".to_string(),
            Aria2State::Failed { .. } => "failed".to_string(),
            other => other.label(0),
        }
    });
    let temp = snapshot
        .temp
        .as_ref()
        .map_or("n/a".to_string(), |t| human_bytes(t.bytes));
    format!(
        "{running}/{} accounts running · aria2 {aria2} · temp {temp}",
        snapshot.accounts.len()
    )
}

/// `stopping workers: 37 left`, or the outcome once the plan ended.
fn shutdown_status(shutdown: &crate::model::ShutdownView) -> String {
    if shutdown.is_finished() {
        return format!(
            "shut down{}",
            if shutdown.forced { " (forced)" } else { "" }
        );
    }
    match shutdown
        .phases
        .iter()
        .find(|p| p.state == PhaseState::Running)
    {
        Some(phase) if phase.pending.is_empty() => format!("shutting down: {}", phase.name),
        Some(phase) => format!("{}: {} left", phase.name, phase.pending.len()),
        None => "shutting down".to_string(),
    }
}

/// How long the running phase may still legitimately take (its own
/// deadline, plus slack); `None` once it is past it.
fn extend_by(shutdown: &crate::model::ShutdownView, now_ms: i64) -> Option<Duration> {
    let deadline = shutdown
        .phases
        .iter()
        .find(|p| p.state == PhaseState::Running)?
        .deadline_ms?;
    let left = deadline.checked_sub(now_ms).filter(|l| *l > 0)?;
    Some(Duration::from_millis(left as u64) + EXTEND_SLACK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountView, Aria2View, PendingItem, PhaseView, ShutdownView, WorkerView};

    fn fleet(states: &[WorkerState], aria2: Aria2State) -> Snapshot {
        Snapshot {
            accounts: states
                .iter()
                .enumerate()
                .map(|(i, state)| AccountView {
                    id: format!("a{i}"),
                    name: format!("a{i}"),
                    enabled: true,
                    secret_len: None,
                    worker: WorkerView {
                        state: state.clone(),
                        ..Default::default()
                    },
                })
                .collect(),
            aria2: Some(Aria2View {
                state: aria2,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ready_once_every_worker_is_spawned_and_aria2_settled() {
        let mut report = ServiceReport::default();
        let now = Instant::now();
        let starting = fleet(
            &[WorkerState::Running, WorkerState::Starting],
            Aria2State::Running,
        );
        assert!(
            !report
                .on_snapshot(&starting, now)
                .contains(&"READY=1".to_string())
        );
        let up = fleet(
            &[WorkerState::Running, WorkerState::Backoff { until_ms: 9 }],
            Aria2State::NotInstalled {
                binary: "aria2c".into(),
                hint: String::new(),
            },
        );
        let lines = report.on_snapshot(&up, now);
        assert_eq!(
            lines,
            vec![
                "READY=1".to_string(),
                "STATUS=1/2 accounts running · aria2 not installed · temp n/a".to_string()
            ]
        );
        assert!(
            report.on_snapshot(&up, now).is_empty(),
            "nothing new, nothing sent"
        );
    }

    #[test]
    fn status_lines_are_rate_limited_but_shutdown_lines_are_not() {
        let mut report = ServiceReport::default();
        let now = Instant::now();
        report.on_snapshot(&fleet(&[WorkerState::Running], Aria2State::Running), now);
        let changed = fleet(&[WorkerState::Starting], Aria2State::Running);
        assert!(
            report
                .on_snapshot(&changed, now + Duration::from_secs(1))
                .is_empty()
        );
        assert_eq!(report.on_snapshot(&changed, now + STATUS_GAP).len(), 1);

        let mut stopping = changed.clone();
        stopping.shutdown = Some(ShutdownView {
            phases: vec![PhaseView {
                name: "stop workers".into(),
                state: PhaseState::Running,
                started_ms: Some(0),
                ended_ms: None,
                deadline_ms: Some(10_000),
                detail: None,
                pending: vec![
                    PendingItem {
                        label: "a0".into(),
                        pids: vec![1],
                        deadline_ms: None,
                    };
                    37
                ],
            }],
            ..Default::default()
        });
        let lines = report.on_snapshot(&stopping, now + STATUS_GAP);
        assert_eq!(
            lines,
            vec![
                "STOPPING=1".to_string(),
                "STATUS=stop workers: 37 left".to_string()
            ]
        );
        let shutdown = stopping.shutdown.as_ref().unwrap();
        assert_eq!(
            extend_by(shutdown, 4_000),
            Some(Duration::from_secs(6) + EXTEND_SLACK)
        );
        assert_eq!(
            extend_by(shutdown, 10_000),
            None,
            "past its deadline: no extension"
        );
    }

    #[test]
    fn the_pulse_pings_the_watchdog_only_when_asked_for() {
        let snapshot = Snapshot::default();
        let quiet = ServiceReport::default();
        assert!(quiet.on_pulse(&snapshot, 0).is_empty());
        let watched = ServiceReport {
            notifier: Notifier::inactive_with_watchdog(Duration::from_secs(10)),
            ..Default::default()
        };
        assert_eq!(
            watched.on_pulse(&snapshot, 0),
            vec!["WATCHDOG=1".to_string()]
        );
    }
}
