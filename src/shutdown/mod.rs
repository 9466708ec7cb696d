//! The shutdown plan: an ordered list of phases, each with a deadline, run one
//! after another. A phase that fails or overruns is recorded and the next one
//! runs anyway; progress is published after every step so the operator sees
//! an honest view. A second request switches to force (no more waiting).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::model::{PhaseState, PhaseView, ShutdownView};
use crate::time::now_ms;

/// How long a phase may keep running after its deadline fired its force token,
/// before the plan stops waiting for it and moves on.
const OVERRUN_GRACE: Duration = Duration::from_secs(5);

/// What a phase ends with: a one-line detail (may be empty), or why it failed.
pub type PhaseResult = Result<String, PhaseFailed>;

/// Why a phase failed: one line for the operator's progress view. Phases fail
/// for reasons as different as an RPC timeout and a store error, and nothing
/// branches on them, so the line is all there is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PhaseFailed(pub String);

impl From<String> for PhaseFailed {
    fn from(reason: String) -> Self {
        PhaseFailed(reason)
    }
}

impl From<&str> for PhaseFailed {
    fn from(reason: &str) -> Self {
        PhaseFailed(reason.to_string())
    }
}
pub type PhaseFuture = Pin<Box<dyn Future<Output = PhaseResult> + Send>>;

/// One step of the plan. `start` receives a token that is cancelled when the
/// phase must stop waiting (its deadline passed, or the operator forced).
pub struct Phase {
    pub name: &'static str,
    pub deadline: Duration,
    pub start: Box<dyn FnOnce(CancellationToken) -> PhaseFuture + Send>,
}

impl Phase {
    pub fn new<F, Fut>(name: &'static str, deadline: Duration, start: F) -> Phase
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = PhaseResult> + Send + 'static,
    {
        Phase {
            name,
            deadline,
            start: Box::new(move |token| Box::pin(start(token))),
        }
    }
}

/// Shared progress of a running plan, read by the snapshot publisher.
#[derive(Clone, Default)]
pub struct Progress {
    view: Arc<Mutex<Option<ShutdownView>>>,
    changed: Arc<Notify>,
}

impl Progress {
    pub fn new(changed: Arc<Notify>) -> Self {
        Progress {
            view: Arc::default(),
            changed,
        }
    }

    pub fn view(&self) -> Option<ShutdownView> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ShutdownView>> {
        // Plain data: a panic mid-update leaves it readable.
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the operator's second request (force).
    pub fn mark_forced(&self) {
        self.update(|v| {
            if v.forced_ms.is_none() {
                v.forced = true;
                v.forced_ms = Some(now_ms());
            }
        });
    }

    /// Records the accounts whose workers needed SIGKILL.
    pub fn set_killed_workers(&self, accounts: Vec<String>) {
        self.update(|v| v.killed_workers = accounts);
    }

    fn update(&self, f: impl FnOnce(&mut ShutdownView)) {
        if let Some(view) = self.lock().as_mut() {
            f(view);
        }
        self.changed.notify_one();
    }
}

/// Runs `phases` in order, publishing through `progress`. `force` switches
/// every remaining wait to "now". Returns the final view (the report).
pub async fn run(
    phases: Vec<Phase>,
    progress: &Progress,
    force: CancellationToken,
) -> ShutdownView {
    *progress.lock() = Some(ShutdownView {
        started_ms: now_ms(),
        forced: force.is_cancelled(),
        forced_ms: force.is_cancelled().then(now_ms),
        killed_workers: Vec::new(),
        phases: phases
            .iter()
            .map(|p| PhaseView {
                name: p.name.to_string(),
                state: PhaseState::Pending,
                started_ms: None,
                ended_ms: None,
                deadline_ms: None,
                detail: None,
                pending: Vec::new(),
            })
            .collect(),
        finished_ms: None,
    });
    progress.changed.notify_one();
    for (index, phase) in phases.into_iter().enumerate() {
        let started = now_ms();
        progress.update(|v| {
            let p = &mut v.phases[index];
            p.state = PhaseState::Running;
            p.started_ms = Some(started);
            p.deadline_ms = Some(crate::time::ms_after(started, phase.deadline));
        });
        let hurry = force.child_token();
        let mut work = (phase.start)(hurry.clone());
        let deadline = crate::time::Later::later(Instant::now(), phase.deadline);
        let mut timed_out = false;
        let result = tokio::select! {
            r = &mut work => Some(r),
            _ = tokio::time::sleep_until(deadline) => None,
        };
        let result = match result {
            Some(r) => r,
            None => {
                timed_out = true;
                hurry.cancel();
                warn!(
                    phase = phase.name,
                    "shutdown phase overran its deadline: forcing"
                );
                tokio::time::timeout(OVERRUN_GRACE, work)
                    .await
                    .unwrap_or_else(|_| Err("still running after force".into()))
            }
        };
        let (state, detail) = match (result, timed_out) {
            (Err(PhaseFailed(reason)), _) => (PhaseState::Failed { reason }, None),
            (Ok(detail), true) => (PhaseState::TimedOut, Some(detail)),
            (Ok(detail), false) => (PhaseState::Done, Some(detail)),
        };
        let detail = detail.filter(|d| !d.is_empty());
        info!(phase = phase.name, state = %state.label(), elapsed_ms = now_ms() - started, "shutdown phase ended");
        let forced = force.is_cancelled();
        progress.update(|v| {
            let p = &mut v.phases[index];
            p.state = state;
            p.detail = detail;
            p.ended_ms = Some(now_ms());
            p.pending.clear();
            v.forced |= forced;
        });
    }
    let forced = force.is_cancelled();
    progress.update(|v| {
        v.forced |= forced;
        v.finished_ms = Some(now_ms());
    });
    progress.view().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(name: &'static str, result: PhaseResult) -> Phase {
        Phase::new(name, Duration::from_secs(5), move |_| async move { result })
    }

    #[tokio::test]
    async fn every_phase_runs_even_after_a_failure() {
        let progress = Progress::new(Arc::default());
        let report = run(
            vec![
                quick("one", Ok(String::new())),
                quick("two", Err("boom".into())),
                quick("three", Ok("3 things".into())),
            ],
            &progress,
            CancellationToken::new(),
        )
        .await;
        let states: Vec<String> = report.phases.iter().map(|p| p.state.label()).collect();
        assert_eq!(states, vec!["done", "failed: boom", "done"]);
        assert_eq!(report.phases[0].detail, None);
        assert_eq!(report.phases[2].detail.as_deref(), Some("3 things"));
        assert!(report.is_finished());
        assert!(!report.forced);
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrunning_phase_is_hurried_then_marked_timed_out() {
        let progress = Progress::new(Arc::default());
        let slow = Phase::new(
            "slow",
            Duration::from_secs(2),
            |hurry: CancellationToken| async move {
                hurry.cancelled().await;
                Ok(String::new())
            },
        );
        let report = run(
            vec![slow, quick("next", Ok(String::new()))],
            &progress,
            CancellationToken::new(),
        )
        .await;
        assert_eq!(report.phases[0].state, PhaseState::TimedOut);
        assert_eq!(report.phases[1].state, PhaseState::Done);
    }

    #[tokio::test(start_paused = true)]
    async fn force_hurries_the_running_phase_at_once() {
        let progress = Progress::new(Arc::default());
        let force = CancellationToken::new();
        let f2 = force.clone();
        let waits = Phase::new(
            "waits",
            Duration::from_secs(600),
            |hurry: CancellationToken| async move {
                f2.cancel();
                hurry.cancelled().await;
                Ok(String::new())
            },
        );
        let started = Instant::now();
        let report = run(vec![waits], &progress, force).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(report.forced);
        assert_eq!(report.phases[0].state, PhaseState::Done);
    }
}
