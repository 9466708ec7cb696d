//! `draw`: the whole screen as a pure function of `App`, `Snapshot` and a clock
//! reading. Lays out header, tabs, the focused pane, status line and footer, then
//! the modals, then the shutdown progress view on top of everything.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::model::Snapshot;

use super::app::{App, Modal};
use super::ctx::Ctx;
use super::hints::key_hints;
use super::pane::Pane;
use super::theme::Theme;
use super::{
    accounts_pane, add_form, aria2_pane, confirm, details, download_form, format, header, help,
    logs_pane, shutdown_view, sweep_view, tasks_pane, temp_pane,
};

/// The smallest screen the layout is made for.
pub const MIN_COLUMNS: u16 = 80;
pub const MIN_ROWS: u16 = 24;
pub const TOO_SMALL: &str = "terminal too small (need 80x24)";

pub fn draw(frame: &mut Frame, app: &App, snapshot: &Snapshot, now_ms: i64) {
    let area = frame.area();
    if area.width < MIN_COLUMNS || area.height < MIN_ROWS {
        frame.render_widget(Paragraph::new(TOO_SMALL), area);
        return;
    }
    let ctx = Ctx {
        app,
        snapshot,
        now_ms,
        theme: Theme::new(app.color),
    };
    let theme = ctx.theme;
    let [header_area, tabs_area, body_area, status_area, footer_area] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);

    header::render(frame, header_area, snapshot, app.attachment, now_ms, &theme);
    render_tabs(frame, tabs_area, app, &theme);
    match app.focus {
        Pane::Accounts => accounts_pane::render(frame, body_area, &ctx),
        Pane::Tasks => tasks_pane::render(frame, body_area, &ctx),
        Pane::Aria2 => aria2_pane::render(frame, body_area, &ctx),
        Pane::Temp => temp_pane::render(frame, body_area, &ctx),
        Pane::Logs => logs_pane::render(frame, body_area, app, &theme),
    }
    render_status(frame, status_area, &ctx);
    frame.render_widget(
        Paragraph::new(key_hints(
            app.mode(snapshot),
            app.attachment,
            footer_area.width,
            &theme,
        )),
        footer_area,
    );

    for modal in &app.modals {
        match modal {
            Modal::Help { scroll } => help::render(frame, area, *scroll, app.attachment, &theme),
            Modal::Details(target) => {
                details::render(frame, body_area, target, snapshot, now_ms, &theme)
            }
            Modal::Confirm(dialog) => confirm::render(frame, area, dialog, &theme),
            Modal::AddAccount(form) => add_form::render(frame, area, form, &theme),
            Modal::AddDownload(form) => download_form::render(frame, area, form, &theme),
            Modal::Sweep(dialog) => sweep_view::render(frame, area, dialog, snapshot, &theme),
        }
    }
    if app.shutdown_shown(snapshot) {
        shutdown_view::render(frame, area, &ctx);
    }
}

/// `[1 Accounts]  2 Tasks ...` with the focused pane bracketed, and the filter on the right.
fn render_tabs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = Vec::new();
    for pane in Pane::ALL {
        let label = format!("{} {}", pane.digit(), pane.title());
        if pane == app.focus {
            spans.push(Span::styled(format!("[{label}]"), theme.accent()));
        } else {
            spans.push(Span::styled(format!(" {label} "), theme.plain()));
        }
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);

    let filter = &app.pane(app.focus).filter;
    if app.filter_editing || !filter.is_empty() {
        let text = format!("filter: /{filter}");
        let width = u16::try_from(text.chars().count() + 1)
            .unwrap_or(u16::MAX)
            .min(area.width / 2);
        let filter_area = Rect {
            x: area.right().saturating_sub(width),
            width,
            ..area
        };
        let style = if app.filter_editing {
            theme.bold()
        } else {
            theme.plain()
        };
        frame.render_widget(Paragraph::new(Span::styled(text, style)), filter_area);
        if app.filter_editing && app.modals.is_empty() {
            let column = filter_area.x + width.saturating_sub(1);
            frame.set_cursor_position(Position::new(column, area.y));
        }
    }
}

/// The answer to the last key, else the newest notice from the manager.
fn render_status(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let app = ctx.app;
    let snapshot = ctx.snapshot;
    let now_ms = ctx.now_ms;
    let theme = &ctx.theme;
    let line = if let Some(hint) = &app.hint {
        Line::from(Span::styled(format!("· {hint}"), theme.plain()))
    } else if let Some(notice) = app.visible_notice(snapshot, now_ms) {
        Line::from(Span::styled(
            format!("{}: {}", format::notice_word(notice.level), notice.text),
            theme.notice(notice.level),
        ))
    } else {
        Line::default()
    };
    frame.render_widget(Paragraph::new(line), area);
}
