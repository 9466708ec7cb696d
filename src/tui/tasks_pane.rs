//! The Tasks pane: every unit of work steward runs, with kind, owner, state and age.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::Borders;

use crate::model::TaskView;

use super::ctx::Ctx;
use super::format;
use super::list::{Column, ListFrame, column, number};
use super::pane::Pane;
use super::rows;
use super::theme::Theme;

const COLUMNS: [Column; 6] = [
    number("id", Constraint::Length(5)),
    column("kind", Constraint::Length(8)),
    column("name", Constraint::Min(14)),
    column("owner", Constraint::Length(12)),
    column("state", Constraint::Length(20)),
    number("age", Constraint::Length(5)),
];

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let app = ctx.app;
    let snapshot = ctx.snapshot;
    let now_ms = ctx.now_ms;
    let theme = &ctx.theme;
    let state = app.pane(Pane::Tasks);
    let visible = rows::tasks(snapshot, &state.filter);
    let list = ListFrame {
        name: "Tasks",
        note: None,
        noun: "task",
        empty: "no tasks",
        total: snapshot.tasks.len(),
        filter: &state.filter,
        borders: Borders::ALL,
        columns: &COLUMNS,
    };
    let selected = state.selected(&rows::task_keys(&visible));
    list.render(
        frame,
        area,
        &visible,
        selected,
        |&task| row(task, now_ms, theme),
        theme,
    );
}

fn row<'a>(task: &'a TaskView, now_ms: i64, theme: &Theme) -> Vec<Text<'a>> {
    vec![
        Text::from(task.id.to_string()),
        Text::from(task.kind.label()),
        Text::from(task.name.as_str()),
        Text::from(task.owner.as_deref().unwrap_or("-")),
        Text::from(Line::from(Span::styled(
            format!(
                "{} {}",
                format::task_symbol(&task.state),
                task.state.label(now_ms)
            ),
            theme.task_state(&task.state),
        ))),
        Text::from(format::coarse_age(task.started_ms, now_ms)),
    ]
}
