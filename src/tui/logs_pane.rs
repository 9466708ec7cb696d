//! The Logs pane: tui-logger's widget over the tracing stream, with a level
//! filter. Also the tracing layer `main` installs so events reach the pane, and
//! the "new log lines" signal the loop uses to repaint the pane only while it is visible.

use std::io;

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

/// Counts nothing, stores nothing: only wakes the UI loop when a line arrives.
struct NewLinesSignal;

impl<S: Subscriber> Layer<S> for NewLinesSignal {
    fn on_event(&self, _event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        NEW_LOG_LINES.notify_one();
    }
}

/// The layer that feeds the Logs pane. `main` adds it to its subscriber when
/// the TUI runs (next to the log-file layer) and calls [`start_log_capture`] once.
pub fn tracing_layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    TuiTracingSubscriberLayer.and_then(NewLinesSignal)
}

/// Starts tui-logger's buffer (a thread that moves captured lines into the
/// widget's buffer every 10 ms) and sets the most detailed level it keeps.
pub fn start_log_capture(max_level: LevelFilter) -> io::Result<()> {
    tui_logger::init_logger(max_level).map_err(io::Error::other)
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
        let subscriber = tracing_subscriber::registry().with(tracing_layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(account = "alice", "worker started");
        });
        tokio::time::timeout(Duration::from_secs(10), new_log_lines())
            .await
            .expect("the layer did not signal the new line");
    }
}
