//! The command line: argument parsing (clap) and dispatch to one-shot
//! commands, the headless manager or the TUI. Errors become one line
//! `steward: ...` and the exit codes of DESIGN.md.

mod account;
mod doctor;
mod download;
mod failure;
mod run;
mod status;
mod stop;
mod sweep;
mod text;
mod trash;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use failure::Failure;

use crate::config::Config;
use crate::layout::{self, Findings, LayoutError};
use crate::paths::DataDir;

#[derive(Debug, Parser)]
#[command(
    name = "steward",
    version,
    about = "Terminal dashboard and lifecycle manager for multi-account automation services",
    long_about = "steward runs one supervised worker per account, shows them live in a \
                  full-screen dashboard, and stops everything in order. Without a \
                  subcommand it opens the dashboard."
)]
pub struct Cli {
    /// Where steward keeps its state (default: $XDG_DATA_HOME/steward)
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Config file (default: <data-dir>/steward.toml, optional)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use an existing non-empty dir as the data dir although it does not look like one
    #[arg(long, global = true)]
    pub init: bool,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the manager: the dashboard, or with --headless no UI until SIGINT/SIGTERM/SIGHUP
    Run {
        /// No UI: log to <data-dir>/logs and stop gracefully on SIGINT/SIGTERM/SIGHUP
        #[arg(long)]
        headless: bool,
    },
    /// Show accounts, workers and tasks of the running (or stopped) instance
    Status {
        /// Print the snapshot as JSON
        #[arg(long)]
        json: bool,
    },
    /// Add, remove, enable, disable or list accounts
    Account {
        #[command(subcommand)]
        command: AccountCmd,
    },
    /// Hand a download to the running instance's aria2c
    Download {
        #[command(subcommand)]
        command: DownloadCmd,
    },
    /// Check the setup: data dir, lock, store, worker command, aria2c
    Doctor,
    /// Ask the running instance to shut down gracefully (never forces, however often) and follow its progress
    Stop {
        /// Skip the graceful waits: SIGKILL every worker now
        #[arg(long)]
        force: bool,
    },
    /// The built-in reference worker (used when no worker command is configured)
    #[command(hide = true)]
    DemoWorker,
    /// The output keeper: holds workers' output pipes so a steward crash does not break them
    #[command(hide = true)]
    OutputKeeper {
        /// The socket to steward, left open across exec
        #[arg(long)]
        socket_fd: i32,
    },
    /// Find leftovers (dead owners' temp files, session files with no account, processes of a dead steward, stale lock files, expired trash) and clean them up
    Sweep {
        /// Print the plan only; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print the plan and results as JSON ("freed": bytes as measured by the plan, for the items removed)
        #[arg(long)]
        json: bool,
    },
    /// List trashed session files, or restore one
    Trash {
        #[command(subcommand)]
        command: TrashCmd,
    },
    /// Test driver: create and release temp entries in a loop through the registry
    #[command(hide = true)]
    TempChurn {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// 0 = until killed
        #[arg(long, default_value_t = 0)]
        iterations: u64,
    },
    /// Test driver: run a command with its own registered TMPDIR, as a supervisor does
    #[command(hide = true)]
    TempWorker {
        account: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TrashCmd {
    /// List what the trash holds, with when each entry expires
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Put a trashed session file back (recreates or pauses its account as needed)
    Restore {
        /// A name from `trash list`, or an account id (its newest session file)
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Add an account (its worker starts at once in a running instance)
    Add {
        /// 1-64 of A-Z a-z 0-9 _ . - (it names the session file)
        id: String,
        /// Display name (default: the id)
        #[arg(long)]
        name: Option<String>,
        /// Read the account's secret from this environment variable
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
        /// Add it without starting its worker
        #[arg(long)]
        disabled: bool,
    },
    /// Remove an account: stop its worker, move its session file to trash
    Rm { id: String },
    /// Enable an account (its worker starts)
    Enable { id: String },
    /// Disable an account (its worker stops)
    Disable { id: String },
    /// List accounts (secrets are never shown)
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DownloadCmd {
    /// Add a URL to aria2c (resumes across restarts; see `steward status`)
    Add {
        url: String,
        /// The account the download belongs to
        #[arg(long)]
        account: Option<String>,
        /// Sub-directory of the download dir to save into
        #[arg(long = "dir", value_name = "SUBDIR")]
        subdir: Option<String>,
    },
}

/// Resolved global options.
pub struct Globals {
    pub data_dir: DataDir,
    pub config_path: PathBuf,
    pub config_required: bool,
    /// `--init`: accept a non-empty dir that does not look like a data dir.
    pub init: bool,
    /// What the layout check before dispatch found (the default where none ran).
    pub layout: Findings,
}

impl Globals {
    fn from(cli: &Cli) -> Globals {
        let data_dir = cli
            .data_dir
            .as_ref()
            .map(DataDir::new)
            .unwrap_or_else(DataDir::default_location);
        let (config_path, config_required) = match &cli.config {
            Some(path) => (path.clone(), true),
            None => (data_dir.config_file(), false),
        };
        Globals {
            data_dir,
            config_path,
            config_required,
            init: cli.init,
            layout: Findings::default(),
        }
    }

    pub fn config(&self) -> Result<Config, Failure> {
        Config::load(&self.config_path, self.config_required)
            .map_err(|e| Failure::usage(e.to_string()))
    }

    /// The dirs the config places (the temp root, the download dir), the
    /// temp root checked against the data dir's other roles (a config error,
    /// exit 2). An unreadable config yields the defaults here: the command
    /// that needs the config reports it.
    fn placed_dirs(&self) -> Result<[PathBuf; 2], Failure> {
        let Ok(config) = self.config() else {
            return Ok([self.data_dir.tmp_dir(), self.data_dir.downloads_dir()]);
        };
        let root = config.temp_root(&self.data_dir);
        let downloads = config.download_dir(&self.data_dir);
        layout::check_temp_root(&self.data_dir, &root, &downloads).map_err(|e| {
            Failure::usage(format!(
                "config error in {}: {e}",
                self.config_path.display()
            ))
        })?;
        Ok([root, downloads])
    }

    /// The layout check of a command that may write: creates what is missing.
    fn prepare_layout(&self) -> Result<Findings, Failure> {
        let [temp, downloads] = self.placed_dirs()?;
        layout::prepare(&self.data_dir, &[&temp, &downloads], self.init).map_err(layout_failure)
    }

    /// The layout check of a read-only command: changes nothing.
    pub fn inspect_layout(&self) -> Result<Findings, Failure> {
        let [temp, downloads] = self.placed_dirs()?;
        layout::inspect(&self.data_dir, &[&temp, &downloads], self.init).map_err(layout_failure)
    }

    /// Logs the layout check's permission changes, one line each (call it
    /// once the log is open).
    fn report_tightened(&self) {
        for change in &self.layout.tightened {
            tracing::warn!(path = %change.path.display(), "{change}");
        }
    }
}

fn layout_failure(e: LayoutError) -> Failure {
    if e.is_usage() {
        Failure::usage(e.to_string())
    } else {
        Failure::runtime(format!("{e} (check permissions or use another --data-dir)"))
    }
}

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
        | Some(Cmd::Download { .. }) => Access::Read,
        Some(Cmd::Doctor)
        | Some(Cmd::DemoWorker)
        | Some(Cmd::OutputKeeper { .. })
        | Some(Cmd::TempChurn { .. })
        | Some(Cmd::TempWorker { .. }) => Access::Own,
    }
}

/// Runs the parsed command line; returns the process exit code.
pub fn main(cli: Cli) -> Result<(), Failure> {
    // Before any thread exists (the log writer, tokio's workers).
    crate::alloc::tune_for_long_runs();
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
    let runs_manager = matches!(cli.command, None | Some(Cmd::Run { .. }));
    if runs_manager {
        // While the lowest descriptor numbers are free: a worker then gets
        // a copy of 0-2 and these slots only (see `proc::spawn`). Without
        // them the first spawn reserves its own, a little higher.
        let _ = crate::proc::spawn::reserve_slots();
    }
    let access = access(&cli.command);
    if matches!(cli.command, None | Some(Cmd::Run { headless: false })) {
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
        Some(Cmd::Status { json }) => status::run(&globals, json),
        Some(Cmd::Account { command }) => account::run(&globals, command),
        Some(Cmd::Download { command }) => download::run(&globals, command),
        Some(Cmd::Doctor) => doctor::run(&globals),
        Some(Cmd::Stop { force }) => stop::run(&globals, force),
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
        Some(Cmd::TempChurn { seed, iterations }) => sweep::churn(&globals, seed, iterations),
        Some(Cmd::TempWorker { account, command }) => {
            sweep::temp_worker(&globals, &account, &command)
        }
    }
}
