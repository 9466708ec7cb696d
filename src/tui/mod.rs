//! The full-screen dashboard: draws `Snapshot`s, turns keys into `Command`s.
//! Never touches processes, files or SQLite; everything goes through a
//! [`Link`]: the manager in this process, or an instance attached to over its
//! control socket (`link::follow`).
//!
//! Keys → [`keymap`] → `Action` → `App::update` (pure) → `Command`s → manager →
//! `Snapshot` → `draw` (pure). The loop in `event_loop` draws only on change.
//!
//! # Starting it from `main`
//!
//! ```no_run
//! use steward::config::Config;
//! use steward::manager::{Manager, ManagerOptions};
//! use steward::model::Command;
//! use steward::paths::DataDir;
//! use steward::tui::{Link, QuitSignals, UiEnd, UiOptions};
//!
//! # async fn dashboard() -> Result<(), Box<dyn std::error::Error>> {
//! let data_dir = DataDir::new("/srv/steward");
//! // 1. Logs: before anything logs, send tracing to the Logs pane (and the log
//! //    file), never to stdout/stderr while the screen is up.
//! steward::tui::start_log_capture(tui_logger::LevelFilter::Debug)?;
//! let _log = steward::logging::init(&data_dir, Some(Box::new(steward::tui::tracing_layer())))?;
//! // 2. The stop signals (before the data dir is locked), the manager, then
//! //    the UI; `run` returns once the shutdown it started has finished (or
//! //    the terminal hung up with the fleet left running: `UiEnd::HungUp`).
//! let mut signals = QuitSignals::install();
//! let options = ManagerOptions {
//!     notifier: Default::default(),
//!     config: Config::default(),
//!     data_dir,
//!     self_exe: std::env::current_exe()?,
//! };
//! let running = Manager::start(options).await?;
//! let link = Link::embedded(&running.handle);
//! let ui = steward::tui::run(link, UiOptions::from_env(), &mut signals).await;
//! // 3. A terminal error ends the UI before any shutdown: stop everything
//! //    anyway (a no-op when one runs), then wait for the shutdown's report.
//! let _ = running.handle.commands.send(Command::Shutdown { force: false }).await;
//! let shutdown_view = running.done.await?;
//! assert_ne!(ui?, UiEnd::Detached, "only an attached dashboard detaches");
//! println!("stopped: {shutdown_view:?}");
//! # Ok(())
//! # }
//! ```

mod accounts_pane;
mod action;
mod add_form;
mod app;
mod aria2_pane;
mod confirm;
mod ctx;
mod details;
mod download_form;
mod draw;
mod event_loop;
mod form;
mod format;
mod header;
mod help;
mod hints;
mod info_panes;
mod keymap;
mod link;
mod list;
mod logs_pane;
mod pane;
mod quiet_backend;
mod rect;
mod rows;
mod shutdown_view;
mod signals;
mod sweep_view;
mod tasks_pane;
mod temp_pane;
mod theme;
mod wakeup;

#[cfg(test)]
mod app_tests;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod loop_tests;
#[cfg(test)]
mod render_tests;

use std::io;

pub use signals::{QuitSignals, StopRequest};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use quiet_backend::QuietBackend;

pub use event_loop::{UiEnd, run_loop};
pub use link::{Attachment, Link};
pub use logs_pane::{start_log_capture, tracing_layer};
pub use theme::UiOptions;

/// Puts the terminal back (raw mode off, main screen) however `run` ends,
/// including when its future is dropped. Best effort and silent: after an SSH
/// hang-up the terminal is gone, and `ratatui::restore` would `eprintln!` the
/// failure, panicking when stderr is that terminal too.
struct RestoreTerminal;

impl Drop for RestoreTerminal {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn restore_terminal() {
    if let Err(err) = ratatui::try_restore() {
        tracing::debug!(error = %err, "cannot restore the terminal (it is probably gone)");
    }
}

/// Restores the terminal before a panic is reported (as ratatui's own hook
/// does, but without printing when that fails: a panic inside the panic hook
/// would abort).
fn set_panic_hook() {
    let reported = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        reported(info);
    }));
}

/// After a hang-up (`UiEnd::HungUp`) with the fleet kept running: points
/// stdin at a pipe nobody writes to and stdout/stderr at `/dev/null`, so
/// nothing can write to the dead terminal, and crossterm's input thread,
/// which otherwise reads EOF from it in a busy loop (measured: two threads
/// at 90 % of a core each), blocks instead. The pipe's writing end is kept
/// open for the process's life.
pub fn let_go_of_the_terminal() -> io::Result<()> {
    let (reader, writer) = io::pipe()?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    rustix::stdio::dup2_stdin(&reader)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    // Never written, never closed: a read of stdin waits forever.
    std::mem::forget(writer);
    Ok(())
}

/// Takes over the terminal and runs the dashboard on `link` until it ends
/// (see [`UiEnd`]), then restores the terminal (silently failing when it
/// hung up). Errors only if the terminal could not be set up.
pub async fn run(link: Link, options: UiOptions, signals: &mut QuitSignals) -> io::Result<UiEnd> {
    let _restore = RestoreTerminal;
    // The panic hook goes in before the terminal is touched.
    set_panic_hook();
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    let backend = QuietBackend::new(CrosstermBackend::new(io::stdout()));
    let mut terminal = Terminal::new(backend)?;
    let events = crossterm::event::EventStream::new();
    let ended = run_loop(&mut terminal, events, link, &options, signals).await;
    // Best effort, also after a hang-up: it marks the cursor shown, so the
    // `Terminal` drop does not try again and `eprintln!` to a dead terminal.
    terminal.backend_mut().show_cursor_for_exit();
    ended
}
