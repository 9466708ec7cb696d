//! `steward trash list [--json]` and `steward trash restore NAME`: what the
//! trash holds (session files moved there by account removal or the sweep)
//! and putting a session file back, its account recreated or paused around
//! the move as needed, with or without a running instance.

use serde::Serialize;

use super::failure::{Failure, store_failure};
use super::globals::{Globals, lock_state};
use super::text;
use crate::fs::Beneath;
use crate::lock::LockState;
use crate::model::WorkerState;
use crate::paths::DataDir;
use crate::store::{AccountRow, Store};
use crate::time::{human_between, human_bytes, now_ms};

/// One trash entry.
#[derive(Debug, Clone, Serialize)]
pub struct TrashEntry {
    /// The name in the trash, e.g. `alice.session.1700000000000`.
    pub name: String,
    /// The name it had, e.g. `alice.session`.
    pub original: String,
    /// The account of a session file.
    pub account: Option<String>,
    pub trashed_ms: Option<i64>,
    /// Its size, companions included.
    pub bytes: u64,
    /// The SQLite companions trashed with it (`alice.session-journal.<ms>`):
    /// listed, restored and expired as one entry with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub companions: Vec<String>,
    /// When the sweep may delete it (`[trash] keep` after trashing).
    pub expires_ms: Option<i64>,
}

/// Splits `alice.session.1700000000000[.2]` into (`alice.session`, ms).
fn split_name(name: &str) -> (String, Option<i64>) {
    match crate::trash::split_trash_name(name) {
        Some((original, suffix)) => {
            let ms = suffix.split('.').next().and_then(|s| s.parse().ok());
            (original.to_owned(), ms)
        }
        None => (name.to_owned(), None),
    }
}

/// The trash's entries, read beneath the data dir (a symlinked `trash/`
/// lists nothing).
fn entries(data_dir: &DataDir, keep_ms: i64) -> Vec<TrashEntry> {
    let Ok(anchor) = Beneath::open_root(data_dir.root()) else {
        return Vec::new();
    };
    let Ok(listed) = anchor.list(&data_dir.trash_dir()) else {
        return Vec::new();
    };
    let mut out: Vec<TrashEntry> = listed
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (original, trashed_ms) = split_name(&name);
            let account = original
                .strip_suffix(".session")
                .filter(|a| !a.is_empty())
                .map(str::to_owned);
            let bytes = crate::fs::tree::measure(&anchor, &path, None)
                .map(|m| m.bytes)
                .unwrap_or(0);
            TrashEntry {
                name,
                original,
                account,
                trashed_ms,
                bytes,
                companions: Vec::new(),
                expires_ms: trashed_ms.map(|t| t.saturating_add(keep_ms)),
            }
        })
        .collect();
    // A companion whose database is in the trash under the same suffix is
    // part of that entry; one without it stands alone.
    let names: std::collections::HashMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.clone(), i))
        .collect();
    let mut parts = Vec::new();
    for (i, e) in out.iter().enumerate() {
        let Some((original, suffix)) = crate::trash::split_trash_name(&e.name) else {
            continue;
        };
        for sfx in crate::paths::SESSION_COMPANIONS {
            if let Some(base) = original.strip_suffix(sfx)
                && let Some(&main) = names.get(&format!("{base}.{suffix}"))
            {
                parts.push((main, i));
            }
        }
    }
    let mut gone = vec![false; out.len()];
    for (main, part) in parts {
        let (name, bytes) = (out[part].name.clone(), out[part].bytes);
        out[main].companions.push(name);
        out[main].bytes += bytes;
        gone[part] = true;
    }
    let mut keep = gone.iter().map(|g| !g);
    out.retain(|_| keep.next().unwrap_or(true));
    out.sort_by(|a, b| a.trashed_ms.cmp(&b.trashed_ms).then(a.name.cmp(&b.name)));
    out
}

pub(super) fn list(globals: &Globals, json: bool) -> Result<(), Failure> {
    let config = globals.config()?;
    let keep_ms = crate::time::ms(config.trash.keep);
    let list = entries(&globals.data_dir, keep_ms);
    if json {
        let text = serde_json::to_string(&list)
            .map_err(|e| Failure::runtime(format!("cannot encode the list: {e}")))?;
        text::json_line(&text);
        return Ok(());
    }
    if list.is_empty() {
        text::outln!("trash is empty");
        return Ok(());
    }
    let now = now_ms();
    let rows: Vec<Vec<String>> = list
        .into_iter()
        .map(|e| {
            let trashed = e
                .trashed_ms
                .map(|t| format!("{} ago", human_between(t, now)));
            let expires = match e.expires_ms {
                Some(t) if t <= now => "expired (next sweep deletes it)".to_owned(),
                Some(t) => format!("in {}", human_between(now, t)),
                None => "-".to_owned(),
            };
            let name = match e.companions.len() {
                0 => e.name,
                n => format!(
                    "{} (+{n} sqlite companion{})",
                    e.name,
                    if n > 1 { "s" } else { "" }
                ),
            };
            vec![
                name,
                format!("{:>9}", human_bytes(e.bytes)),
                trashed.unwrap_or_else(|| "-".into()),
                expires,
            ]
        })
        .collect();
    let header = ["NAME", "     SIZE", "TRASHED", "EXPIRES"];
    text::print(&text::table(&header, &rows));
    Ok(())
}

/// Picks the trash entry `name` names: an exact trash name, else the newest
/// entry whose original name is `name` or `name.session`.
fn resolve(list: &[TrashEntry], name: &str) -> Option<TrashEntry> {
    if let Some(e) = list.iter().find(|e| e.name == name) {
        return Some(e.clone());
    }
    let session = format!("{name}.session");
    list.iter()
        .filter(|e| e.original == name || e.original == session)
        .max_by_key(|e| e.trashed_ms)
        .cloned()
}

/// How the account looked before the restore, so it can be put back if the
/// restore cannot go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// There was none: created disabled for the restore.
    Missing,
    Enabled,
    Disabled,
}

/// Puts a trashed session file back in one command, with or without a
/// running instance: the account is created (disabled) if it is gone, or
/// disabled if it runs; once no worker runs on it (the store's `workers`
/// table, and a running instance's own status) the file is moved back (a
/// session file the account has meanwhile goes to the trash first, kept
/// like any other), then the account is enabled again. A worker therefore
/// never runs on the account while its file moves.
pub(super) fn restore(globals: &Globals, name: &str) -> Result<(), Failure> {
    let data_dir = &globals.data_dir;
    let list = entries(data_dir, 0);
    let entry = resolve(&list, name).ok_or_else(|| {
        Failure::usage(format!(
            "nothing named {name:?} in the trash (see: steward trash list)"
        ))
    })?;
    let account = entry
        .account
        .clone()
        .filter(|a| crate::accounts::id::validate(a).is_ok())
        .ok_or_else(|| {
            Failure::usage(format!(
                "{} is not a session file of an account: only those are restored",
                text::escape(&entry.name)
            ))
        })?;
    let config = globals.config()?;
    std::fs::create_dir_all(data_dir.root()).map_err(|e| {
        Failure::runtime(format!(
            "cannot create data dir {}: {e} (check permissions or use --data-dir)",
            data_dir.root().display()
        ))
    })?;
    let store = Store::open(&data_dir.db_file()).map_err(store_failure)?;
    let before = match store.account(&account).map_err(store_failure)? {
        None => {
            store
                .add_account(&AccountRow {
                    id: account.clone(),
                    name: account.clone(),
                    enabled: false,
                    secret: None,
                    created_ms: now_ms(),
                })
                .map_err(store_failure)?;
            Before::Missing
        }
        Some(row) if row.enabled => {
            store.set_enabled(&account, false).map_err(store_failure)?;
            Before::Enabled
        }
        Some(_) => Before::Disabled,
    };
    let undo = |store: &Store| {
        let _ = match before {
            Before::Missing => store.remove_account(&account),
            Before::Enabled => store.set_enabled(&account, true),
            Before::Disabled => Ok(true),
        };
    };
    // A stop takes up to the worker's stop timeout, and the instance a
    // moment to notice the change and to publish the stop.
    let deadline = std::time::Instant::now() + config.worker.stop_timeout + STOP_SLACK;
    if let Err(failure) = wait_stopped(globals, &store, &account, before, deadline) {
        undo(&store);
        return Err(failure);
    }
    let to = data_dir.session_file(&account);
    let mut set_aside = None;
    let mut result = crate::trash::restore(data_dir, &entry.name, &to);
    if let Err(crate::trash::TrashError::Exists(_)) = result {
        // The account's current file: no worker runs on it (checked above),
        // and it is kept in the trash, not overwritten.
        match crate::trash::move_to_trash(data_dir, &to) {
            Ok(moved) => set_aside = moved,
            Err(e) => {
                undo(&store);
                return Err(Failure::runtime(format!("{e} (nothing was restored)")));
            }
        }
        result = crate::trash::restore(data_dir, &entry.name, &to);
    }
    if let Err(e) = result {
        undo(&store);
        return Err(Failure::runtime(format!("{e} (nothing was restored)")));
    }
    let mut detail = format!("{} restored to {}", entry.name, to.display());
    if let Some(aside) = &set_aside {
        detail.push_str(&format!(
            "; the session file it had went to {}",
            aside.display()
        ));
    }
    let _ = store.record_event("trash.restore", &account, &detail, "ok");
    text::outln!("{}", text::escape(&detail));
    let enable = before != Before::Disabled;
    if enable {
        store.set_enabled(&account, true).map_err(|e| {
            Failure::runtime(format!(
                "{detail}, but account {account} could not be enabled: {e} (run: steward account enable {account})"
            ))
        })?;
    }
    let running = matches!(lock_state(globals)?, LockState::HeldBy(_));
    let state = match (before, enable) {
        (Before::Missing, _) => "added and enabled",
        (_, true) => "enabled again",
        (_, false) => "left disabled, as it was",
    };
    let starts = if enable && running {
        ": the running instance starts its worker"
    } else {
        ""
    };
    text::outln!("account {account} {state}{starts}");
    Ok(())
}

/// Beyond the stop timeout: for the instance to see the change and publish.
const STOP_SLACK: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits until no worker runs on `account`: no live worker recorded in the
/// store, and a running instance's published status shows the account
/// disabled and its worker at rest. A leftover worker of a crashed steward
/// (no instance runs to stop it) is refused at once, with what to do.
fn wait_stopped(
    globals: &Globals,
    store: &Store,
    account: &str,
    before: Before,
    deadline: std::time::Instant,
) -> Result<(), Failure> {
    loop {
        let recorded = store
            .workers()
            .map_err(store_failure)?
            .into_iter()
            .find(|w| {
                w.account == account
                    && crate::proc::ProcId {
                        pid: w.pid,
                        start_time: w.start_time,
                    }
                    .is_alive()
            });
        let instance = match lock_state(globals)? {
            LockState::HeldBy(pid) => Some(pid),
            LockState::Free => None,
        };
        let at_rest = match instance {
            None => {
                if let Some(w) = recorded {
                    return Err(Failure::runtime(format!(
                        "a leftover worker of {account} (pid {}) of a steward that is gone still runs: nothing was restored (steward sweep, or the next start, stops it)",
                        w.pid
                    )));
                }
                true
            }
            // Created disabled: no instance ever started a worker for it.
            Some(_) if before == Before::Missing => recorded.is_none(),
            Some(pid) => recorded.is_none() && instance_at_rest(globals, pid, account),
        };
        if at_rest {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(Failure::runtime(format!(
                "the worker of {account} did not stop in time: nothing was restored (see steward status; try again once it stopped)"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Whether the running instance (`pid`) published `account` disabled and
/// its worker not running, starting, stopping or backing off.
fn instance_at_rest(globals: &Globals, pid: Option<i32>, account: &str) -> bool {
    let Some(snap) = crate::manager::read_status_file(&globals.data_dir.status_file()) else {
        return false;
    };
    if !snap.instance.live || pid.is_some_and(|p| p != snap.instance.pid) {
        return false;
    }
    snap.accounts.iter().any(|a| {
        a.id == account
            && !a.enabled
            && matches!(
                a.worker.state,
                WorkerState::Stopped | WorkerState::Exited { .. } | WorkerState::Failed { .. }
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_trash_names() {
        assert_eq!(
            split_name("alice.session.1700000000000"),
            ("alice.session".into(), Some(1_700_000_000_000))
        );
        assert_eq!(
            split_name("alice.session.1700000000000.3"),
            ("alice.session".into(), Some(1_700_000_000_000))
        );
        assert_eq!(split_name("weird"), ("weird".into(), None));
    }

    #[test]
    fn companions_are_listed_as_part_of_their_database() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        std::fs::create_dir_all(data.trash_dir()).unwrap();
        let t = |n: &str, body: &str| std::fs::write(data.trash_dir().join(n), body).unwrap();
        t("alice.session.1700000000000", "db");
        t("alice.session-journal.1700000000000", "journal");
        t("alice.session-wal.1700000000001", "other move");
        let list = entries(&data, 0);
        let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "alice.session.1700000000000",
                "alice.session-wal.1700000000001"
            ]
        );
        assert_eq!(list[0].companions, ["alice.session-journal.1700000000000"]);
        assert_eq!(list[0].bytes, 9);
        assert_eq!(list[0].account.as_deref(), Some("alice"));
        assert_eq!(list[1].account, None);
    }
}
