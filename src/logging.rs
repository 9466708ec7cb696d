//! Logging: tracing to `<data-dir>/logs/steward.log` (non-blocking, never to
//! the terminal while a command owns it). `STEWARD_LOG` sets the filter.

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
pub fn init(data_dir: &DataDir, extra: Option<ExtraLayer>) -> std::io::Result<WorkerGuard> {
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
    // A second init in one process (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(extra)
        .with(file)
        .try_init();
    Ok(guard)
}
