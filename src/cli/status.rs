//! `steward status [--json]`: the running instance's latest snapshot (asked
//! over its control socket), or, with no instance running, what the store
//! knows.

use super::failure::{Failure, store_failure};
use super::globals::Globals;
use super::{instance, text};
use crate::manager::{last_report, read_last_shutdown};
use crate::model::{AccountView, Ask, Instance, Snapshot, WorkerView};
use crate::paths::DataDir;
use crate::store::Store;
use crate::time::{human_between, human_bytes, now_ms};

/// What `status` reports with no instance running: the store's accounts,
/// the last run's shutdown, and workers a crashed steward left behind.
fn stopped_snapshot(data_dir: &DataDir) -> Result<Snapshot, Failure> {
    let mut snap = Snapshot {
        instance: Instance {
            data_dir: data_dir.root().to_path_buf(),
            live: false,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        },
        ..Default::default()
    };
    let db = data_dir.db_file();
    if !db.exists() {
        return Ok(snap);
    }
    let store = Store::open_readonly(&db).map_err(store_failure)?;
    snap.last_shutdown = read_last_shutdown(&store);
    // The previous run's shutdown report, phases and all (a crashed run wrote
    // none: an older report would mislead).
    if snap.last_shutdown != Some(crate::model::LastShutdown::Crashed) {
        snap.shutdown = last_report(&store).map(|r| r.view);
    }
    snap.accounts = store
        .accounts()
        .map_err(store_failure)?
        .into_iter()
        .map(|row| AccountView {
            secret_len: row.secret.as_ref().map(|s| s.chars().count()),
            worker: WorkerView {
                session_file: data_dir.session_file(&row.id),
                ..Default::default()
            },
            id: row.id,
            name: row.name,
            enabled: row.enabled,
        })
        .collect();
    // Who holds each lock right now: after a crash, the leftover workers.
    let locks: Vec<_> = snap
        .accounts
        .iter()
        .map(|a| crate::paths::session_lock_of(&a.worker.session_file))
        .collect();
    let mut holders = crate::proc::flock_holders_of(&locks);
    for (account, lock) in snap.accounts.iter_mut().zip(&locks) {
        account.worker.lock_holders = holders.remove(lock).unwrap_or_default();
    }
    snap.notices = leftover_workers(data_dir)
        .into_iter()
        .enumerate()
        .map(|(seq, text)| crate::model::Notice {
            seq: seq as u64,
            at_ms: now_ms(),
            level: crate::model::NoticeLevel::Warn,
            text,
        })
        .collect();
    Ok(snap)
}

pub(super) fn run(globals: &Globals, json: bool) -> Result<(), Failure> {
    if let Some(mut instance) = instance::reach(globals, "steward status")? {
        let reply = instance.ask(Ask::Status)?;
        let snapshot = match reply.value {
            Some(value) if reply.ok => value,
            _ => return Err(Failure::runtime(reply.text)),
        };
        if json {
            // The instance's own encoding, re-indented as it is: parsing
            // 2.4 MB (3,000 accounts) into a `Snapshot` to encode it again
            // would be most of the command's time.
            text::json_reindent(snapshot.get().as_bytes());
            return Ok(());
        }
        let snap: Snapshot = serde_json::from_str(snapshot.get())
            .map_err(|e| Failure::runtime(format!("unreadable status from the instance: {e}")))?;
        text::print(&render(&snap, now_ms()));
        return Ok(());
    }
    let snap = stopped_snapshot(&globals.data_dir)?;
    if json {
        return text::json_stream(&snap)
            .map_err(|e| Failure::runtime(format!("cannot encode status: {e}")));
    }
    text::print(&render(&snap, now_ms()));
    for notice in &snap.notices {
        text::println(&notice.text);
    }
    Ok(())
}

/// With no instance running: the workers a crashed steward left behind,
/// still alive (from the store's last recorded identities, each checked
/// against the live process), one line each, naming the lock each holds.
/// `doctor` says the same. Kept apart from the table (`render`) on purpose.
pub(super) fn leftover_workers(data_dir: &DataDir) -> Vec<String> {
    let db = data_dir.db_file();
    if !db.exists() {
        return Vec::new();
    }
    let Ok(rows) = Store::open_readonly(&db).and_then(|s| s.workers()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for row in rows {
        let owner = crate::proc::ProcId {
            pid: row.owner_pid,
            start_time: row.owner_start_time,
        };
        let worker = crate::proc::ProcId {
            pid: row.pid,
            start_time: row.start_time,
        };
        if owner.is_alive() || !worker.is_alive() {
            continue;
        }
        let lock = data_dir.session_lock_file(&row.account);
        let holds = crate::proc::flock_holders(&lock)
            .iter()
            .any(|&p| crate::proc::read_stat(p).is_ok_and(|st| st.pgrp == row.pgid));
        let what = if holds {
            format!(" and holds {}'s lock", row.account)
        } else {
            format!(" (a worker of {})", row.account)
        };
        out.push(format!(
            "leftover worker pid {} of a crashed steward is still running{what}; the next start (or `steward sweep`) stops it",
            row.pid
        ));
    }
    out
}

/// The plain-text status: a header and one row per account.
fn render(snap: &Snapshot, now: i64) -> String {
    let i = &snap.instance;
    let mut out = if i.live {
        format!(
            "steward {}: running (pid {}, up {}), data dir {}\n",
            i.version,
            i.pid,
            human_between(i.started_ms, now),
            i.data_dir.display()
        )
    } else {
        format!(
            "steward {}: not running, data dir {}\n",
            i.version,
            i.data_dir.display()
        )
    };
    if let Some(last) = snap.last_shutdown {
        out.push_str(&format!("last shutdown: {}\n", last.label()));
    }
    if let Some(aria2) = &snap.aria2 {
        let live = aria2
            .downloads
            .iter()
            .filter(|d| d.status.is_live())
            .count();
        out.push_str(&format!(
            "aria2: {} · {live} downloads active or waiting\n",
            aria2.label(now)
        ));
    }
    if let Some(temp) = &snap.temp {
        out.push_str(&format!(
            "temp: {} files, {} dirs, {} · {} orphaned\n",
            temp.files,
            temp.dirs,
            human_bytes(temp.bytes),
            temp.orphaned
        ));
    }
    if let Some(host) = &snap.host {
        out.push_str(&format!(
            "host: load {:.1} · memory {} of {} used\n",
            host.load_1m,
            human_bytes(host.memory_used_bytes),
            human_bytes(host.memory_total_bytes)
        ));
        for fs in &host.filesystems {
            out.push_str(&format!(
                "disk: {} free of {} on {} ({}){}\n",
                human_bytes(fs.available_bytes),
                human_bytes(fs.total_bytes),
                fs.path.display(),
                fs.holds.join(", "),
                if fs.low { " · LOW" } else { "" }
            ));
        }
        if host.low_space {
            out.push_str(&format!(
                "warning: low disk space (below [host] min_free_space {}): downloads paused until above {}\n",
                human_bytes(host.min_free_bytes),
                human_bytes(host.resume_above_bytes)
            ));
        }
    }
    if snap.accounts.is_empty() {
        out.push_str("no accounts (add one: steward account add ID)\n");
        return out;
    }
    let rows: Vec<Vec<String>> = snap
        .accounts
        .iter()
        .map(|a| {
            let w = &a.worker;
            vec![
                a.id.clone(),
                a.name.clone(),
                if a.enabled { "yes" } else { "no" }.to_string(),
                w.state.label(now),
                w.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                w.started_ms
                    .filter(|_| w.pid.is_some())
                    .map(|s| human_between(s, now))
                    .unwrap_or_else(|| "-".into()),
                w.restarts.to_string(),
                w.rss_bytes.map(human_bytes).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = [
        "ACCOUNT", "NAME", "ENABLED", "STATE", "PID", "UPTIME", "RESTARTS", "RSS",
    ];
    out.push_str(&text::table(&header, &rows));
    let live_tasks = snap.tasks.iter().filter(|t| t.state.is_live()).count();
    if i.live {
        out.push_str(&format!("tasks: {live_tasks} running\n"));
    }
    out
}
