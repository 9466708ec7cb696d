//! [`Globals`]: the global options resolved (data dir, config file, the
//! layout check's findings), what every subcommand is handed, and the
//! instance lock's holder, which most of them ask first.

use std::path::PathBuf;

use super::args::Cli;
use super::failure::Failure;
use crate::config::Config;
use crate::layout::{self, Findings, LayoutError};
use crate::lock::{InstanceLock, LockState};
use crate::paths::DataDir;

/// Resolved global options.
pub struct Globals {
    pub data_dir: DataDir,
    pub config_path: PathBuf,
    pub config_required: bool,
    /// `--init`: accept a non-empty dir that does not look like a data dir.
    pub init: bool,
    /// What the layout check before dispatch found (the default where none ran).
    pub layout: Findings,
    /// The service manager's notify socket, taken from the environment
    /// before any thread existed (`cli::main`).
    pub notifier: crate::systemd::Notifier,
}

impl Globals {
    pub(super) fn from(cli: &Cli) -> Globals {
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
            notifier: crate::systemd::Notifier::default(),
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
    pub(super) fn prepare_layout(&self) -> Result<Findings, Failure> {
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
    pub(super) fn report_tightened(&self) {
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

/// Who holds the data dir's instance lock: a running instance (by pid where
/// it can be read), or nobody.
pub(super) fn lock_state(globals: &Globals) -> Result<LockState, Failure> {
    InstanceLock::holder(&globals.data_dir).map_err(|e| Failure::runtime(e.to_string()))
}
