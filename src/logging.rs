//! Logging: tracing to `<data-dir>/logs/steward.log` (non-blocking, never to
//! the terminal while a command owns it), to the journal on stderr when
//! steward runs under systemd, and to the control socket's subscribers.
//! `STEWARD_LOG` sets the filter.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::paths::DataDir;

/// Log lines waiting for the file writer thread before new ones are dropped.
const LINES_QUEUED: usize = 8 * 1024;

/// A boxed extra layer (the TUI's log pane) added beside the file.
pub type ExtraLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber. Keep the guard alive for the process's
/// life: dropping it flushes the file writer.
pub fn init(data_dir: &DataDir, extra: Option<ExtraLayer>) -> std::io::Result<LogGuard> {
    let dir = data_dir.logs_dir();
    crate::layout::create_private_dir(&dir)?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("steward")
        .filename_suffix("log")
        .max_log_files(7)
        .build(&dir)
        .map_err(std::io::Error::other)?;
    // The default queue (128,000 lines) costs 4 MB of resident memory up front,
    // a fifth of an idle instance; the writer thread drains a start-up burst
    // of a few thousand lines long before this many are waiting.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LINES_QUEUED)
        .finish(appender);
    let filter = EnvFilter::try_from_env("STEWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let file = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_filter(filter);
    // Under systemd (and never beside a dashboard, which owns the terminal)
    // the lines also go to stderr, the journal, with syslog priorities.
    let (journal, journal_guard) = if extra.is_none() && crate::systemd::under_journal() {
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .buffered_lines_limit(LINES_QUEUED)
            .finish(std::io::stderr());
        let filter =
            EnvFilter::try_from_env("STEWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(false)
            .event_format(JournalFormat)
            .with_filter(filter);
        (Some(layer), Some(guard))
    } else {
        (None, None)
    };
    // A second init in one process (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(extra)
        .with(FeedLayer)
        .with(file)
        .with(journal)
        .try_init();
    Ok(LogGuard {
        _file: guard,
        _journal: journal_guard,
    })
}

/// Keep it alive for the process's life: dropping it flushes the writers.
pub struct LogGuard {
    _file: WorkerGuard,
    _journal: Option<WorkerGuard>,
}

/// `<6>target: message key=value`: the priority prefix journald reads
/// (sd-daemon(3)), no timestamp (the journal keeps its own), no colours.
struct JournalFormat;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JournalFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let metadata = event.metadata();
        write!(
            writer,
            "<{}>{}: ",
            syslog_priority(*metadata.level()),
            metadata.target()
        )?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// err, warning, info, debug (sd-daemon(3)'s `SD_ERR` ... `SD_DEBUG`).
fn syslog_priority(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        tracing::Level::DEBUG | tracing::Level::TRACE => 7,
    }
}

/// For a dashboard attached to another instance: its events (and the
/// instance's lines it re-emits) go to `pane` only, never into the data
/// dir's log, which is the instance's own.
pub fn init_pane_only(pane: ExtraLayer) {
    let filter = EnvFilter::try_from_env("STEWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(pane.with_filter(filter))
        .try_init();
}

/// Log lines for the control socket's subscribers (an attached dashboard's
/// Logs pane), INFO and above. Lines are only formatted while somebody
/// listens; a subscriber that falls behind loses the oldest (`Lagged`).
pub fn feed() -> &'static tokio::sync::broadcast::Sender<std::sync::Arc<crate::model::LogLine>> {
    static FEED: std::sync::OnceLock<
        tokio::sync::broadcast::Sender<std::sync::Arc<crate::model::LogLine>>,
    > = std::sync::OnceLock::new();
    FEED.get_or_init(|| tokio::sync::broadcast::channel(FEED_LINES).0)
}

/// Lines a slow subscriber may be behind before it loses the oldest.
const FEED_LINES: usize = 1024;

/// The tracing layer that feeds [`feed`].
struct FeedLayer;

impl<S: tracing::Subscriber> Layer<S> for FeedLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let feed = feed();
        let level = *event.metadata().level();
        if feed.receiver_count() == 0 || level > tracing::Level::INFO {
            return;
        }
        let mut text = TextVisitor(String::new());
        event.record(&mut text);
        let _ = feed.send(std::sync::Arc::new(crate::model::LogLine {
            at_ms: crate::time::now_ms(),
            level: match level {
                tracing::Level::ERROR => crate::model::LogLevel::Error,
                tracing::Level::WARN => crate::model::LogLevel::Warn,
                tracing::Level::INFO => crate::model::LogLevel::Info,
                tracing::Level::DEBUG => crate::model::LogLevel::Debug,
                tracing::Level::TRACE => crate::model::LogLevel::Trace,
            },
            target: event.metadata().target().to_string(),
            text: text.0,
        }));
    }
}

/// The message, then `key=value` for each other field, as the log file has them.
struct TextVisitor(String);

impl tracing::field::Visit for TextVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = if field.name() == "message" {
            write!(self.0, "{value:?}")
        } else {
            write!(self.0, "{}={value:?}", field.name())
        };
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            self.0.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}
