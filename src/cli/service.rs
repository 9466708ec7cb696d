//! `steward service print [--user]`: the systemd unit for this machine,
//! on stdout, ready for `> /etc/systemd/system/steward.service` (or
//! `~/.config/systemd/user/`). It installs nothing itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::failure::Failure;
use super::globals::Globals;
use super::text;
use crate::systemd::unit::{SYSTEM_DATA_DIR, UnitOptions, render};

/// Added to the shutdown plan's deadlines for `TimeoutStopSec=`: start-up
/// of the plan, the store's close, the process's exit.
const STOP_MARGIN: Duration = Duration::from_secs(15);

pub(super) fn print(
    globals: &Globals,
    data_dir_given: bool,
    user_unit: bool,
) -> Result<(), Failure> {
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Failure::runtime(format!("cannot find steward's own binary: {e}")))?;
    let state_dir = if user_unit {
        user_state_dir()?
    } else {
        PathBuf::from(SYSTEM_DATA_DIR)
    };
    // The service's data dir: the one given, else where the flavour's
    // StateDirectory= puts it (not the interactive default under $XDG_DATA_HOME).
    let data_dir = if data_dir_given {
        globals.data_dir.root().to_path_buf()
    } else {
        state_dir.clone()
    };
    let config_path = globals
        .config_required
        .then(|| absolute(&globals.config_path))
        .transpose()?;
    // The config the service will read: the one given, else its data dir's.
    let config = if globals.config_required {
        globals.config()?
    } else {
        let path = crate::paths::DataDir::new(&data_dir).config_file();
        crate::config::Config::load(&path, false).map_err(|e| Failure::usage(e.to_string()))?
    };
    let data = crate::paths::DataDir::new(&data_dir);
    let also_writable = [config.download_dir(&data), config.temp_root(&data)]
        .into_iter()
        .filter(|dir| !dir.starts_with(&data_dir))
        .collect();
    let total = config.shutdown_total().saturating_add(STOP_MARGIN);
    // Whole tens of seconds read better and cost nothing.
    let stop_timeout = Duration::from_secs(total.as_secs().div_ceil(10) * 10);
    let unit = render(&UnitOptions {
        binary,
        data_dir,
        config: config_path,
        user_unit,
        state_dir,
        stop_timeout,
        also_writable,
    });
    // The unit ends in a newline of its own.
    text::outln!("{}", unit.trim_end());
    Ok(())
}

/// `$XDG_STATE_HOME/steward`, else `~/.local/state/steward`: where a user
/// unit's `StateDirectory=steward` is.
fn user_state_dir() -> Result<PathBuf, Failure> {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(state).join("steward"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/steward")),
        None => Err(Failure::usage(
            "no HOME or XDG_STATE_HOME: give the data dir (--data-dir DIR)",
        )),
    }
}

fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path).map_err(|e| Failure::usage(format!("config {}: {e}", path.display())))
}
