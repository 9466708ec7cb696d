//! What aria2 keeps in the store: the running instance's identity
//! (`aria2.instance`, JSON; never the secret itself, only the path of its 0600
//! file), download owners (`aria2.owner.<gid>`), the downloads held for low
//! space (`aria2.held`), and audit events.

use std::path::PathBuf;
use std::sync::MutexGuard;

use serde::{Deserialize, Serialize};

use super::error::Aria2Error;
use crate::proc::ProcId;
use crate::store::Store;

/// The store as subsystems share it.
pub use crate::store::SharedStore;

/// Meta key of the running instance's identity.
pub const INSTANCE_KEY: &str = "aria2.instance";
/// Meta key prefix of download owners: `aria2.owner.<gid>` = account id.
pub const OWNER_PREFIX: &str = "aria2.owner.";
/// Meta key of the gids paused for low space (a JSON list): kept across a
/// restart, whose session keeps them paused, so the next run resumes them.
pub const HELD_KEY: &str = "aria2.held";

/// The identity of the aria2c steward started for this data dir, recorded
/// right after spawning it and removed once it is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub proc: ProcId,
    /// Its process group (== `proc.pid`: it was spawned with `process_group(0)`).
    pub pgid: i32,
    pub port: u16,
    /// The 0600 file holding the RPC secret (the secret itself is never stored here).
    pub secret_file: PathBuf,
    pub session_file: PathBuf,
    pub download_dir: PathBuf,
    /// The steward process that started it (`--stop-with-process`).
    pub steward_pid: u32,
    pub started_ms: i64,
}

/// Locks the store; a poisoned lock (a panic elsewhere mid-call) still holds a usable connection.
pub fn lock(store: &SharedStore) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

fn store_err(e: impl std::fmt::Display) -> Aria2Error {
    Aria2Error::Store(e.to_string())
}

/// The recorded instance; `None` when none is recorded (or the record is unreadable, which is logged).
pub fn load_instance(store: &SharedStore) -> Result<Option<InstanceRecord>, Aria2Error> {
    let Some(text) = lock(store).get_meta(INSTANCE_KEY).map_err(store_err)? else {
        return Ok(None);
    };
    match serde_json::from_str(&text) {
        Ok(rec) => Ok(Some(rec)),
        Err(e) => {
            tracing::warn!("ignoring unreadable {INSTANCE_KEY} record: {e}");
            Ok(None)
        }
    }
}

pub fn save_instance(store: &SharedStore, rec: &InstanceRecord) -> Result<(), Aria2Error> {
    let text = serde_json::to_string(rec).map_err(store_err)?;
    lock(store).set_meta(INSTANCE_KEY, &text).map_err(store_err)
}

/// Removes the record if it still names `proc` (a newer record is left alone).
pub fn clear_instance(store: &SharedStore, proc: ProcId) -> Result<(), Aria2Error> {
    if load_instance(store)?.is_some_and(|rec| rec.proc == proc) {
        lock(store).delete_meta(INSTANCE_KEY).map_err(store_err)?;
    }
    Ok(())
}

pub fn record_owner(store: &SharedStore, gid: &str, account: &str) -> Result<(), Aria2Error> {
    lock(store)
        .set_meta(&format!("{OWNER_PREFIX}{gid}"), account)
        .map_err(store_err)
}

pub fn owner_of(store: &SharedStore, gid: &str) -> Result<Option<String>, Aria2Error> {
    lock(store)
        .get_meta(&format!("{OWNER_PREFIX}{gid}"))
        .map_err(store_err)
}

pub fn forget_owner(store: &SharedStore, gid: &str) -> Result<(), Aria2Error> {
    lock(store)
        .delete_meta(&format!("{OWNER_PREFIX}{gid}"))
        .map(drop)
        .map_err(store_err)
}

/// The gids paused for low space by an earlier run (or this one); none when
/// unreadable (logged: those downloads then wait for the operator).
pub fn load_held(store: &SharedStore) -> std::collections::BTreeSet<String> {
    let text = match lock(store).get_meta(HELD_KEY) {
        Ok(Some(text)) => text,
        Ok(None) => return Default::default(),
        Err(e) => {
            tracing::warn!("cannot read {HELD_KEY}: {e}");
            return Default::default();
        }
    };
    serde_json::from_str(&text).unwrap_or_else(|e| {
        tracing::warn!("ignoring unreadable {HELD_KEY} record: {e}");
        Default::default()
    })
}

/// Records the held gids (an empty set removes the record).
pub fn save_held(
    store: &SharedStore,
    held: &std::collections::BTreeSet<String>,
) -> Result<(), Aria2Error> {
    if held.is_empty() {
        return lock(store)
            .delete_meta(HELD_KEY)
            .map(drop)
            .map_err(store_err);
    }
    let text = serde_json::to_string(held).map_err(store_err)?;
    lock(store).set_meta(HELD_KEY, &text).map_err(store_err)
}

/// Appends an audit event; a failure is logged, never fatal.
pub fn audit(store: &SharedStore, kind: &str, subject: &str, detail: &str, result: &str) {
    if let Err(e) = lock(store).record_event(kind, subject, detail, result) {
        tracing::warn!("could not record event {kind} {subject}: {e}");
    }
}
