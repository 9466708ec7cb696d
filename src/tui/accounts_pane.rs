//! The Accounts pane: one row per account and its worker (state with
//! countdown, pid, uptime, restarts, CPU, RSS; on wide screens name and lock holders).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::Borders;

use crate::model::AccountView;
use crate::time;

use super::ctx::Ctx;
use super::format;
use super::list::{ListFrame, column, number};
use super::pane::Pane;
use super::rows;
use super::theme::Theme;

/// Inner width from which the name and lock columns are shown.
const WIDE_FROM: u16 = 110;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let app = ctx.app;
    let snapshot = ctx.snapshot;
    let now_ms = ctx.now_ms;
    let theme = &ctx.theme;
    let state = app.pane(Pane::Accounts);
    let visible = rows::accounts(snapshot, &state.filter);
    let wide = area.width.saturating_sub(2) >= WIDE_FROM;
    let mut columns = vec![column("id", Constraint::Min(10))];
    if wide {
        columns.push(column("name", Constraint::Min(12)));
    }
    columns.extend([
        column("on", Constraint::Length(3)),
        column("state", Constraint::Length(24)),
        number("pid", Constraint::Length(7)),
        number("up", Constraint::Length(5)),
        number("rst", Constraint::Length(3)),
        number("cpu%", Constraint::Length(5)),
        number("rss", Constraint::Length(9)),
    ]);
    if wide {
        columns.push(column("lock held by", Constraint::Length(16)));
    }
    let list = ListFrame {
        name: "Accounts",
        note: None,
        noun: "account",
        empty: "no accounts yet: press a to add one",
        total: snapshot.accounts.len(),
        filter: &state.filter,
        borders: Borders::ALL,
        columns: &columns,
    };
    let selected = state.selected(&rows::account_keys(&visible));
    list.render(
        frame,
        area,
        &visible,
        selected,
        |&account| row(account, wide, now_ms, theme),
        theme,
    );
}

fn row<'a>(account: &'a AccountView, wide: bool, now_ms: i64, theme: &Theme) -> Vec<Text<'a>> {
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
    let mut cells = vec![Text::from(account.id.as_str())];
    if wide {
        cells.push(Text::from(account.name.as_str()));
    }
    cells.extend([
        Text::from(if account.enabled { "yes" } else { "no" }),
        Text::from(state),
        Text::from(format::or_dash(worker.pid)),
        Text::from(uptime),
        Text::from(worker.restarts.to_string()),
        Text::from(format::or_dash(
            worker.cpu_percent.map(|c| format!("{c:.1}")),
        )),
        Text::from(format::or_dash(worker.rss_bytes.map(time::human_bytes))),
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
        cells.push(Text::from(holders));
    }
    cells
}
