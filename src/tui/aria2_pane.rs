//! The Aria2 pane: steward's aria2c (state, pid, port, version, uptime,
//! restarts, last error and crash output, global stat), its downloads as a
//! selectable, filterable table, and the foreign aria2c processes it never touches.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row};

use crate::manager::{Aria2State, Aria2View, DownloadStatus, DownloadView};
use crate::time;

use super::draw::Ctx;
use super::format;
use super::info_panes::{LABEL_WIDTH, field, placeholder};
use super::list::{ListFrame, column};
use super::pane::Pane;
use super::rows;
use super::theme::Theme;

/// Inner width from which full gids and the error column are shown.
const WIDE_FROM: u16 = 110;
/// Lines of aria2c's last output shown at most.
const TAIL_SHOWN: usize = 3;
/// Foreign processes listed at most (the rest are counted).
const FOREIGN_SHOWN: usize = 3;

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
    let foreign = foreign_lines(aria2, theme);
    let wide = inner.width >= WIDE_FROM;
    let selected = app.selected_download(snapshot);
    // The error column is cut (or, on narrow screens, absent): the selected
    // row's error gets a whole line under the table.
    let error_line = selected
        .and_then(|d| d.error.as_ref().map(|e| (d, e)))
        .map(|(d, error)| {
            let gid = if wide {
                d.gid.as_str()
            } else {
                format::short_gid(&d.gid)
            };
            Line::from(Span::styled(format!("✗ {gid}: {error}"), theme.error()))
        });
    let [info_area, table_area, error_area, foreign_area] = Layout::vertical([
        Constraint::Length(height(info.len())),
        Constraint::Min(3),
        Constraint::Length(u16::from(error_line.is_some())),
        // Plus the section's title line.
        Constraint::Length(if foreign.is_empty() {
            0
        } else {
            height(foreign.len() + 1)
        }),
    ])
    .areas(inner);

    frame.render_widget(Paragraph::new(info), info_area);
    render_downloads(frame, table_area, ctx, aria2, wide);
    if let Some(line) = error_line {
        frame.render_widget(Paragraph::new(line), error_area);
    }
    if !foreign.is_empty() {
        frame.render_widget(
            Paragraph::new(foreign).block(Block::new().borders(Borders::TOP).title(Span::styled(
                format!(
                    " Other aria2c ({}): foreign (not steward's; never touched) ",
                    aria2.foreign.len()
                ),
                theme.bold(),
            ))),
            foreign_area,
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

/// One line per foreign aria2c (pid, port, command line), at most `FOREIGN_SHOWN`.
fn foreign_lines(aria2: &Aria2View, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = aria2
        .foreign
        .iter()
        .take(FOREIGN_SHOWN)
        .map(|f| {
            Line::from(vec![
                Span::styled("foreign ", theme.warn()),
                Span::raw(format!(
                    "pid {:<7} port {:<5}  {}",
                    f.pid,
                    format::or_dash(f.port),
                    format::command_line(&f.cmdline)
                )),
            ])
        })
        .collect();
    let more = aria2.foreign.len().saturating_sub(FOREIGN_SHOWN);
    if more > 0 {
        lines.push(Line::from(Span::styled(
            format!("… and {more} more"),
            theme.dim(),
        )));
    }
    lines
}

fn render_downloads(frame: &mut Frame, area: Rect, ctx: &Ctx, aria2: &Aria2View, wide: bool) {
    let theme = &ctx.theme;
    let state = ctx.app.pane(Pane::Aria2);
    let visible = rows::downloads(ctx.snapshot, &state.filter);
    let empty = if aria2.state == Aria2State::Running {
        "no downloads: press a to add one"
    } else {
        "no downloads (aria2c is not running)"
    };
    let bar = if wide { 10 } else { 8 };
    let mut columns = vec![
        column("gid", Constraint::Length(if wide { 16 } else { 6 })),
        column("name", Constraint::Min(if wide { 12 } else { 8 })),
        column("owner", Constraint::Length(if wide { 10 } else { 7 })),
        column("status", Constraint::Length(10)),
        column("progress", Constraint::Length(bar + 5)),
        column("done/size", Constraint::Length(10)),
        column("speed", Constraint::Length(7)),
        column("eta", Constraint::Length(if wide { 6 } else { 5 })),
    ];
    if wide {
        columns.push(column("error", Constraint::Min(16)));
    }
    let list = ListFrame {
        name: "Downloads",
        noun: "download",
        empty,
        total: aria2.downloads.len(),
        filter: &state.filter,
        borders: Borders::TOP,
        columns: &columns,
    };
    let selected = state.selected(&rows::download_keys(&visible));
    list.render(
        frame,
        area,
        &visible,
        selected,
        |&download| row(download, wide, usize::from(bar), theme),
        theme,
    );
}

fn row<'a>(download: &'a DownloadView, wide: bool, bar: usize, theme: &Theme) -> Row<'a> {
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
        Cell::from(gid),
        Cell::from(download.name.as_str()),
        Cell::from(download.account.as_deref().unwrap_or("-")),
        Cell::from(status),
        Cell::from(Span::styled(
            format::progress_bar(download.progress(), bar),
            theme.download_status(download.status),
        )),
        Cell::from(size),
        Cell::from(speed),
        Cell::from(eta),
    ];
    if wide {
        cells.push(Cell::from(Span::styled(
            download.error.as_deref().unwrap_or(""),
            theme.error(),
        )));
    }
    Row::new(cells)
}
