//! The Temp pane: the temp registry's figures (root, files, dirs, bytes,
//! registered and untracked entries, orphans, oldest age, when they were last
//! counted, whether a walk runs) and its owners as a selectable, filterable table.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::model::{TempOwnerView, TempView};
use crate::time;

use super::ctx::Ctx;
use super::format;
use super::info_panes::{field, placeholder};
use super::list::{Column, ListFrame, column, number};
use super::pane::Pane;
use super::rows;
use super::theme::Theme;

const COLUMNS: [Column; 7] = [
    number("pid", Constraint::Length(8)),
    column("account", Constraint::Min(10)),
    number("entries", Constraint::Length(7)),
    number("files", Constraint::Length(7)),
    number("dirs", Constraint::Length(6)),
    number("size", Constraint::Length(10)),
    column("owner", Constraint::Length(7)),
];

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let snapshot = ctx.snapshot;
    let now_ms = ctx.now_ms;
    let theme = &ctx.theme;
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
    render_owners(frame, table_area, ctx, temp);
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

fn render_owners(frame: &mut Frame, area: Rect, ctx: &Ctx, temp: &TempView) {
    let theme = &ctx.theme;
    let state = ctx.app.pane(Pane::Temp);
    let visible = rows::temp_owners(ctx.snapshot, &state.filter);
    let list = ListFrame {
        name: "Owners",
        note: None,
        noun: "owner",
        empty: "no owners: nothing is registered",
        total: temp.owners.len(),
        filter: &state.filter,
        borders: Borders::TOP,
        columns: &COLUMNS,
    };
    let selected = state.selected(&rows::temp_owner_keys(&visible));
    let steward_pid = ctx.snapshot.instance.pid;
    list.render(
        frame,
        area,
        &visible,
        selected,
        |&owner| row(owner, steward_pid, theme),
        theme,
    );
}

fn row<'a>(owner: &'a TempOwnerView, steward_pid: i32, theme: &Theme) -> Vec<Text<'a>> {
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
    vec![
        Text::from(owner.pid.to_string()),
        Text::from(account),
        Text::from(owner.entries.to_string()),
        Text::from(owner.files.to_string()),
        Text::from(owner.dirs.to_string()),
        Text::from(time::human_bytes(owner.bytes)),
        Text::from(Span::styled(
            format!("{symbol} {}", rows::owner_word(owner)),
            style,
        )),
    ]
}
