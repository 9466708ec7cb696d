//! What the task registry publishes: every unit of work, its kind, owner and state.

use serde::{Deserialize, Serialize};

use crate::time;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: u64,
    pub kind: TaskKind,
    pub name: String,
    pub owner: Option<String>,
    pub state: TaskState,
    pub started_ms: i64,
    pub restarts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Worker,
    Download,
    Sweep,
    Monitor,
}

impl TaskKind {
    pub fn label(self) -> &'static str {
        match self {
            TaskKind::Worker => "worker",
            TaskKind::Download => "download",
            TaskKind::Sweep => "sweep",
            TaskKind::Monitor => "monitor",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskState {
    Running,
    Cancelling { deadline_ms: i64, force: bool },
    Cancelled,
    Finished,
    Failed { reason: String },
}

impl TaskState {
    pub fn label(&self, now_ms: i64) -> String {
        match self {
            TaskState::Running => "running".into(),
            TaskState::Cancelling { force: true, .. } => "force-cancelling".into(),
            TaskState::Cancelling { deadline_ms, .. } => {
                format!("cancelling ({}s)", time::secs_until(*deadline_ms, now_ms))
            }
            TaskState::Cancelled => "cancelled".into(),
            TaskState::Finished => "finished".into(),
            TaskState::Failed { reason } => format!("failed ({reason})"),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, TaskState::Running | TaskState::Cancelling { .. })
    }
}
