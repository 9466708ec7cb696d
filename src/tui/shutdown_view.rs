//! The shutdown progress view: a full-screen modal with an overall gauge, the
//! manager's phases as a checklist (state, elapsed, deadline, outcome), what
//! the running phase still waits for (with pids and a countdown to SIGKILL),
//! and how to force. Up from the first `q` until the manager reports the end.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Gauge, Paragraph};

use crate::model::PhaseState;
use crate::time;

use super::app::ShutdownAsked;
use super::ctx::Ctx;
use super::format;
use super::keymap::{Context, KEYMAP, keys_label};

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let app = ctx.app;
    let snapshot = ctx.snapshot;
    let now_ms = ctx.now_ms;
    let theme = &ctx.theme;
    let forced = app.shutdown == ShutdownAsked::Forcefully
        || snapshot.shutdown.as_ref().is_some_and(|s| s.forced);
    let mut lines = Vec::new();
    match &snapshot.shutdown {
        None => lines.push(Line::from(
            "shutdown asked; waiting for the manager to begin…",
        )),
        Some(view) => {
            lines.push(Line::from(format!(
                "{} since the shutdown began",
                time::human_between(view.started_ms, now_ms)
            )));
            lines.push(Line::default());
            for phase in &view.phases {
                let status = match (&phase.state, phase.deadline_ms) {
                    (PhaseState::Running, Some(deadline)) => {
                        format!(
                            "running · deadline in {}s",
                            time::secs_until(deadline, now_ms)
                        )
                    }
                    (PhaseState::Done | PhaseState::TimedOut | PhaseState::Failed { .. }, _) => {
                        match (phase.started_ms, phase.ended_ms) {
                            (Some(start), Some(end)) => {
                                format!(
                                    "{} in {}",
                                    phase.state.label(),
                                    time::human_between(start, end)
                                )
                            }
                            _ => phase.state.label(),
                        }
                    }
                    (state, _) => state.label(),
                };
                let status = match &phase.detail {
                    Some(detail) => format!("{status} · {detail}"),
                    None => status,
                };
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("{} {:<24}", format::phase_symbol(&phase.state), phase.name),
                        theme.phase_state(&phase.state),
                    ),
                    Span::styled(status, theme.phase_state(&phase.state)),
                ]));
                // Hundreds of workers cannot all be listed: show what fits.
                let room = usize::from(area.height).saturating_sub(view.phases.len() + 12);
                let shown = if phase.pending.len() > room {
                    room.saturating_sub(1)
                } else {
                    phase.pending.len()
                };
                for item in &phase.pending[..shown] {
                    let pids: Vec<String> = item.pids.iter().map(|p| format!("pid {p}")).collect();
                    let countdown = match item.deadline_ms {
                        _ if forced => "forced (SIGKILL)".to_string(),
                        Some(deadline) => {
                            format!("kill in {}s", time::secs_until(deadline, now_ms))
                        }
                        None => String::new(),
                    };
                    lines.push(Line::from(Span::styled(
                        format!(
                            "    ◌ {:<20} {:<16} {countdown}",
                            item.label,
                            pids.join(" ")
                        ),
                        theme.plain(),
                    )));
                }
                if shown < phase.pending.len() {
                    lines.push(Line::from(Span::styled(
                        format!(
                            "    … and {} more still running",
                            phase.pending.len() - shown
                        ),
                        theme.dim(),
                    )));
                }
            }
        }
    }
    lines.push(Line::default());
    if forced {
        lines.push(Line::from(Span::styled(
            "forced: what is still running gets SIGKILL now",
            theme.error(),
        )));
    } else {
        for binding in KEYMAP.iter().filter(|b| b.context == Context::Shutdown) {
            lines.push(Line::from(vec![
                Span::styled(keys_label(binding), theme.bold()),
                Span::raw(format!(" again: {}", binding.description)),
            ]));
        }
    }
    let title = if forced {
        " Shutting down (forced) "
    } else {
        " Shutting down "
    };
    frame.render_widget(Clear, area);
    let block = Block::bordered().title(Span::styled(title, theme.error()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [gauge_area, _, list_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let (ended, total) = snapshot.shutdown.as_ref().map_or((0, 0), |v| {
        let ended = v
            .phases
            .iter()
            .filter(|p| !matches!(p.state, PhaseState::Pending | PhaseState::Running))
            .count();
        (ended, v.phases.len())
    });
    let ratio = if total == 0 {
        0.0
    } else {
        ended as f64 / total as f64
    };
    frame.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(format!("{ended}/{total} phases"))
            .gauge_style(theme.accent())
            .use_unicode(true),
        gauge_area,
    );
    frame.render_widget(Paragraph::new(lines), list_area);
}
