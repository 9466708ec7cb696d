//! The command line: the layout check each command needs, then dispatch of
//! the parsed arguments ([`Cli`], defined in `args.rs`) to one-shot commands,
//! the headless manager or the TUI. Errors become one line `steward: ...` and
//! the exit codes of DESIGN.md. What the subcommands share sits in leaf
//! modules that name no subcommand: `args.rs`, `globals.rs` ([`Globals`],
//! `lock_state`), `failure.rs` ([`Failure`], `store_failure`), `text.rs`,
//! `instance.rs` (reaching the running instance over its control socket).

mod account;
mod args;
mod doctor;
mod download;
#[cfg(feature = "test-drivers")]
mod drivers;
mod failure;
mod globals;
mod instance;
mod metrics;
mod run;
mod service;
mod status;
mod stop;
mod sweep;
mod text;
mod trash;

pub use args::{AccountCmd, Cli, Cmd, DownloadCmd, ServiceCmd, TrashCmd};
pub use failure::Failure;
pub use globals::Globals;

/// What the layout check before dispatch does for a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// May create or change files: the data dir is prepared.
    Write,
    /// Reads only: checked, nothing created (a missing data dir is fine).
    Read,
    /// `doctor` runs the check itself and reports it; the hidden test
    /// drivers run inside an already prepared data dir.
    Own,
}

fn access(command: &Option<Cmd>) -> Access {
    match command {
        None
        | Some(Cmd::Run { .. })
        | Some(Cmd::Sweep { dry_run: false, .. })
        | Some(Cmd::Trash {
            command: TrashCmd::Restore { .. },
        }) => Access::Write,
        Some(Cmd::Account { command }) => match command {
            AccountCmd::List { .. } => Access::Read,
            _ => Access::Write,
        },
        // `stop` and `download` need a running instance, so a prepared dir:
        // checking is enough, and a missing dir stays missing.
        Some(Cmd::Status { .. })
        | Some(Cmd::Sweep { dry_run: true, .. })
        | Some(Cmd::Trash {
            command: TrashCmd::List { .. },
        })
        | Some(Cmd::Stop { .. })
        | Some(Cmd::Metrics)
        | Some(Cmd::Attach { .. })
        | Some(Cmd::Download { .. }) => Access::Read,
        Some(Cmd::Doctor)
        | Some(Cmd::DemoWorker)
        | Some(Cmd::OutputKeeper { .. })
        | Some(Cmd::Service { .. }) => Access::Own,
        #[cfg(feature = "test-drivers")]
        Some(Cmd::TempChurn { .. }) | Some(Cmd::TempWorker { .. }) => Access::Own,
    }
}

/// Runs the parsed command line; returns the process exit code.
pub fn main(cli: Cli) -> Result<(), Failure> {
    // Before any thread exists (the log writer, tokio's workers).
    crate::alloc::tune_for_long_runs();
    // Also before any thread: it removes the variables from the environment
    // (so no child inherits them), which is only sound single-threaded.
    let notifier = crate::systemd::Notifier::take_from_env();
    // Every later `ProcId::current()` is served from this first, checked read.
    crate::proc::ProcId::try_current().map_err(|e| {
        Failure::runtime(format!(
            "cannot read this process's identity: {e} (steward needs /proc mounted)"
        ))
    })?;
    // Files made by code steward does not control (the log appender, SQLite,
    // aria2c, workers in their registered TMPDIRs) stay private too.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let mut globals = Globals::from(&cli);
    globals.notifier = notifier;
    let runs_manager = matches!(cli.command, None | Some(Cmd::Run { .. }));
    if runs_manager {
        // While the lowest descriptor numbers are free: a worker then gets
        // a copy of 0-2 and these slots only (see `proc::spawn`). Without
        // them the first spawn reserves its own, a little higher.
        let _ = crate::proc::spawn::reserve_slots();
    }
    let access = access(&cli.command);
    if matches!(
        cli.command,
        None | Some(Cmd::Run { headless: false }) | Some(Cmd::Attach { .. })
    ) {
        run::require_terminal()?;
    }
    match access {
        Access::Write => {
            // A command that cannot run with this config must not create anything first.
            if runs_manager || matches!(cli.command, Some(Cmd::Sweep { .. })) {
                globals.config()?;
            }
            globals.layout = globals.prepare_layout()?;
        }
        Access::Read => globals.layout = globals.inspect_layout()?,
        Access::Own => {}
    }
    if access == Access::Write && !runs_manager && !globals.layout.tightened.is_empty() {
        // A one-shot command has no log of its own (stderr is for its one
        // line): open the log for these lines only. Dropping the guard flushes.
        if let Ok(_log) = crate::logging::init(&globals.data_dir, None) {
            globals.report_tightened();
        }
    }
    match cli.command {
        None | Some(Cmd::Run { headless: false }) => run::dashboard(&globals),
        Some(Cmd::Run { headless: true }) => run::headless(&globals),
        Some(Cmd::Attach { read_only }) => run::attach(&globals, read_only),
        Some(Cmd::Status { json }) => status::run(&globals, json),
        Some(Cmd::Metrics) => metrics::run(&globals),
        Some(Cmd::Account { command }) => account::run(&globals, command),
        Some(Cmd::Download { command }) => download::run(&globals, command),
        Some(Cmd::Doctor) => doctor::run(&globals),
        Some(Cmd::Service {
            command: ServiceCmd::Print { user },
        }) => service::print(&globals, cli.data_dir.is_some(), user),
        Some(Cmd::Stop { force, json }) => stop::run(&globals, force, json),
        Some(Cmd::DemoWorker) => run::demo_worker(),
        Some(Cmd::OutputKeeper { socket_fd }) => std::process::exit(
            crate::accounts::keeper_process::main(globals.data_dir.root(), socket_fd),
        ),
        Some(Cmd::Sweep { dry_run, json }) => sweep::run(&globals, dry_run, json),
        Some(Cmd::Trash {
            command: TrashCmd::List { json },
        }) => trash::list(&globals, json),
        Some(Cmd::Trash {
            command: TrashCmd::Restore { name },
        }) => trash::restore(&globals, &name),
        #[cfg(feature = "test-drivers")]
        Some(Cmd::TempChurn { seed, iterations }) => drivers::churn(&globals, seed, iterations),
        #[cfg(feature = "test-drivers")]
        Some(Cmd::TempWorker { account, command }) => {
            drivers::temp_worker(&globals, &account, &command)
        }
    }
}
