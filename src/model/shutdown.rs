//! What the shutdown plan publishes: its phases, their deadlines and what is still pending.

use serde::{Deserialize, Serialize};

/// A shutdown in progress (or finished): the phases as a checklist.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShutdownView {
    pub started_ms: i64,
    pub forced: bool,
    /// When the operator asked to force (second request), if they did.
    pub forced_ms: Option<i64>,
    /// Accounts whose workers had to be SIGKILLed.
    pub killed_workers: Vec<String>,
    pub phases: Vec<PhaseView>,
    /// Set once the last phase has ended.
    pub finished_ms: Option<i64>,
}

impl ShutdownView {
    pub fn is_finished(&self) -> bool {
        self.finished_ms.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseView {
    pub name: String,
    pub state: PhaseState,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub deadline_ms: Option<i64>,
    /// A one-line outcome, e.g. `12 stopped, 2 killed`.
    pub detail: Option<String>,
    /// What the phase is still waiting for (e.g. `alice pid 4242`), with a deadline each.
    pub pending: Vec<PendingItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingItem {
    pub label: String,
    pub pids: Vec<i32>,
    pub deadline_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PhaseState {
    Pending,
    Running,
    Done,
    TimedOut,
    Failed { reason: String },
}

impl PhaseState {
    pub fn label(&self) -> String {
        match self {
            PhaseState::Pending => "pending".into(),
            PhaseState::Running => "running".into(),
            PhaseState::Done => "done".into(),
            PhaseState::TimedOut => "timed out".into(),
            PhaseState::Failed { reason } => format!("failed: {reason}"),
        }
    }
}
