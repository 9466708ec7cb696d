//! The confirm dialog: it carries the `Command` it confirms (gitui style) and
//! names what will happen. Enter/y sends the command; Esc/n drops it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::model::{AccountView, Aria2State, Aria2View, Command, DownloadView, ForeignAria2};

use super::hints::key_hints;
use super::keymap::Mode;
use super::link::Attachment;
use super::rect::centered;
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

    /// `Q` in an attached dashboard: the whole instance shuts down, as `q`
    /// does in its own terminal; detaching (`q`) would leave it running.
    pub fn shutdown_instance(pid: i32, accounts: usize) -> ConfirmDialog {
        ConfirmDialog {
            title: format!("Shut down steward pid {pid}?"),
            lines: vec![
                format!("Shut down steward pid {pid}, the instance this dashboard is attached to?"),
                format!(
                    "• every worker ({accounts} accounts) is stopped, then aria2c; the shutdown progress shows here"
                ),
                "• to leave it running instead, press Esc, then q (detach)".into(),
            ],
            command: Command::Shutdown { force: false },
        }
    }

    /// `r` in the Aria2 pane: save the session, stop aria2c's group, start it again.
    pub fn restart_aria2(aria2: &Aria2View) -> ConfirmDialog {
        let mut lines =
            vec!["Restart aria2c? Its session is saved first; downloads resume.".to_string()];
        match (&aria2.state, aria2.pid) {
            (Aria2State::Running | Aria2State::Starting, Some(pid)) => lines.push(format!(
                "• aria2c (pid {pid}) gets SIGTERM, then SIGKILL at the deadline"
            )),
            (Aria2State::Running | Aria2State::Starting, None) => {
                lines.push("• aria2c gets SIGTERM, then SIGKILL at the deadline".into())
            }
            (state, _) => lines.push(format!(
                "• aria2c is {} now: it is started",
                super::format::aria2_word(state)
            )),
        }
        let live = aria2
            .downloads
            .iter()
            .filter(|d| d.status.is_live())
            .count();
        if live > 0 {
            let (noun, verb) = if live == 1 {
                ("download", "stops")
            } else {
                ("downloads", "stop")
            };
            lines.push(format!(
                "• {live} unfinished {noun} {verb} and resume from the saved session"
            ));
        }
        if !aria2.foreign.is_empty() {
            lines.push("• foreign aria2c processes are not touched".into());
        }
        ConfirmDialog {
            title: "Restart aria2c?".into(),
            lines,
            command: Command::RestartAria2,
        }
    }

    /// `x` on a download: `aria2.remove` (live) or `removeDownloadResult` (stopped).
    pub fn remove_download(download: &DownloadView) -> ConfirmDialog {
        let short = super::format::short_gid(&download.gid);
        let what = if download.status.is_live() {
            "• aria2 stops the transfer; it stays listed as removed"
        } else {
            "• it is dropped from aria2's list of stopped downloads"
        };
        let file = match &download.path {
            Some(path) => format!("• the file stays on disk: {}", path.display()),
            None => "• what was downloaded stays on disk".into(),
        };
        ConfirmDialog {
            title: format!("Remove download {short}?"),
            lines: vec![
                format!(
                    "Remove download {} ({}, {})?",
                    download.gid,
                    download.name,
                    download.status.label()
                ),
                what.into(),
                file,
            ],
            command: Command::RemoveDownload {
                gid: download.gid.clone(),
            },
        }
    }

    /// `K` on a foreign aria2c: the manager re-checks that the pid is still
    /// this process (its start time) and still aria2c, then SIGTERM, then
    /// SIGKILL at the deadline.
    pub fn stop_foreign_aria2(foreign: &ForeignAria2) -> ConfirmDialog {
        let pid = foreign.pid;
        let port = match foreign.port {
            Some(port) => format!("RPC port {port}"),
            None => "no RPC port on its command line".into(),
        };
        ConfirmDialog {
            title: format!("Stop foreign aria2c pid {pid}?"),
            lines: vec![
                format!("Stop aria2c pid {pid} ({port})? It is not steward's."),
                format!(
                    "• its command line: {}",
                    super::format::command_line(&foreign.cmdline)
                ),
                format!(
                    "• it gets SIGTERM, then SIGKILL at the deadline; only if pid {pid} is still this same aria2c"
                ),
                "• whoever started it is not asked; steward does not start it again".into(),
                "• steward's own aria2c and its downloads are not touched".into(),
            ],
            command: Command::StopForeignAria2 {
                pid,
                start_time: foreign.start_time,
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
    lines.push(key_hints(
        Mode::Confirm,
        // A dialog offers the same keys however the dashboard is attached.
        Attachment::Embedded,
        popup.width.saturating_sub(2),
        theme,
    ));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered().title(Span::styled(format!(" {} ", dialog.title), theme.error())),
        ),
        popup,
    );
}
