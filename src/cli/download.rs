//! `steward download add URL`: hands a URL to the running instance's aria2c,
//! through the RPC coordinates it recorded in the data dir.

use std::sync::{Arc, Mutex};

use super::args::DownloadCmd;
use super::failure::{Failure, store_failure};
use super::globals::{Globals, lock_state};
use super::text;
use crate::accounts::id::validate;
use crate::aria2::Aria2Error;
use crate::lock::LockState;
use crate::model::Aria2State;
use crate::store::Store;
use crate::time::now_ms;

pub(super) fn run(globals: &Globals, command: DownloadCmd) -> Result<(), Failure> {
    let DownloadCmd::Add {
        url,
        account,
        subdir,
    } = command;
    if let Some(id) = &account {
        validate(id).map_err(|e| Failure::usage(e.to_string()))?;
    }
    if let LockState::Free = lock_state(globals)? {
        return Err(Failure::runtime(format!(
            "no steward is running on {} (start it: steward run --headless)",
            globals.data_dir.root().display()
        )));
    }
    let store = Store::open(&globals.data_dir.db_file()).map_err(store_failure)?;
    if let Some(id) = &account
        && store.account(id).map_err(store_failure)?.is_none()
    {
        return Err(Failure::usage(format!(
            "no account {id} (see: steward account list)"
        )));
    }
    let store = Arc::new(Mutex::new(store));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    let gid = rt
        .block_on(crate::aria2::add_download_via_data_dir(
            &globals.data_dir,
            &store,
            &url,
            account.as_deref(),
            subdir.as_deref(),
        ))
        .map_err(|e| match e {
            Aria2Error::NotRunning { .. } => {
                not_running(globals).unwrap_or_else(|| Failure::runtime(e.to_string()))
            }
            e => Failure::runtime(e.to_string()),
        })?;
    text::outln!("download {gid} added");
    Ok(())
}

/// Why the running steward has no aria2c (not installed, restarting, ...), from
/// its published status: "no aria2c recorded; start steward first" would
/// mislead when steward runs but aria2 does not.
fn not_running(globals: &Globals) -> Option<Failure> {
    let snap = super::status::snapshot(globals).ok()?;
    let aria2 = snap.aria2.filter(|a| a.state != Aria2State::Running)?;
    Some(Failure::runtime(format!(
        "cannot add the download: aria2 is {} in the running steward (pid {})",
        aria2.state.label(now_ms()),
        snap.instance.pid
    )))
}
