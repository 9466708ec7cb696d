//! The Aria2 pane: steward's aria2c (state, pid, port, version, uptime,
//! restarts, last error and crash output, global stat), its downloads, and
//! the foreign aria2c processes, left alone unless one is selected and `K`
//! confirmed. One selection moves through the downloads, then the foreign rows.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::model::{Aria2State, Aria2View, DownloadStatus, DownloadView, ForeignAria2};
use crate::time;

use super::ctx::Ctx;
use super::format;
use super::info_panes::{LABEL_WIDTH, field, placeholder};
use super::list::{Column, ListFrame, column, number};
use super::pane::Pane;
use super::rows::{self, Aria2Row};
use super::theme::Theme;

/// Inner width from which full gids and the error column are shown.
const WIDE_FROM: u16 = 110;
/// Lines of aria2c's last output shown at most.
const TAIL_SHOWN: usize = 3;
/// Foreign processes on screen at most (the selection scrolls through the rest).
const FOREIGN_SHOWN: usize = 3;

const FOREIGN_COLUMNS: [Column; 3] = [
    number("pid", Constraint::Length(7)),
    number("port", Constraint::Length(5)),
    column("command line", Constraint::Min(10)),
];

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let app = ctx.app;
    let snapshot = ctx.snapshot;
    let now_ms = ctx.now_ms;
    let theme = &ctx.theme;
    let Some(aria2) = &snapshot.aria2 else {
        return placeholder(
            frame,
            area,
            "Aria2",
            "This build has no aria2 subsystem yet. When it lands, this pane shows the aria2c daemon (state, pid, RPC port, version) and its downloads.",
            theme,
        );
    };
    let block = Block::bordered().title(Span::styled(" Aria2 ", theme.bold()));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let info = info_lines(aria2, now_ms, theme);
    let wide = inner.width >= WIDE_FROM;
    let state = app.pane(Pane::Aria2);
    let visible = rows::aria2_rows(snapshot, &state.filter);
    let selected = state.selected(&rows::aria2_keys(&visible));
    let mut downloads = Vec::new();
    let mut foreign = Vec::new();
    for row in &visible {
        match *row {
            Aria2Row::Download(download) => downloads.push(download),
            Aria2Row::Foreign(process) => foreign.push(process),
        }
    }
    // Downloads come first in the selection, then the foreign rows.
    let download_selected = selected.filter(|&i| i < downloads.len());
    let foreign_selected = selected.and_then(|i| i.checked_sub(downloads.len()));
    // The error column is cut (or, on narrow screens, absent): the selected
    // row's error gets a whole line under the table.
    let error_line = download_selected
        .and_then(|i| downloads.get(i).copied())
        .and_then(|d| d.error.as_ref().map(|e| (d, e)))
        .map(|(d, error)| {
            let gid = if wide {
                d.gid.as_str()
            } else {
                format::short_gid(&d.gid)
            };
            Line::from(Span::styled(format!("✗ {gid}: {error}"), theme.error()))
        });
    // The section's title line, then its header and rows, or its no-match line.
    let foreign_height = match (aria2.foreign.is_empty(), foreign.len()) {
        (true, _) => 0,
        (false, 0) => 2,
        (false, shown) => height(2 + shown.min(FOREIGN_SHOWN)),
    };
    let [info_area, table_area, error_area, foreign_area] = Layout::vertical([
        Constraint::Length(height(info.len())),
        Constraint::Min(3),
        Constraint::Length(u16::from(error_line.is_some())),
        Constraint::Length(foreign_height),
    ])
    .areas(inner);

    frame.render_widget(Paragraph::new(info), info_area);
    let downloads_list = ListFrame {
        name: "Downloads",
        note: None,
        noun: "download",
        empty: if aria2.state == Aria2State::Running {
            "no downloads: press a to add one"
        } else {
            "no downloads (aria2c is not running)"
        },
        total: aria2.downloads.len(),
        filter: &state.filter,
        borders: Borders::TOP,
        columns: &download_columns(wide),
    };
    let bar = bar_width(wide);
    downloads_list.render(
        frame,
        table_area,
        &downloads,
        download_selected,
        |&download| download_row(download, wide, bar, theme),
        theme,
    );
    if let Some(line) = error_line {
        frame.render_widget(Paragraph::new(line), error_area);
    }
    if !aria2.foreign.is_empty() {
        let foreign_list = ListFrame {
            name: "Foreign aria2c",
            note: Some("not steward's · K stops the selected one (asks first)"),
            noun: "foreign aria2c",
            empty: "",
            total: aria2.foreign.len(),
            filter: &state.filter,
            borders: Borders::TOP,
            columns: &FOREIGN_COLUMNS,
        };
        foreign_list.render(
            frame,
            foreign_area,
            &foreign,
            foreign_selected,
            |&process| foreign_row(process),
            theme,
        );
    }
}

fn height(lines: usize) -> u16 {
    u16::try_from(lines).unwrap_or(u16::MAX)
}

/// State, process, traffic, download dir, last error, last exit with its output.
fn info_lines(aria2: &Aria2View, now_ms: i64, theme: &Theme) -> Vec<Line<'static>> {
    let state = &aria2.state;
    let mut lines = vec![field(
        "state",
        vec![Span::styled(
            format!("{} {}", format::aria2_symbol(state), aria2.label(now_ms)),
            theme.aria2_state(state),
        )],
        theme,
    )];
    let uptime = match (state, aria2.started_ms) {
        (Aria2State::Running, Some(started)) => format::coarse_age(started, now_ms),
        _ => "-".into(),
    };
    lines.push(field(
        "aria2c",
        vec![Span::raw(format!(
            "pid {} · rpc port {} · version {} · up {uptime} · restarts {}",
            format::or_dash(aria2.pid),
            format::or_dash(aria2.port),
            format::or_dash(aria2.version.clone()),
            aria2.restarts,
        ))],
        theme,
    ));
    if let Some(global) = &aria2.global {
        lines.push(field(
            "traffic",
            vec![Span::raw(format!(
                "↓ {}/s ↑ {}/s · {} active · {} waiting · {} stopped",
                time::human_bytes(global.download_speed),
                time::human_bytes(global.upload_speed),
                global.num_active,
                global.num_waiting,
                global.num_stopped,
            ))],
            theme,
        ));
    }
    if let Some(dir) = &aria2.download_dir {
        lines.push(field(
            "into",
            vec![Span::raw(dir.display().to_string())],
            theme,
        ));
    }
    if let Some(error) = &aria2.last_error {
        lines.push(field(
            "error",
            vec![Span::styled(format!("⚠ {error}"), theme.warn())],
            theme,
        ));
    }
    // The output of the last crash: from the exit record, or the crashed state itself.
    let tail = match (&aria2.last_exit, state) {
        (Some(exit), _) => {
            let how = match (exit.code, exit.signal) {
                (Some(code), _) => format!("exit code {code}"),
                (None, Some(signal)) => format!("signal {signal}"),
                (None, None) => "ended".into(),
            };
            lines.push(field(
                "last exit",
                vec![Span::styled(
                    format!(
                        "✗ pid {} · {how} · {} ago",
                        exit.pid,
                        format::coarse_age(exit.at_ms, now_ms)
                    ),
                    theme.error(),
                )],
                theme,
            ));
            exit.stderr_tail.as_slice()
        }
        (None, Aria2State::Crashed { stderr_tail, .. }) => stderr_tail.as_slice(),
        (None, _) => &[],
    };
    let skip = tail.len().saturating_sub(TAIL_SHOWN);
    lines.extend(tail.iter().skip(skip).map(|text| {
        Line::from(vec![
            Span::raw(" ".repeat(LABEL_WIDTH)),
            Span::styled(format!("│ {text}"), theme.dim()),
        ])
    }));
    lines
}

/// Cells of a progress gauge.
fn bar_width(wide: bool) -> u16 {
    if wide { 10 } else { 8 }
}

fn download_columns(wide: bool) -> Vec<Column> {
    let mut columns = vec![
        column("gid", Constraint::Length(if wide { 16 } else { 6 })),
        column("name", Constraint::Min(if wide { 12 } else { 8 })),
        column("owner", Constraint::Length(if wide { 10 } else { 7 })),
        column("status", Constraint::Length(10)),
        column("progress", Constraint::Length(bar_width(wide) + 5)),
        number("done/size", Constraint::Length(10)),
        number("speed", Constraint::Length(7)),
        number("eta", Constraint::Length(if wide { 6 } else { 5 })),
    ];
    if wide {
        columns.push(column("error", Constraint::Min(16)));
    }
    columns
}

fn foreign_row(process: &ForeignAria2) -> Vec<Text<'static>> {
    vec![
        Text::from(process.pid.to_string()),
        Text::from(format::or_dash(process.port)),
        Text::from(format::command_line(&process.cmdline)),
    ]
}

fn download_row<'a>(
    download: &'a DownloadView,
    wide: bool,
    bar: u16,
    theme: &Theme,
) -> Vec<Text<'a>> {
    let gid = if wide {
        download.gid.as_str()
    } else {
        format::short_gid(&download.gid)
    };
    let status = Line::from(Span::styled(
        format!(
            "{} {}",
            format::download_symbol(download.status),
            download.status.label()
        ),
        theme.download_status(download.status),
    ));
    let size = if download.total > 0 {
        format!(
            "{}/{}",
            format::short_bytes(download.completed),
            format::short_bytes(download.total)
        )
    } else {
        format!("{}/?", format::short_bytes(download.completed))
    };
    let moving = download.status == DownloadStatus::Active;
    let speed = if moving {
        format!("{}/s", format::short_bytes(download.speed))
    } else {
        "-".into()
    };
    let eta = match download.eta_secs {
        Some(secs) if moving => time::human(std::time::Duration::from_secs(secs)),
        _ => "-".into(),
    };
    let mut cells = vec![
        Text::from(gid),
        Text::from(download.name.as_str()),
        Text::from(download.account.as_deref().unwrap_or("-")),
        Text::from(status),
        Text::from(Span::styled(
            format::progress_bar(download.progress(), usize::from(bar)),
            theme.download_status(download.status),
        )),
        Text::from(size),
        Text::from(speed),
        Text::from(eta),
    ];
    if wide {
        cells.push(Text::from(Span::styled(
            download.error.as_deref().unwrap_or(""),
            theme.error(),
        )));
    }
    cells
}
