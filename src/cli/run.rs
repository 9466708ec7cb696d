//! `steward run --headless`, the dashboard, and `steward demo-worker`: the
//! commands that run for a long time, each on its own tokio runtime.

use std::time::Duration;

use std::io::{IsTerminal, Write};

use super::failure::{Failure, store_failure};
use super::globals::Globals;
use crate::manager::{Manager, ManagerOptions, StartError};
use crate::model::{Command, PhaseState, ShutdownView};
use crate::tui::{QuitSignals, StopRequest};

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))
}

pub(super) fn options(globals: &Globals) -> Result<ManagerOptions, Failure> {
    let config = globals.config()?;
    let self_exe = std::env::current_exe()
        .map_err(|e| Failure::runtime(format!("cannot find steward's own binary: {e}")))?;
    Ok(ManagerOptions {
        config,
        data_dir: globals.data_dir.clone(),
        self_exe,
    })
}

/// Raises the open-file limit before any worker starts (see `proc::limits`).
/// A failure only narrows how many workers fit: logged, not fatal.
fn raise_open_files() {
    match crate::proc::raise_open_files() {
        Ok(crate::proc::OpenFiles::Raised { from, to }) => {
            tracing::info!(from, to = ?to, "open-file limit raised")
        }
        Ok(crate::proc::OpenFiles::Unchanged { .. }) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

pub(super) fn start_failure(e: StartError) -> Failure {
    match e {
        StartError::InUse(e) => Failure::in_use(e.to_string()),
        StartError::Store(e) => store_failure(e),
        StartError::Temp(e) => Failure::runtime(format!(
            "{e} (check permissions of the temp root, or set [temp] root)"
        )),
        StartError::DataDir { .. } => {
            Failure::runtime(format!("{e} (check permissions or use another --data-dir)"))
        }
    }
}

/// Runs the manager with no UI until a stop signal: SIGINT/SIGTERM (a second
/// one forces), SIGHUP, SIGUSR1 (graceful, idempotent) and
/// SIGUSR2 (force).
pub(super) fn headless(globals: &Globals) -> Result<(), Failure> {
    let options = options(globals)?;
    let _log = crate::logging::init(&options.data_dir, None)
        .map_err(|e| Failure::runtime(format!("cannot open the log dir: {e}")))?;
    globals.report_tightened();
    raise_open_files();
    crate::manager::adopt_orphans();
    runtime()?.block_on(async move {
        let mut signals = QuitSignals::install();
        if !signals.all_installed() {
            return Err(Failure::runtime("cannot install signal handlers"));
        }
        let running = Manager::start(options).await.map_err(start_failure)?;
        let commands = running.handle.commands.clone();
        let mut done = running.done;
        let mut quits = 0;
        let report = loop {
            let force = tokio::select! {
                request = signals.recv() => match request {
                    StopRequest::Quit => {
                        quits += 1;
                        quits > 1
                    }
                    // The terminal that started us went away: not a request, never escalates.
                    StopRequest::Graceful | StopRequest::HangUp => false,
                    StopRequest::Force => true,
                },
                report = &mut done => break report.map_err(|e| Failure::runtime(format!("manager task failed: {e}")))?,
            };
            let _ = commands.send(Command::Shutdown { force }).await;
        };
        print_summary(&report);
        Ok(())
    })
}

/// Prints the summary line. stdout may be a terminal that hung up while we
/// shut down: a failed write is not worth a panic, the log has the outcome.
fn print_summary(report: &ShutdownView) {
    let _ = writeln!(std::io::stdout(), "{}", summary(report));
}

/// One line: how the shutdown went.
pub(super) fn summary(report: &ShutdownView) -> String {
    let took = Duration::from_millis(
        (report.finished_ms.unwrap_or(report.started_ms) - report.started_ms).max(0) as u64,
    );
    let troubled: Vec<String> = report
        .phases
        .iter()
        .filter(|p| !matches!(p.state, PhaseState::Done))
        .map(|p| format!("{} {}", p.name, p.state.label()))
        .collect();
    let how = if report.forced { "forced" } else { "clean" };
    if troubled.is_empty() {
        format!("steward: shutdown {how} in {:.2}s", took.as_secs_f64())
    } else {
        format!(
            "steward: shutdown {how} in {:.2}s ({})",
            took.as_secs_f64(),
            troubled.join(", ")
        )
    }
}

/// Before anything starts (`cli::main` asks before it prepares the data dir):
/// without a terminal the screen would fail only after aria2 and the workers
/// were up (and leave escape codes behind).
pub(super) fn require_terminal() -> Result<(), Failure> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(Failure::usage(
            "no terminal: use `steward run --headless` (the dashboard needs stdin and stdout on a terminal)",
        ));
    }
    Ok(())
}

/// The full-screen dashboard over the embedded manager. The UI turns
/// q / Ctrl+C / SIGINT / SIGTERM / SIGHUP into the shutdown plan and returns
/// once it has finished; the summary line is printed after the terminal is back.
pub(super) fn dashboard(globals: &Globals) -> Result<(), Failure> {
    require_terminal()?;
    let options = options(globals)?;
    crate::tui::start_log_capture(tui_logger::LevelFilter::Debug)
        .map_err(|e| Failure::runtime(format!("cannot start the log pane: {e}")))?;
    let _log = crate::logging::init(
        &options.data_dir,
        Some(Box::new(crate::tui::tracing_layer())),
    )
    .map_err(|e| Failure::runtime(format!("cannot open the log dir: {e}")))?;
    globals.report_tightened();
    raise_open_files();
    crate::manager::adopt_orphans();
    runtime()?.block_on(async move {
        let signals = QuitSignals::install();
        let running = Manager::start(options).await.map_err(start_failure)?;
        let ui = crate::tui::run(
            running.handle.clone(),
            crate::tui::UiOptions::from_env(),
            signals,
        )
        .await;
        // The UI may have ended on a terminal error before any shutdown began:
        // stop everything anyway (graceful; a no-op if a shutdown runs).
        let _ = running
            .handle
            .commands
            .send(Command::Shutdown { force: false })
            .await;
        let report = running
            .done
            .await
            .map_err(|e| Failure::runtime(format!("manager task failed: {e}")))?;
        ui.map_err(|e| Failure::runtime(format!("terminal error: {e} (workers were stopped)")))?;
        print_summary(&report);
        Ok(())
    })
}

pub(super) fn demo_worker() -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    match rt.block_on(crate::demo_worker::run()) {
        0 => Ok(()),
        code => std::process::exit(code),
    }
}
