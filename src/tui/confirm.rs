//! The confirm dialog: it carries the `Command` it confirms (gitui style) and
//! names what will happen. Enter/y sends the command; Esc/n drops it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::manager::{AccountView, Command};

use super::draw::{centered, key_hints};
use super::keymap::Mode;
use super::theme::Theme;

#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmDialog {
    pub title: String,
    /// What will happen, one line each.
    pub lines: Vec<String>,
    pub command: Command,
}

impl ConfirmDialog {
    /// `d` on an account: stop its worker, move its session file to trash, forget it.
    pub fn remove_account(account: &AccountView) -> ConfirmDialog {
        let worker = &account.worker;
        let stop_line = match (worker.state.is_active(), worker.pid) {
            (true, Some(pid)) => {
                format!(
                    "• its worker (pid {pid}) is stopped: SIGTERM, then SIGKILL at the deadline"
                )
            }
            (true, None) => "• its worker is stopped: SIGTERM, then SIGKILL at the deadline".into(),
            (false, _) => "• its worker is not running; nothing to stop".into(),
        };
        ConfirmDialog {
            title: format!("Remove account {}?", account.id),
            lines: vec![
                format!("Remove account {} ({})?", account.id, account.name),
                stop_line,
                format!(
                    "• its session file {} is moved to trash once its lock is free",
                    worker.session_file.display()
                ),
                "• the account is deleted from the store".into(),
            ],
            command: Command::RemoveAccount {
                id: account.id.clone(),
            },
        }
    }
}

pub fn render(frame: &mut Frame, area: Rect, dialog: &ConfirmDialog, theme: &Theme) {
    let width = area.width.saturating_sub(4).min(72);
    let inner_width = usize::from(width.saturating_sub(2)).max(1);
    // Wrapped height of the body, estimated by characters per line.
    let body_rows: usize = dialog
        .lines
        .iter()
        .map(|l| l.chars().count().div_ceil(inner_width).max(1))
        .sum();
    let height = u16::try_from(body_rows + 4).unwrap_or(u16::MAX);
    let popup = centered(area, width, height);
    let mut lines: Vec<Line> = dialog
        .lines
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let style = if i == 0 { theme.bold() } else { theme.plain() };
            Line::from(Span::styled(text.clone(), style))
        })
        .collect();
    lines.push(Line::default());
    lines.push(key_hints(Mode::Confirm, theme));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered().title(Span::styled(format!(" {} ", dialog.title), theme.error())),
        ),
        popup,
    );
}
