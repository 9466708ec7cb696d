//! The shutdown progress view: the manager's phases as a checklist, what each
//! running phase still waits for (with pids and a countdown to its deadline),
//! and how to force. Up from the first `q` until the manager reports the end.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::manager::{PhaseState, Snapshot};
use crate::time;

use super::app::{App, ShutdownAsked};
use super::draw::centered;
use super::format;
use super::keymap::{Context, KEYMAP, keys_label};
use super::theme::Theme;

pub fn render(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    snapshot: &Snapshot,
    now_ms: i64,
    theme: &Theme,
) {
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
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("{} {:<24}", format::phase_symbol(&phase.state), phase.name),
                        theme.phase_state(&phase.state),
                    ),
                    Span::styled(status, theme.phase_state(&phase.state)),
                ]));
                for item in &phase.pending {
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
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let popup = centered(area, area.width.saturating_sub(4).min(76), height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(title, theme.error()))),
        popup,
    );
}
