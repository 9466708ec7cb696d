//! The Logs pane: tui-logger's widget over the tracing stream, with a level
//! filter. Also the tracing layer `main` installs so events reach the pane, and
//! the "new log lines" signal the loop uses to repaint the pane only while it is visible.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Block;
use tokio::sync::Notify;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tui_logger::{
    LevelFilter, TuiLoggerLevelOutput, TuiLoggerWidget, TuiTracingSubscriberLayer, TuiWidgetState,
};

use super::app::App;
use super::theme::Theme;

/// Woken by every tracing event that reaches the pane's layer.
static NEW_LOG_LINES: Notify = Notify::const_new();

/// Lines captured since tui-logger last moved them out of its hot buffer.
static UNMOVED_LINES: AtomicUsize = AtomicUsize::new(0);

/// tui-logger keeps new lines in a hot buffer of 1,000 until `move_events`
/// moves them into the widget's buffer; beyond that it drops the oldest. Its own
/// mover thread does that every 10 ms, waking 100 times a second forever (0.4 %
/// of a core on an idle dashboard). Instead lines are moved just before the
/// pane is drawn, and by the logging thread itself once half the hot buffer is
/// used, so no line is lost and an idle steward wakes nobody.
const MOVE_AFTER_LINES: usize = 500;

/// Stores nothing: wakes the UI loop when a line arrives, and moves lines on
/// before tui-logger's hot buffer could overflow.
struct NewLinesSignal;

impl<S: Subscriber> Layer<S> for NewLinesSignal {
    fn on_event(&self, _event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if UNMOVED_LINES.fetch_add(1, Ordering::Relaxed) + 1 >= MOVE_AFTER_LINES {
            move_new_lines();
        }
        NEW_LOG_LINES.notify_one();
    }
}

/// Moves captured lines into the widget's buffer; the loop calls it before
/// drawing the Logs pane.
pub fn move_new_lines() {
    UNMOVED_LINES.store(0, Ordering::Relaxed);
    tui_logger::move_events();
}

/// The layer that feeds the Logs pane. `main` adds it to its subscriber when
/// the TUI runs (next to the log-file layer) and calls [`start_log_capture`] once.
pub fn tracing_layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    TuiTracingSubscriberLayer.and_then(NewLinesSignal)
}

/// Sets the most detailed level tui-logger keeps. Unlike `tui_logger::init_logger`
/// it starts no mover thread (see [`MOVE_AFTER_LINES`]); with tracing support
/// that thread is all `init_logger` adds. Infallible; `io::Result` for callers
/// written against the thread-starting version.
pub fn start_log_capture(max_level: LevelFilter) -> io::Result<()> {
    tui_logger::set_default_level(max_level);
    Ok(())
}

/// Resolves when a log line arrived since the last call (one stored wake-up at most).
pub async fn new_log_lines() {
    NEW_LOG_LINES.notified().await;
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let state = TuiWidgetState::new().set_default_display_level(app.log_level);
    let level = app.log_level.to_string().to_lowercase();
    let title = if app.log_level == LevelFilter::Trace {
        " Logs (every level) ".to_string()
    } else {
        format!(" Logs ({level} and above) ")
    };
    let mut widget = TuiLoggerWidget::default()
        .block(Block::bordered().title(Span::styled(title, theme.bold())))
        .output_separator(' ')
        .output_level(Some(TuiLoggerLevelOutput::Long))
        .output_target(true)
        .output_file(false)
        .output_line(false)
        .state(&state);
    if let Some([error, warn, detail]) = theme.log_styles() {
        widget = widget
            .style_error(error)
            .style_warn(warn)
            .style_debug(detail)
            .style_trace(detail);
    }
    frame.render_widget(widget, area);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[tokio::test]
    async fn a_log_line_through_the_layer_wakes_the_pane() {
        // tui-logger's buffer is global and the Logs render test snapshots it
        // empty: this target's lines are dropped there, yet still signalled.
        tui_logger::set_level_for_target("steward_test_quiet", LevelFilter::Off);
        let subscriber = tracing_subscriber::registry().with(tracing_layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "steward_test_quiet", account = "alice", "worker started");
        });
        tokio::time::timeout(Duration::from_secs(10), new_log_lines())
            .await
            .expect("the layer did not signal the new line");
    }
}
