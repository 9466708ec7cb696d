//! `steward trash list [--json]` and `steward trash restore NAME`: what the
//! trash holds (session files moved there by account removal or the sweep)
//! and putting a session file back once its account exists again.

use serde::Serialize;

use super::status::store_failure;
use super::{Failure, Globals, text};
use crate::fs::Beneath;
use crate::paths::DataDir;
use crate::store::Store;
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
            let bytes = crate::temp::fsops::measure(&anchor, &path, None)
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

pub(super) fn restore(globals: &Globals, name: &str) -> Result<(), Failure> {
    let data_dir = &globals.data_dir;
    let list = entries(data_dir, 0);
    let entry = resolve(&list, name).ok_or_else(|| {
        Failure::usage(format!(
            "nothing named {name:?} in the trash (see: steward trash list)"
        ))
    })?;
    let Some(account) = entry.account.clone() else {
        return Err(Failure::usage(format!(
            "{} is not a session file: only session files are restored",
            entry.name
        )));
    };
    let db = data_dir.db_file();
    let exists = db.exists()
        && Store::open_readonly(&db)
            .and_then(|s| s.account(&account))
            .map_err(store_failure)?
            .is_some();
    if !exists {
        return Err(Failure::usage(format!(
            "account {account} does not exist (add it first: steward account add {account})"
        )));
    }
    let to = data_dir.session_file(&account);
    match crate::trash::restore(data_dir, &entry.name, &to) {
        Ok(()) => {}
        Err(crate::trash::TrashError::Exists(path)) => {
            return Err(Failure::runtime(format!(
                "{} already exists: move it away first (the account's worker may have created it)",
                path.display()
            )));
        }
        Err(e) => return Err(Failure::runtime(e.to_string())),
    }
    if let Ok(store) = Store::open(&db) {
        let _ = store.record_event(
            "trash.restore",
            &account,
            &format!("{} restored to {}", entry.name, to.display()),
            "ok",
        );
    }
    text::outln!("restored {} to {}", entry.name, to.display());
    Ok(())
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
