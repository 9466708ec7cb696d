//! Styles, with `NO_COLOR` honoured: when colour is off every style here is
//! colourless (bold and reverse stay). State is never shown by colour alone;
//! the panes always print a word and a symbol too. `UiOptions` carries the
//! choice from the environment to the UI loop.

use ratatui::style::{Color, Modifier, Style};

use crate::model::{Aria2State, DownloadStatus, NoticeLevel, PhaseState, TaskState, WorkerState};

/// Whether the environment asks for no colour (`NO_COLOR` set and non-empty).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty())
}

/// How the UI looks (from the environment, [`UiOptions::from_env`]) and
/// what a hang-up means (from `[ui]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiOptions {
    /// False when `NO_COLOR` is set and non-empty: no colours at all.
    pub color: bool,
    pub on_hangup: crate::config::OnHangup,
}

impl UiOptions {
    pub fn from_env() -> UiOptions {
        UiOptions {
            color: !no_color_requested(),
            on_hangup: crate::config::OnHangup::default(),
        }
    }
}

impl Default for UiOptions {
    /// Same as [`UiOptions::from_env`], so `NO_COLOR` cannot be forgotten.
    fn default() -> UiOptions {
        UiOptions::from_env()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn plain(&self) -> Style {
        Style::new()
    }

    pub fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        self.fg(Color::DarkGray)
    }

    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn selected_row(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn worker_state(&self, state: &WorkerState) -> Style {
        match state {
            WorkerState::Running => self.good(),
            WorkerState::Starting | WorkerState::Backoff { .. } | WorkerState::Stopping { .. } => {
                self.warn()
            }
            WorkerState::Exited { .. } | WorkerState::Failed { .. } => self.error(),
            WorkerState::Stopped => self.dim(),
        }
    }

    pub fn task_state(&self, state: &TaskState) -> Style {
        match state {
            TaskState::Running => self.good(),
            TaskState::Cancelling { .. } => self.warn(),
            TaskState::Failed { .. } => self.error(),
            TaskState::Cancelled | TaskState::Finished => self.dim(),
        }
    }

    pub fn aria2_state(&self, state: &Aria2State) -> Style {
        match state {
            Aria2State::Running => self.good(),
            Aria2State::Starting | Aria2State::Restarting { .. } | Aria2State::Stopping { .. } => {
                self.warn()
            }
            Aria2State::Crashed { .. }
            | Aria2State::NotInstalled { .. }
            | Aria2State::Failed { .. } => self.error(),
            Aria2State::Disabled | Aria2State::Stopped => self.dim(),
        }
    }

    pub fn download_status(&self, status: DownloadStatus) -> Style {
        match status {
            DownloadStatus::Active => self.good(),
            DownloadStatus::Waiting | DownloadStatus::Paused => self.warn(),
            DownloadStatus::Error => self.error(),
            DownloadStatus::Complete | DownloadStatus::Removed => self.dim(),
        }
    }

    pub fn phase_state(&self, state: &PhaseState) -> Style {
        match state {
            PhaseState::Pending => self.dim(),
            PhaseState::Running => self.accent(),
            PhaseState::Done => self.good(),
            PhaseState::TimedOut => self.warn(),
            PhaseState::Failed { .. } => self.error(),
        }
    }

    pub fn notice(&self, level: NoticeLevel) -> Style {
        match level {
            NoticeLevel::Info => self.plain(),
            NoticeLevel::Warn => self.warn(),
            NoticeLevel::Error => self.error(),
        }
    }

    /// Colour of log levels in the Logs pane, or `None` (the widget's plain text).
    pub fn log_styles(&self) -> Option<[Style; 3]> {
        self.color.then(|| [self.error(), self.warn(), self.dim()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_colour_means_no_colour_anywhere() {
        let theme = Theme::new(false);
        for style in [
            theme.dim(),
            theme.accent(),
            theme.error(),
            theme.warn(),
            theme.good(),
            theme.worker_state(&WorkerState::Running),
            theme.notice(NoticeLevel::Error),
            theme.aria2_state(&Aria2State::Running),
            theme.download_status(DownloadStatus::Error),
        ] {
            assert_eq!(style.fg, None);
            assert_eq!(style.bg, None);
        }
        assert!(theme.log_styles().is_none());
        assert_eq!(Theme::new(true).error().fg, Some(Color::Red));
    }
}
