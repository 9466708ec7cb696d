//! Texts the screen shows that are not already in `Snapshot` or `steward::time`:
//! minute-grained ages (so an idle screen does not change every second), state
//! symbols, and text cut to a width.

use std::time::Duration;

use crate::model::{Aria2State, DownloadStatus, NoticeLevel, PhaseState, TaskState, WorkerState};
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

/// aria2's state in a word or two, the same at every instant (the header's
/// short form; the pane shows the full `label`).
pub fn aria2_word(state: &Aria2State) -> &'static str {
    match state {
        Aria2State::Disabled => "disabled",
        Aria2State::Starting => "starting",
        Aria2State::Running => "running",
        Aria2State::Restarting { .. } => "restarting",
        Aria2State::Stopping { .. } => "stopping",
        Aria2State::Stopped => "stopped",
        Aria2State::Crashed { .. } => "crashed",
        Aria2State::NotInstalled { .. } => "not installed",
        Aria2State::Failed { .. } => "failed",
    }
}

pub fn aria2_symbol(state: &Aria2State) -> &'static str {
    match state {
        Aria2State::Starting => "◐",
        Aria2State::Running => "●",
        Aria2State::Restarting { .. } => "↻",
        Aria2State::Stopping { .. } => "◌",
        Aria2State::Disabled | Aria2State::Stopped => "○",
        Aria2State::Crashed { .. }
        | Aria2State::NotInstalled { .. }
        | Aria2State::Failed { .. } => "✗",
    }
}

pub fn download_symbol(status: DownloadStatus) -> &'static str {
    match status {
        DownloadStatus::Active => "↓",
        DownloadStatus::Waiting => "…",
        DownloadStatus::Paused => "‖",
        DownloadStatus::Error => "✗",
        DownloadStatus::Complete => "✓",
        DownloadStatus::Removed => "○",
    }
}

/// Bytes in at most five characters for table cells: `512B`, `9.5K`, `612M`, `1.4G`.
pub fn short_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 9.95 {
        format!("{value:.1}{}", UNITS[unit])
    } else {
        format!("{:.0}{}", value.min(1023.0), UNITS[unit])
    }
}

/// A text gauge `width` cells wide, then the percentage: `█████░░░░░  50%`.
/// `None` (size unknown) draws an empty track and `  ?%`.
pub fn progress_bar(progress: Option<f64>, width: usize) -> String {
    let Some(progress) = progress else {
        return format!("{}   ?%", "░".repeat(width));
    };
    let progress = progress.clamp(0.0, 1.0);
    let filled = ((progress * width as f64).floor() as usize).min(width);
    // Floor, so 99.6% never reads as 100% (that is only for a finished download).
    let percent = (progress * 100.0).floor() as u32;
    format!(
        "{}{} {percent:>3}%",
        "█".repeat(filled),
        "░".repeat(width - filled)
    )
}

/// The first six hex digits of a gid, as aria2's own console shows it.
pub fn short_gid(gid: &str) -> &str {
    gid.get(..6).unwrap_or(gid)
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

/// `text` in at most `width` columns, its start replaced by `…` when cut (a
/// path keeps its file name).
pub fn fit_start(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let tail: String = text.chars().skip(count - (width - 1)).collect();
    format!("…{tail}")
}

/// `text` in at most `width` columns, its end replaced by `…` when cut.
pub fn fit_end(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let head: String = text.chars().take(width - 1).collect();
    format!("{head}…")
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
    fn short_bytes_fit_five_characters() {
        assert_eq!(short_bytes(0), "0B");
        assert_eq!(short_bytes(1023), "1023B");
        assert_eq!(short_bytes(1024), "1.0K");
        assert_eq!(short_bytes(9_700), "9.5K");
        assert_eq!(short_bytes(612 * 1024 * 1024), "612M");
        assert_eq!(short_bytes(1024 * 1024 * 1024 - 1), "1023M");
        assert_eq!(short_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5G");
    }

    #[test]
    fn progress_bars_floor_and_say_unknown() {
        assert_eq!(progress_bar(Some(0.5), 4), "██░░  50%");
        assert_eq!(progress_bar(Some(0.999), 4), "███░  99%");
        assert_eq!(progress_bar(Some(1.0), 4), "████ 100%");
        assert_eq!(progress_bar(None, 4), "░░░░   ?%");
        assert_eq!(short_gid("2089b05ecca3d829"), "2089b0");
        assert_eq!(short_gid("ab"), "ab");
    }

    #[test]
    fn cut_text_keeps_the_end_of_paths_and_the_start_of_reasons() {
        assert_eq!(fit_start("tmp/abc/def", 20), "tmp/abc/def");
        assert_eq!(fit_start("tmp/abc/def", 6), "…c/def");
        assert_eq!(fit_end("owner dead (pid 4)", 8), "owner d…");
        assert_eq!(fit_end("abc", 0), "");
    }

    #[test]
    fn command_lines_quote_spaces() {
        let argv = vec!["bot".to_string(), "--name".into(), "my bot".into()];
        assert_eq!(command_line(&argv), "bot --name 'my bot'");
    }
}
