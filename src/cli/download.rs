//! `steward download add URL`: hands a URL to the running instance over its
//! control socket; the instance adds it to its aria2c and records the owner.

use super::args::DownloadCmd;
use super::failure::{Failure, store_failure};
use super::globals::Globals;
use super::instance;
use crate::accounts::id::validate;
use crate::model::Command;
use crate::store::Store;

pub(super) fn run(globals: &Globals, command: DownloadCmd) -> Result<(), Failure> {
    let DownloadCmd::Add {
        url,
        account,
        subdir,
        json,
    } = command;
    if let Some(id) = &account {
        validate(id).map_err(|e| Failure::usage(e.to_string()))?;
    }
    let Some(mut instance) = instance::reach(globals, "steward download add")? else {
        return Err(Failure::runtime(format!(
            "no instance running on {} (start it: steward run --headless)",
            globals.data_dir.root().display()
        )));
    };
    // An unknown account is bad input (exit 2), told before anything is sent.
    if let Some(id) = &account {
        let store = Store::open_readonly(&globals.data_dir.db_file()).map_err(store_failure)?;
        if store.account(id).map_err(store_failure)?.is_none() {
            return Err(Failure::usage(format!(
                "no account {id} (see: steward account list)"
            )));
        }
    }
    let reply = instance.command(Command::AddDownload {
        url,
        account,
        subdir,
    })?;
    instance::print_reply(&reply, json)
}
