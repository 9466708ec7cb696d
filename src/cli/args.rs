//! The command line as clap parses it: [`Cli`], its subcommands and their
//! options. Only types: `mod.rs` dispatches on them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Run the manager: the dashboard, or with --headless no UI until SIGINT/SIGTERM
    Run {
        /// No UI: log to <data-dir>/logs and stop gracefully on SIGINT/SIGTERM; `steward attach` shows it
        #[arg(long)]
        headless: bool,
    },
    /// Open the dashboard of the instance already running on the data dir (q detaches, the fleet keeps running)
    Attach {
        /// Look, never act: every key that would change the fleet is off
        #[arg(long)]
        read_only: bool,
    },
    /// Show accounts, workers and tasks of the running (or stopped) instance
    Status {
        /// Print the snapshot as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the running instance's Prometheus metrics once (what `[metrics] listen` serves at /metrics)
    Metrics,
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
    /// Run steward as a systemd service
    Service {
        #[command(subcommand)]
        command: ServiceCmd,
    },
    /// Ask the running instance (over its control socket) to shut down gracefully (never forces, however often) and follow its progress
    Stop {
        /// Skip the graceful waits: SIGKILL every worker now
        #[arg(long)]
        force: bool,
        /// Print only the outcome, as JSON: {"ok", "text", "value": the shutdown report}
        #[arg(long)]
        json: bool,
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
    #[cfg(feature = "test-drivers")]
    #[command(hide = true)]
    TempChurn {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// 0 = until killed
        #[arg(long, default_value_t = 0)]
        iterations: u64,
    },
    /// Test driver: run a command with its own registered TMPDIR, as a supervisor does
    #[cfg(feature = "test-drivers")]
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
        /// Print the outcome as JSON: {"ok", "text", "value"}
        #[arg(long)]
        json: bool,
    },
    /// Remove an account: stop its worker, move its session file to trash
    Rm {
        id: String,
        /// Print the outcome as JSON: {"ok", "text", "value"}
        #[arg(long)]
        json: bool,
    },
    /// Enable an account (its worker starts)
    Enable {
        id: String,
        /// Print the outcome as JSON: {"ok", "text", "value"}
        #[arg(long)]
        json: bool,
    },
    /// Disable an account (its worker stops)
    Disable {
        id: String,
        /// Print the outcome as JSON: {"ok", "text", "value"}
        #[arg(long)]
        json: bool,
    },
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
        /// Print the outcome as JSON: {"ok", "text", "value"}
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Print a systemd unit for `steward run --headless` with this binary, data dir and config filled in (installs nothing)
    Print {
        /// The per-user flavour (`systemctl --user`): no User=, no sandboxing that needs root
        #[arg(long)]
        user: bool,
    },
}
