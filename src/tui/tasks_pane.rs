//! The Tasks pane: every unit of work steward runs, with kind, owner, state and age.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use crate::manager::{Snapshot, TaskView};

use super::accounts_pane::list_title;
use super::app::App;
use super::format;
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
    let state = app.pane(Pane::Tasks);
    let visible = rows::tasks(snapshot, &state.filter);
    let block = Block::bordered().title(list_title(
        "Tasks",
        visible.len(),
        snapshot.tasks.len(),
        &state.filter,
        theme,
    ));
    if visible.is_empty() {
        let text = if snapshot.tasks.is_empty() {
            "no tasks".to_string()
        } else {
            format!(
                "no task matches \"{}\" (Esc clears the filter)",
                state.filter
            )
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.dim())).block(block),
            area,
        );
        return;
    }
    let widths = [
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Min(14),
        Constraint::Length(12),
        Constraint::Length(20),
        Constraint::Length(5),
    ];
    let selected = state.selected(&rows::task_keys(&visible));
    // Borders and the header line take three lines; only the rows that fit are built.
    let shown = rows::on_screen(
        visible.len(),
        selected,
        usize::from(area.height.saturating_sub(3)),
    );
    let offset = shown.start;
    let table_rows = visible[shown].iter().map(|task| row(task, now_ms, theme));
    let table = Table::new(table_rows, widths)
        .header(Row::new(["id", "kind", "name", "owner", "state", "age"]).style(theme.bold()))
        .block(block)
        .row_highlight_style(theme.selected_row())
        .highlight_symbol("▸ ");
    let mut table_state = TableState::default().with_selected(selected.map(|s| s - offset));
    frame.render_stateful_widget(table, area, &mut table_state);
}

fn row<'a>(task: &'a TaskView, now_ms: i64, theme: &Theme) -> Row<'a> {
    Row::new([
        Cell::from(task.id.to_string()),
        Cell::from(task.kind.label()),
        Cell::from(task.name.as_str()),
        Cell::from(task.owner.as_deref().unwrap_or("-")),
        Cell::from(Line::from(Span::styled(
            format!(
                "{} {}",
                format::task_symbol(&task.state),
                task.state.label(now_ms)
            ),
            theme.task_state(&task.state),
        ))),
        Cell::from(format::coarse_age(task.started_ms, now_ms)),
    ])
}
