//! The Temp pane: the temp registry's figures (root, files, dirs, bytes,
//! registered and untracked entries, orphans, oldest age, when they were last
//! counted, whether a walk runs) and its owners as a selectable, filterable table.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use crate::manager::{Snapshot, TempOwnerView, TempView};
use crate::time;

use super::accounts_pane::list_title;
use super::app::App;
use super::format;
use super::info_panes::placeholder;
use super::pane::Pane;
use super::rows;
use super::theme::Theme;

pub fn render(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    snapshot: &Snapshot,
    now_ms: i64,
    theme: &Theme,
) {
    let Some(temp) = &snapshot.temp else {
        return placeholder(
            frame,
            area,
            "Temp",
            "This build has no temp registry yet. When it lands, this pane shows the registered temp files and dirs, their size, and the orphans a sweep would remove.",
            theme,
        );
    };
    let block = Block::bordered().title(Span::styled(" Temp ", theme.bold()));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let info = info_lines(temp, now_ms, theme);
    let [info_area, table_area] = Layout::vertical([
        Constraint::Length(u16::try_from(info.len()).unwrap_or(u16::MAX)),
        Constraint::Min(3),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(info), info_area);
    render_owners(frame, table_area, app, snapshot, temp, theme);
}

fn field(name: &str, spans: Vec<Span<'static>>, theme: &Theme) -> Line<'static> {
    let mut line = vec![Span::styled(format!("{name:<10}"), theme.bold())];
    line.extend(spans);
    Line::from(line)
}

fn plural(count: u64, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

/// The figures. Ages are minute-grained, so an idle pane repaints once a minute at most.
fn info_lines(temp: &TempView, now_ms: i64, theme: &Theme) -> Vec<Line<'static>> {
    let orphaned = if temp.orphaned > 0 {
        Span::styled(
            format!(
                "⚠ {} whose owner is dead (o sweeps)",
                plural(temp.orphaned, "entry", "entries")
            ),
            theme.warn(),
        )
    } else {
        Span::styled("✓ none", theme.good())
    };
    let oldest = match temp.oldest_ms {
        Some(at) => format!("{} old", format::coarse_age(at, now_ms)),
        None => "-".to_string(),
    };
    let mut counted = vec![Span::raw(if temp.refreshed_ms > 0 {
        format!(
            "{} ago (the walk took {})",
            format::coarse_age(temp.refreshed_ms, now_ms),
            time::human(Duration::from_millis(temp.walk_ms))
        )
    } else {
        "not yet".to_string()
    })];
    if temp.walking {
        counted.push(Span::styled(" · ◐ walking now", theme.accent()));
    }
    vec![
        field(
            "root",
            vec![Span::raw(temp.root.display().to_string())],
            theme,
        ),
        field(
            "contents",
            vec![Span::raw(format!(
                "{} · {} · {}",
                plural(temp.files, "file", "files"),
                plural(temp.dirs, "dir", "dirs"),
                time::human_bytes(temp.bytes)
            ))],
            theme,
        ),
        field(
            "entries",
            vec![Span::raw(format!(
                "{} registered · {} untracked",
                temp.entries, temp.untracked
            ))],
            theme,
        ),
        field("orphaned", vec![orphaned], theme),
        field("oldest", vec![Span::raw(oldest)], theme),
        field("counted", counted, theme),
    ]
}

fn render_owners(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    snapshot: &Snapshot,
    temp: &TempView,
    theme: &Theme,
) {
    let state = app.pane(Pane::Temp);
    let visible = rows::temp_owners(snapshot, &state.filter);
    let block = Block::new().borders(Borders::TOP).title(list_title(
        "Owners",
        visible.len(),
        temp.owners.len(),
        &state.filter,
        theme,
    ));
    if visible.is_empty() {
        let text = if temp.owners.is_empty() {
            "no owners: nothing is registered".to_string()
        } else {
            format!(
                "no owner matches \"{}\" (Esc clears the filter)",
                state.filter
            )
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.dim())).block(block),
            area,
        );
        return;
    }
    let header = [
        "pid", "account", "entries", "files", "dirs", "size", "owner",
    ];
    let widths = [
        Constraint::Length(8),
        Constraint::Min(10),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Length(7),
    ];
    let steward_pid = snapshot.instance.pid;
    let table_rows = visible.iter().map(|owner| row(owner, steward_pid, theme));
    let table = Table::new(table_rows, widths)
        .header(Row::new(header).style(theme.bold()))
        .block(block)
        .row_highlight_style(theme.selected_row())
        .highlight_symbol("▸ ");
    let mut table_state =
        TableState::default().with_selected(state.selected(&rows::temp_owner_keys(&visible)));
    frame.render_stateful_widget(table, area, &mut table_state);
}

fn row<'a>(owner: &'a TempOwnerView, steward_pid: i32, theme: &Theme) -> Row<'a> {
    let account = match &owner.account {
        Some(account) => account.as_str(),
        None if owner.pid == steward_pid => "(steward)",
        None => "-",
    };
    let (symbol, style) = if owner.alive {
        ("●", theme.good())
    } else {
        ("✗", theme.warn())
    };
    Row::new([
        Cell::from(owner.pid.to_string()),
        Cell::from(account),
        Cell::from(owner.entries.to_string()),
        Cell::from(owner.files.to_string()),
        Cell::from(owner.dirs.to_string()),
        Cell::from(time::human_bytes(owner.bytes)),
        Cell::from(Span::styled(
            format!("{symbol} {}", rows::owner_word(owner)),
            style,
        )),
    ])
}
