//! The details view opened by Enter: for an account, everything about its
//! worker (command, env names but never values, pid, pgid, session file and
//! lock holders, last exit, restart history, last log lines); for a task or a
//! download, its fields (a download's whole gid, path and error, which the
//! table cuts on narrow screens).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::model::{AccountView, DownloadView, Snapshot, TaskView};

use super::format;
use super::info_panes::{LABEL_WIDTH, field};
use super::theme::Theme;

/// What a details view shows; it looks its subject up in every new snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailsTarget {
    Account(String),
    Task(u64),
    /// A download, by gid.
    Download(String),
}

/// Restart records shown at most (newest first).
const RESTARTS_SHOWN: usize = 5;

pub fn render(
    frame: &mut Frame,
    area: Rect,
    target: &DetailsTarget,
    snapshot: &Snapshot,
    now_ms: i64,
    theme: &Theme,
) {
    let (title, lines) = match target {
        DetailsTarget::Account(id) => subject(
            "Account",
            id,
            snapshot.accounts.iter().find(|a| &a.id == id),
            |account| {
                let rows = usize::from(area.height.saturating_sub(2));
                account_lines(account, &snapshot.instance.isolation, rows, now_ms, theme)
            },
        ),
        DetailsTarget::Task(id) => subject(
            "Task",
            &id.to_string(),
            snapshot.tasks.iter().find(|t| t.id == *id),
            |task| task_lines(task, now_ms, theme),
        ),
        DetailsTarget::Download(gid) => subject(
            "Download",
            gid,
            snapshot
                .aria2
                .iter()
                .flat_map(|a| a.downloads.iter())
                .find(|d| &d.gid == gid),
            |download| download_lines(download, theme),
        ),
    };
    // Only a download's lines wrap (a long URL-made path or error); account
    // details size their log tail to the rows and must not wrap.
    let wrap = matches!(target, DetailsTarget::Download(_));
    let mut paragraph =
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(title, theme.bold())));
    if wrap {
        paragraph = paragraph.wrap(Wrap { trim: false });
    }
    frame.render_widget(Clear, area);
    frame.render_widget(paragraph, area);
}

/// The title and lines for the `kind` called `id`: its details while it is
/// in the snapshot, else one line saying it is gone.
fn subject<T>(
    kind: &str,
    id: &str,
    found: Option<&T>,
    lines: impl FnOnce(&T) -> Vec<Line<'static>>,
) -> (String, Vec<Line<'static>>) {
    match found {
        Some(it) => (format!(" {kind} {id} · Esc close "), lines(it)),
        None => (
            format!(" {kind} {id} "),
            vec![Line::from(format!("{} {id} is gone", kind.to_lowercase()))],
        ),
    }
}

/// A field whose value is plain text.
fn text_field(name: &str, value: impl Into<String>, theme: &Theme) -> Line<'static> {
    field(name, vec![Span::raw(value.into())], theme)
}

/// A state-like field: a symbol and a word, in the state's style.
fn state_field(name: &str, text: String, style: Style, theme: &Theme) -> Line<'static> {
    field(name, vec![Span::styled(text, style)], theme)
}

fn account_lines(
    account: &AccountView,
    isolation: &str,
    rows: usize,
    now_ms: i64,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let worker = &account.worker;
    let mut lines = vec![
        text_field(
            "account",
            format!(
                "{} ({}) · {} · secret {}",
                account.id,
                account.name,
                if account.enabled {
                    "enabled"
                } else {
                    "disabled"
                },
                account.secret_label()
            ),
            theme,
        ),
        state_field(
            "state",
            format!(
                "{} {}",
                format::worker_symbol(&worker.state),
                worker.state.label(now_ms)
            ),
            theme.worker_state(&worker.state),
            theme,
        ),
        text_field("command", format::command_line(&worker.command), theme),
        text_field("env", worker.env_names.join(" "), theme),
        text_field(
            "process",
            format!(
                "pid {} · pgid {} · up {} · cpu {} · rss {}",
                format::or_dash(worker.pid),
                format::or_dash(worker.pgid),
                match (worker.state.is_active(), worker.started_ms) {
                    (true, Some(started)) => format::coarse_age(started, now_ms),
                    _ => "-".into(),
                },
                format::or_dash(worker.cpu_percent.map(|c| format!("{c:.1}%"))),
                format::or_dash(worker.rss_bytes.map(crate::time::human_bytes)),
            ),
            theme,
        ),
        text_field("session", worker.session_file.display().to_string(), theme),
    ];
    // Only where there is something to say: a stopped instance's status
    // knows no mode, and most workers never leave their group.
    if !isolation.is_empty() || !worker.escaped.is_empty() {
        let pids: Vec<String> = worker.escaped.iter().map(|p| format!("pid {p}")).collect();
        let left = if pids.is_empty() {
            "none outside the group".to_string()
        } else {
            format!("outside the group: {} (stopped with it)", pids.join(", "))
        };
        let mode = if isolation.is_empty() {
            "no subreaper"
        } else {
            isolation
        };
        lines.push(text_field("escaped", format!("{left} · {mode}"), theme));
    }
    lines.extend([
        text_field(
            "locked by",
            if worker.lock_holders.is_empty() {
                "nobody".to_string()
            } else {
                let pids: Vec<String> = worker
                    .lock_holders
                    .iter()
                    .map(|p| format!("pid {p}"))
                    .collect();
                pids.join(", ")
            },
            theme,
        ),
        text_field(
            "last exit",
            match &worker.last_exit {
                None => "none".to_string(),
                Some(exit) => {
                    let how = match (exit.code, exit.signal) {
                        (Some(code), _) => format!("code {code}"),
                        (None, Some(signal)) => format!("signal {signal}"),
                        (None, None) => "unknown status".into(),
                    };
                    format!("{how}, {} ago", format::coarse_age(exit.at_ms, now_ms))
                }
            },
            theme,
        ),
        text_field("restarts", worker.restarts.to_string(), theme),
    ]);
    for record in worker.restart_history.iter().rev().take(RESTARTS_SHOWN) {
        lines.push(Line::from(Span::styled(
            format!(
                "{:<LABEL_WIDTH$}{} ago: {}",
                "",
                format::coarse_age(record.at_ms, now_ms),
                record.reason
            ),
            theme.dim(),
        )));
    }
    lines.push(Line::from(Span::styled("last log lines", theme.bold())));
    let room = rows.saturating_sub(lines.len());
    if worker.recent_logs.is_empty() {
        lines.push(Line::from(Span::styled("  (none yet)", theme.dim())));
    }
    let skip = worker.recent_logs.len().saturating_sub(room);
    for log_line in worker.recent_logs.iter().skip(skip) {
        lines.push(Line::from(format!("  {log_line}")));
    }
    lines
}

fn task_lines(task: &TaskView, now_ms: i64, theme: &Theme) -> Vec<Line<'static>> {
    vec![
        text_field("task", format!("{} · {}", task.id, task.name), theme),
        text_field("kind", task.kind.label(), theme),
        text_field(
            "owner",
            task.owner.clone().unwrap_or_else(|| "-".into()),
            theme,
        ),
        state_field(
            "state",
            format!(
                "{} {}",
                format::task_symbol(&task.state),
                task.state.label(now_ms)
            ),
            theme.task_state(&task.state),
            theme,
        ),
        text_field("age", format::coarse_age(task.started_ms, now_ms), theme),
        text_field("restarts", task.restarts.to_string(), theme),
    ]
}

fn download_lines(download: &DownloadView, theme: &Theme) -> Vec<Line<'static>> {
    let size = if download.total > 0 {
        format!(
            "{} of {}",
            crate::time::human_bytes(download.completed),
            crate::time::human_bytes(download.total)
        )
    } else {
        format!(
            "{} of unknown size",
            crate::time::human_bytes(download.completed)
        )
    };
    let mut lines = vec![
        text_field(
            "download",
            format!("{} · {}", download.gid, download.name),
            theme,
        ),
        state_field(
            "status",
            format!(
                "{} {}",
                format::download_symbol(download.status),
                download.status.label()
            ),
            theme.download_status(download.status),
            theme,
        ),
        text_field(
            "owner",
            download.account.clone().unwrap_or_else(|| "-".into()),
            theme,
        ),
        text_field(
            "path",
            download
                .path
                .as_ref()
                .map_or_else(|| "not known yet".into(), |p| p.display().to_string()),
            theme,
        ),
        text_field(
            "progress",
            format!("{} · {size}", format::progress_bar(download.progress(), 20)),
            theme,
        ),
    ];
    if download.status.is_live() {
        lines.push(text_field(
            "speed",
            format!(
                "{}/s · eta {}",
                crate::time::human_bytes(download.speed),
                format::or_dash(
                    download
                        .eta_secs
                        .map(|s| crate::time::human(std::time::Duration::from_secs(s)))
                )
            ),
            theme,
        ));
    }
    if let Some(error) = &download.error {
        lines.push(state_field(
            "error",
            format!("✗ {error}"),
            theme.error(),
            theme,
        ));
    }
    lines
}
