//! `steward account ...`: with an instance running, the change goes to it
//! over its control socket and the command returns once it has acted
//! (printing its reply: "account alice added; worker pid 1234 running");
//! with none, the accounts table is edited here, and removal trashes the
//! session file here. Input is checked here first either way (exit 2).

use super::args::AccountCmd;
use super::failure::{Failure, store_failure};
use super::globals::Globals;
use super::{instance, text};
use crate::accounts::id::{validate, validate_name};
use crate::lock::SessionLock;
use crate::model::{Command, Secret};
use crate::proc;
use crate::store::{AccountRow, Store, StoreError};
use crate::time::now_ms;
use crate::trash;

/// The store of a data dir the layout check has prepared.
fn open_store(globals: &Globals) -> Result<Store, Failure> {
    Store::open(&globals.data_dir.db_file()).map_err(store_failure)
}

fn checked_id(id: &str) -> Result<(), Failure> {
    validate(id).map_err(|e| Failure::usage(e.to_string()))
}

/// The secret in `var`. Its value is never echoed, not even in an error.
fn secret_from_env(var: &str) -> Result<String, Failure> {
    let shown = text::escape(var);
    match std::env::var(var) {
        Ok(secret) => Ok(secret),
        Err(std::env::VarError::NotPresent) => Err(Failure::usage(format!(
            "environment variable {shown} is not set (export it, or drop --secret-env)"
        ))),
        Err(std::env::VarError::NotUnicode(_)) => Err(Failure::usage(format!(
            "environment variable {shown} is not valid UTF-8 (secrets are stored as text: re-export it as UTF-8)"
        ))),
    }
}

/// With an instance running: an account it must already know (or, for
/// `add`, must not), checked here so that bad input stays exit 2.
fn check_known(globals: &Globals, id: &str, known: bool) -> Result<(), Failure> {
    let store = Store::open_readonly(&globals.data_dir.db_file()).map_err(store_failure)?;
    let exists = store.account(id).map_err(store_failure)?.is_some();
    match (exists, known) {
        (true, false) => Err(store_failure(StoreError::AccountExists(id.to_string()))),
        (false, true) => Err(Failure::usage(format!(
            "no account {id} (see: steward account list)"
        ))),
        _ => Ok(()),
    }
}

/// Carries out `command` in the running instance, if one runs (`None`
/// when none does: the caller writes the store itself).
fn in_instance(
    globals: &Globals,
    id: &str,
    must_exist: bool,
    command: impl FnOnce() -> Command,
    json: bool,
) -> Result<Option<()>, Failure> {
    let Some(mut instance) = instance::reach(globals, "steward account")? else {
        return Ok(None);
    };
    check_known(globals, id, must_exist)?;
    let reply = instance.command(command())?;
    instance::print_reply(&reply, json).map(Some)
}

pub(super) fn run(globals: &Globals, command: AccountCmd) -> Result<(), Failure> {
    match command {
        AccountCmd::Add {
            id,
            name,
            secret_env,
            disabled,
            json,
        } => {
            checked_id(&id)?;
            if let Some(name) = &name {
                validate_name(name).map_err(|e| Failure::usage(e.to_string()))?;
            }
            let secret = match secret_env {
                Some(var) => Some(secret_from_env(&var)?),
                None => None,
            };
            if let Some(Err(e)) = secret.as_deref().map(crate::redact::check_secret) {
                return Err(Failure::usage(format!("{e} (see --secret-env)")));
            }
            let command = || Command::AddAccount {
                id: id.clone(),
                name: name.clone(),
                secret: secret.clone().map(Secret),
                enabled: !disabled,
            };
            if in_instance(globals, &id, false, command, json)?.is_some() {
                return Ok(());
            }
            let store = open_store(globals)?;
            store
                .add_account(&AccountRow {
                    name: name.unwrap_or_else(|| id.clone()),
                    id: id.clone(),
                    enabled: !disabled,
                    secret,
                    created_ms: now_ms(),
                })
                .map_err(store_failure)?;
            instance::print_done(&format!("account {id} added"), json);
        }
        AccountCmd::Rm { id, json } => {
            checked_id(&id)?;
            // The running instance stops the worker, then trashes the file.
            let command = || Command::RemoveAccount { id: id.clone() };
            if in_instance(globals, &id, true, command, json)?.is_some() {
                return Ok(());
            }
            let store = open_store(globals)?;
            if store.account(&id).map_err(store_failure)?.is_none() {
                return Err(Failure::usage(format!(
                    "no account {id} (see: steward account list)"
                )));
            }
            let session = globals.data_dir.session_file(&id);
            // Held while the file moves: no worker of a steward starting
            // meanwhile can take the account. The lock file itself stays.
            let _hold = match SessionLock::try_acquire(&globals.data_dir.session_lock_file(&id)) {
                Ok(lock) => lock,
                Err(_) => {
                    let holders = proc::flock_holders(&globals.data_dir.session_lock_file(&id));
                    return Err(Failure::runtime(format!(
                        "the session lock of {id} is held by pid {holders:?} (start steward to stop leftover workers, or stop that process)"
                    )));
                }
            };
            let users = crate::lock::session_users(&session);
            if !users.is_empty() {
                return Err(Failure::runtime(format!(
                    "session file of {id} is open in pid {users:?} (stop that process first)"
                )));
            }
            let moved = trash::move_to_trash(&globals.data_dir, &session)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            store.remove_account(&id).map_err(store_failure)?;
            let detail = match &moved {
                Some(path) => format!("session file moved to {}", path.display()),
                None => "no session file".to_string(),
            };
            let _ = store.record_event("account.remove", &id, &detail, "ok");
            instance::print_done(&format!("account {id} removed; {detail}"), json);
        }
        AccountCmd::Enable { id, json } => set_enabled(globals, &id, true, json)?,
        AccountCmd::Disable { id, json } => set_enabled(globals, &id, false, json)?,
        AccountCmd::List { json } => {
            let db = globals.data_dir.db_file();
            let rows = if db.exists() {
                Store::open_readonly(&db)
                    .and_then(|s| s.accounts())
                    .map_err(store_failure)?
            } else {
                Vec::new()
            };
            if json {
                // AccountRow never serialises its secret; add its length only.
                let list: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id,
                            "name": r.name,
                            "enabled": r.enabled,
                            "secret_len": r.secret.as_ref().map(|s| s.chars().count()),
                            "created_ms": r.created_ms,
                        })
                    })
                    .collect();
                text::json_line(&serde_json::Value::Array(list).to_string());
            } else if rows.is_empty() {
                text::outln!("no accounts (add one: steward account add ID)");
            } else {
                let rows: Vec<Vec<String>> = rows
                    .into_iter()
                    .map(|r| {
                        let secret = match &r.secret {
                            Some(s) => format!("•••• ({} chars)", s.chars().count()),
                            None => "none".to_string(),
                        };
                        let enabled = if r.enabled { "yes" } else { "no" };
                        vec![r.id, enabled.to_string(), secret, r.name]
                    })
                    .collect();
                text::print(&text::table(
                    &["ACCOUNT", "ENABLED", "SECRET", "NAME"],
                    &rows,
                ));
            }
        }
    }
    Ok(())
}

fn set_enabled(globals: &Globals, id: &str, enabled: bool, json: bool) -> Result<(), Failure> {
    checked_id(id)?;
    let command = || Command::SetEnabled {
        id: id.to_string(),
        enabled,
    };
    if in_instance(globals, id, true, command, json)?.is_some() {
        return Ok(());
    }
    let store = open_store(globals)?;
    if !store.set_enabled(id, enabled).map_err(store_failure)? {
        return Err(Failure::usage(format!(
            "no account {id} (see: steward account list)"
        )));
    }
    let word = if enabled { "enabled" } else { "disabled" };
    instance::print_done(&format!("account {id} {word}"), json);
    Ok(())
}
