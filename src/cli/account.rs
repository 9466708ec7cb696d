//! `steward account ...`: edits the accounts table through the store. A
//! running instance notices the commit (data_version) and acts on it; with no
//! instance running, removal trashes the session file here.

use super::args::AccountCmd;
use super::failure::{Failure, store_failure};
use super::globals::{Globals, lock_state};
use super::text;
use crate::accounts::id::{validate, validate_name};
use crate::lock::{LockState, SessionLock};
use crate::proc;
use crate::store::{AccountRow, Store};
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

fn running_note(globals: &Globals) -> String {
    match lock_state(globals) {
        Ok(LockState::HeldBy(Some(pid))) => {
            format!(" (the running instance, pid {pid}, applies it)")
        }
        Ok(LockState::HeldBy(None)) => " (the running instance applies it)".to_string(),
        _ => String::new(),
    }
}

pub(super) fn run(globals: &Globals, command: AccountCmd) -> Result<(), Failure> {
    match command {
        AccountCmd::Add {
            id,
            name,
            secret_env,
            disabled,
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
            text::outln!("account {id} added{}", running_note(globals));
        }
        AccountCmd::Rm { id } => {
            checked_id(&id)?;
            let store = open_store(globals)?;
            if store.account(&id).map_err(store_failure)?.is_none() {
                return Err(Failure::usage(format!(
                    "no account {id} (see: steward account list)"
                )));
            }
            if matches!(lock_state(globals)?, LockState::HeldBy(_)) {
                // The running instance stops the worker, then trashes the file.
                store.remove_account(&id).map_err(store_failure)?;
                text::outln!("account {id} removed{}", running_note(globals));
                return Ok(());
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
            text::outln!("account {id} removed; {detail}");
        }
        AccountCmd::Enable { id } => set_enabled(globals, &id, true)?,
        AccountCmd::Disable { id } => set_enabled(globals, &id, false)?,
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

fn set_enabled(globals: &Globals, id: &str, enabled: bool) -> Result<(), Failure> {
    checked_id(id)?;
    let store = open_store(globals)?;
    if !store.set_enabled(id, enabled).map_err(store_failure)? {
        return Err(Failure::usage(format!(
            "no account {id} (see: steward account list)"
        )));
    }
    let word = if enabled { "enabled" } else { "disabled" };
    text::outln!("account {id} {word}{}", running_note(globals));
    Ok(())
}
