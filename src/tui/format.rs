//! Texts the screen shows that are not already in `Snapshot` or `steward::time`:
//! minute-grained ages (so an idle screen does not change every second) and state symbols.

use std::time::Duration;

use crate::manager::{NoticeLevel, PhaseState, TaskState, WorkerState};
use crate::time;

/// An age at minute granularity: `<1m`, `3m`, `2h05m`, `3d04h`.
pub fn coarse_age(from_ms: i64, now_ms: i64) -> String {
    let elapsed = now_ms.saturating_sub(from_ms).max(0) as u64;
    match elapsed / 1000 {
        0..=59 => "<1m".into(),
        secs @ 60..=3599 => format!("{}m", secs / 60),
        secs => time::human(Duration::from_secs(secs)),
    }
}

/// One word for a worker state, the same at every instant (used for filtering).
pub fn worker_word(state: &WorkerState) -> &'static str {
    match state {
        WorkerState::Starting => "starting",
        WorkerState::Running => "running",
        WorkerState::Backoff { .. } => "backoff",
        WorkerState::Stopping { .. } => "stopping",
        WorkerState::Stopped => "stopped",
        WorkerState::Exited { .. } => "exited",
        WorkerState::Failed { .. } => "failed",
    }
}

/// A symbol that goes with every worker state label, so state never rests on colour.
pub fn worker_symbol(state: &WorkerState) -> &'static str {
    match state {
        WorkerState::Starting => "◐",
        WorkerState::Running => "●",
        WorkerState::Backoff { .. } => "↻",
        WorkerState::Stopping { .. } => "◌",
        WorkerState::Stopped => "○",
        WorkerState::Exited { .. } | WorkerState::Failed { .. } => "✗",
    }
}

pub fn task_word(state: &TaskState) -> &'static str {
    match state {
        TaskState::Running => "running",
        TaskState::Cancelling { .. } => "cancelling",
        TaskState::Cancelled => "cancelled",
        TaskState::Finished => "finished",
        TaskState::Failed { .. } => "failed",
    }
}

pub fn task_symbol(state: &TaskState) -> &'static str {
    match state {
        TaskState::Running => "●",
        TaskState::Cancelling { .. } => "◌",
        TaskState::Cancelled => "○",
        TaskState::Finished => "✓",
        TaskState::Failed { .. } => "✗",
    }
}

pub fn phase_symbol(state: &PhaseState) -> &'static str {
    match state {
        PhaseState::Pending => "·",
        PhaseState::Running => "▶",
        PhaseState::Done => "✓",
        PhaseState::TimedOut => "⏱",
        PhaseState::Failed { .. } => "✗",
    }
}

pub fn notice_word(level: NoticeLevel) -> &'static str {
    match level {
        NoticeLevel::Info => "info",
        NoticeLevel::Warn => "warning",
        NoticeLevel::Error => "error",
    }
}

/// An optional number, or a dash.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// A command line as an operator would type it (arguments with spaces quoted).
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            if arg.is_empty() || arg.contains(char::is_whitespace) {
                format!("'{arg}'")
            } else {
                arg.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_change_once_a_minute() {
        assert_eq!(coarse_age(0, 59_999), "<1m");
        assert_eq!(coarse_age(0, 60_000), "1m");
        assert_eq!(coarse_age(0, 3_599_999), "59m");
        assert_eq!(coarse_age(0, 3_600_000 + 5 * 60_000 + 30_000), "1h05m");
        assert_eq!(coarse_age(10, 0), "<1m");
    }

    #[test]
    fn command_lines_quote_spaces() {
        let argv = vec!["bot".to_string(), "--name".into(), "my bot".into()];
        assert_eq!(command_line(&argv), "bot --name 'my bot'");
    }
}
