//! The Accounts pane: one row per account and its worker (state with
//! countdown, pid, uptime, restarts, CPU, RSS; on wide screens name and lock holders).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use crate::manager::{AccountView, Snapshot};
use crate::time;

use super::app::App;
use super::format;
use super::pane::Pane;
use super::rows;
use super::theme::Theme;

/// Inner width from which the name and lock columns are shown.
const WIDE_FROM: u16 = 110;

pub fn render(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    snapshot: &Snapshot,
    now_ms: i64,
    theme: &Theme,
) {
    let state = app.pane(Pane::Accounts);
    let visible = rows::accounts(snapshot, &state.filter);
    let block = Block::bordered().title(list_title(
        "Accounts",
        visible.len(),
        snapshot.accounts.len(),
        &state.filter,
        theme,
    ));
    if visible.is_empty() {
        let text = if snapshot.accounts.is_empty() {
            "no accounts yet: press a to add one".to_string()
        } else {
            format!(
                "no account matches \"{}\" (Esc clears the filter)",
                state.filter
            )
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.dim())).block(block),
            area,
        );
        return;
    }
    let wide = area.width.saturating_sub(2) >= WIDE_FROM;
    let mut header = vec!["id"];
    let mut widths = vec![Constraint::Min(10)];
    if wide {
        header.push("name");
        widths.push(Constraint::Min(12));
    }
    header.extend(["on", "state", "pid", "up", "rst", "cpu%", "rss"]);
    widths.extend([
        Constraint::Length(3),
        Constraint::Length(24),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(3),
        Constraint::Length(5),
        Constraint::Length(9),
    ]);
    if wide {
        header.push("lock held by");
        widths.push(Constraint::Length(16));
    }
    let selected = state.selected(&rows::account_keys(&visible));
    // Borders and the header line take three lines; only the rows that fit are built.
    let shown = rows::on_screen(
        visible.len(),
        selected,
        usize::from(area.height.saturating_sub(3)),
    );
    let offset = shown.start;
    let table_rows = visible[shown]
        .iter()
        .map(|account| row(account, wide, now_ms, theme));
    let table = Table::new(table_rows, widths)
        .header(Row::new(header).style(theme.bold()))
        .block(block)
        .row_highlight_style(theme.selected_row())
        .highlight_symbol("▸ ");
    let mut table_state = TableState::default().with_selected(selected.map(|s| s - offset));
    frame.render_stateful_widget(table, area, &mut table_state);
}

fn row<'a>(account: &'a AccountView, wide: bool, now_ms: i64, theme: &Theme) -> Row<'a> {
    let worker = &account.worker;
    let uptime = match (worker.state.is_active(), worker.started_ms) {
        (true, Some(started)) => format::coarse_age(started, now_ms),
        _ => "-".into(),
    };
    let state = Line::from(Span::styled(
        format!(
            "{} {}",
            format::worker_symbol(&worker.state),
            worker.state.label(now_ms)
        ),
        theme.worker_state(&worker.state),
    ));
    let mut cells = vec![Cell::from(account.id.as_str())];
    if wide {
        cells.push(Cell::from(account.name.as_str()));
    }
    cells.extend([
        Cell::from(if account.enabled { "yes" } else { "no" }),
        Cell::from(state),
        Cell::from(format::or_dash(worker.pid)),
        Cell::from(uptime),
        Cell::from(worker.restarts.to_string()),
        Cell::from(format::or_dash(
            worker.cpu_percent.map(|c| format!("{c:.1}")),
        )),
        Cell::from(format::or_dash(worker.rss_bytes.map(time::human_bytes))),
    ]);
    if wide {
        let holders = if worker.lock_holders.is_empty() {
            "-".to_string()
        } else {
            worker
                .lock_holders
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        cells.push(Cell::from(holders));
    }
    Row::new(cells)
}

/// ` Accounts (3) ` or ` Accounts (2 of 3 match "ali") `.
pub fn list_title(
    name: &str,
    shown: usize,
    total: usize,
    filter: &str,
    theme: &Theme,
) -> Line<'static> {
    let text = if filter.is_empty() {
        format!(" {name} ({total}) ")
    } else {
        format!(" {name} ({shown} of {total} match \"{filter}\") ")
    };
    Line::from(Span::styled(text, theme.bold()))
}
