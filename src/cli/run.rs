//! `steward run --headless`, the dashboard, and `steward demo-worker`: the
//! commands that run for a long time, each on its own tokio runtime.

use std::time::Duration;

use std::io::{IsTerminal, Write};

use tokio::task::JoinHandle;

use super::failure::{Failure, store_failure};
use super::globals::{Globals, lock_state};
use super::instance::link_failure;
use super::text;
use crate::config::OnHangup;
use crate::link::{Client, follow};
use crate::lock::LockState;
use crate::manager::{Manager, ManagerHandle, ManagerOptions, StartError};
use crate::model::{Command, PhaseState, Role, ShutdownView};
use crate::tui::{Attachment, Link, QuitSignals, StopRequest, UiEnd, UiOptions};

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
        notifier: globals.notifier.clone(),
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
/// one forces), SIGUSR1 (graceful, idempotent) and SIGUSR2 (force); SIGHUP
/// as `[ui] on_hangup` says (by default it is only logged: `steward run
/// --headless &` outlives the login it was started from).
pub(super) fn headless(globals: &Globals) -> Result<(), Failure> {
    let options = options(globals)?;
    let on_hangup = options.config.ui.on_hangup;
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
        let report =
            serve_until_stopped(&mut signals, &running.handle, running.done, on_hangup).await?;
        print_summary(&report);
        Ok(())
    })
}

/// A manager with no terminal, until its shutdown has run: each stop signal
/// becomes the shutdown command it means.
async fn serve_until_stopped(
    signals: &mut QuitSignals,
    handle: &ManagerHandle,
    mut done: JoinHandle<ShutdownView>,
    on_hangup: OnHangup,
) -> Result<ShutdownView, Failure> {
    let mut quits = 0;
    loop {
        let force = tokio::select! {
            request = signals.recv() => match request {
                StopRequest::Quit => {
                    quits += 1;
                    quits > 1
                }
                StopRequest::HangUp if on_hangup == OnHangup::KeepRunning => {
                    tracing::info!("SIGHUP: the terminal is gone; running on ([ui] on_hangup = \"keep-running\")");
                    continue;
                }
                // The terminal that started us went away: not a request, never escalates.
                StopRequest::Graceful | StopRequest::HangUp => false,
                StopRequest::Force => true,
            },
            report = &mut done => {
                return report.map_err(|e| Failure::runtime(format!("manager task failed: {e}")));
            }
        };
        let _ = handle.commands.send(Command::Shutdown { force }).await;
    }
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

/// The full-screen dashboard over the embedded manager, or, when an instance
/// already runs on the data dir, attached to it. The UI turns q / Ctrl+C /
/// SIGINT / SIGTERM into the shutdown plan and returns once it has finished;
/// the summary line is printed after the terminal is back. A hang-up
/// (`[ui] on_hangup = "keep-running"`) leaves the fleet running headless.
pub(super) fn dashboard(globals: &Globals) -> Result<(), Failure> {
    require_terminal()?;
    if let LockState::HeldBy(_) = lock_state(globals)? {
        return attach(globals, false);
    }
    let options = options(globals)?;
    let ui_options = UiOptions {
        on_hangup: options.config.ui.on_hangup,
        ..UiOptions::from_env()
    };
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
        let mut signals = QuitSignals::install();
        let running = Manager::start(options).await.map_err(start_failure)?;
        let ui = crate::tui::run(Link::embedded(&running.handle), ui_options, &mut signals).await;
        if let Ok(UiEnd::HungUp) = ui {
            if let Err(e) = crate::tui::let_go_of_the_terminal() {
                tracing::warn!(error = %e, "cannot detach stdin/stdout/stderr from the dead terminal");
            }
            // Nothing may touch the dead terminal again: the log says it all.
            tracing::warn!(
                pid = std::process::id(),
                "terminal hung up; running headless as pid {}; `steward` attaches",
                std::process::id()
            );
            serve_until_stopped(
                &mut signals,
                &running.handle,
                running.done,
                OnHangup::KeepRunning,
            )
            .await?;
            return Ok(());
        }
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

/// The dashboard of the instance running on the data dir, over its control
/// socket. `q` detaches; the instance's own shutdown (`Q`, or elsewhere) is
/// followed to its report; losing the instance ends with exit 1.
pub(super) fn attach(globals: &Globals, read_only: bool) -> Result<(), Failure> {
    require_terminal()?;
    crate::tui::start_log_capture(tui_logger::LevelFilter::Debug)
        .map_err(|e| Failure::runtime(format!("cannot start the log pane: {e}")))?;
    crate::logging::init_pane_only(Box::new(crate::tui::tracing_layer()));
    let root = globals.data_dir.root().to_path_buf();
    let socket = globals.data_dir.control_socket();
    runtime()?.block_on(async move {
        let mut signals = QuitSignals::install();
        let role = if read_only { Role::View } else { Role::Control };
        let client = Client::connect(&root, &socket, role, "steward attach")
            .await
            .map_err(link_failure)?;
        let followed = follow(client, true).await.map_err(link_failure)?;
        let pid = followed.welcome.pid;
        let snapshots = followed.snapshots.clone();
        let link = Link {
            commands: followed.commands,
            snapshots: followed.snapshots,
            attachment: Attachment::Attached { read_only },
        };
        let end = crate::tui::run(link, UiOptions::from_env(), &mut signals)
            .await
            .map_err(|e| {
                Failure::runtime(format!(
                    "terminal error: {e} (steward pid {pid} keeps running)"
                ))
            })?;
        match end {
            UiEnd::Detached => {
                text::outln!("detached; steward pid {pid} keeps running; `steward` attaches again");
                Ok(())
            }
            // The terminal is gone: nobody to tell.
            UiEnd::HungUp => Ok(()),
            UiEnd::Stopped => {
                match snapshots.borrow().shutdown.as_ref() {
                    Some(report) => print_summary(report),
                    None => text::outln!("steward pid {pid} has stopped"),
                }
                Ok(())
            }
            UiEnd::Lost => Err(Failure::runtime(format!(
                "lost steward pid {pid}: it crashed or was killed (see `steward status`)"
            ))),
        }
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
