//! Tests for the store, on real SQLite files in a temp dir.

use super::*;
use std::path::PathBuf;

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("steward.db");
    (dir, path)
}

fn account(id: &str, secret: Option<&str>) -> AccountRow {
    AccountRow {
        id: id.to_owned(),
        name: format!("Account {id}"),
        enabled: true,
        secret: secret.map(str::to_owned),
        created_ms: 1_700_000_000_000,
    }
}

#[test]
fn open_sets_pragmas_and_migrations_are_idempotent() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    let mode: String = s.conn.pragma_query_one(None, "journal_mode").unwrap();
    assert_eq!(mode, "wal");
    let busy: i64 = s.conn.pragma_query_one(None, "busy_timeout").unwrap();
    assert_eq!(busy, 5000);
    let sync: i64 = s.conn.pragma_query_one(None, "synchronous").unwrap();
    assert_eq!(sync, 1, "NORMAL");
    let fk: i64 = s.conn.pragma_query_one(None, "foreign_keys").unwrap();
    assert_eq!(fk, 1);
    s.add_account(&account("a", None)).unwrap();
    drop(s);

    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.accounts().unwrap().len(), 1);
    // A second connection while the first is open is fine too.
    let s2 = Store::open(&path).unwrap();
    assert_eq!(s2.accounts().unwrap().len(), 1);
    assert!(s.integrity_check().unwrap());
    s2.close().unwrap();
    s.close().unwrap();
}

#[test]
fn account_crud_and_duplicate() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    assert!(s.accounts().unwrap().is_empty());
    assert_eq!(s.account("b").unwrap(), None);

    s.add_account(&account("b", Some("hunter2"))).unwrap();
    s.add_account(&account("a", None)).unwrap();
    let ids: Vec<String> = s.accounts().unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(s.account("b").unwrap(), Some(account("b", Some("hunter2"))));

    let e = s.add_account(&account("a", Some("x"))).unwrap_err();
    assert!(
        matches!(&e, StoreError::AccountExists(id) if id == "a"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "account \"a\" already exists");

    assert!(s.set_enabled("a", false).unwrap());
    assert!(!s.account("a").unwrap().unwrap().enabled);
    assert!(!s.set_enabled("zz", true).unwrap());

    assert!(s.set_secret("a", Some("s3")).unwrap());
    assert_eq!(
        s.account("a").unwrap().unwrap().secret.as_deref(),
        Some("s3")
    );
    assert!(s.set_secret("a", None).unwrap());
    assert_eq!(s.account("a").unwrap().unwrap().secret, None);
    assert!(!s.set_secret("zz", None).unwrap());

    assert!(s.remove_account("a").unwrap());
    assert!(!s.remove_account("a").unwrap());
    assert_eq!(s.accounts().unwrap().len(), 1);
}

#[test]
fn secret_never_in_debug_or_json() {
    let a = account("a", Some("correct-horse"));
    let dbg = format!("{a:?}");
    assert!(!dbg.contains("correct-horse"), "{dbg}");
    assert!(dbg.contains("secret: Some(••••, len 13)"), "{dbg}");
    let pretty = format!("{a:#?}");
    assert!(!pretty.contains("correct-horse"));
    assert!(format!("{:?}", account("a", None)).contains("secret: None"));
    let json = serde_json::to_string(&a).unwrap();
    assert!(!json.contains("correct-horse"), "{json}");
}

#[test]
fn data_version_sees_another_connections_commit() {
    let (_d, path) = tmp();
    let watcher = Store::open(&path).unwrap();
    let writer = Store::open(&path).unwrap();
    let before = watcher.data_version().unwrap();
    assert_eq!(watcher.data_version().unwrap(), before);
    writer.add_account(&account("x", None)).unwrap();
    let after = watcher.data_version().unwrap();
    assert_ne!(before, after);
    // Our own commits do not change our own data_version.
    watcher.set_meta("k", "v").unwrap();
    assert_eq!(watcher.data_version().unwrap(), after);
}

#[test]
fn garbage_file_is_corrupt_not_a_panic() {
    let (_d, path) = tmp();
    let junk: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &junk).unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("move it away"), "{msg}");
    assert!(!msg.contains('\n'));
    assert_eq!(std::fs::read(&path).unwrap(), junk, "file left untouched");
    assert!(matches!(
        Store::open_readonly(&path).unwrap_err(),
        StoreError::Corrupt { .. }
    ));
}

#[test]
fn an_empty_file_is_a_fresh_store_only_in_an_otherwise_empty_data_dir() {
    let (d, path) = tmp();
    // A first start that died before SQLite wrote the header: bookkeeping,
    // logs and empty dirs around it are fine.
    std::fs::write(&path, "").unwrap();
    std::fs::write(d.path().join("steward.lock"), "").unwrap();
    std::fs::create_dir_all(d.path().join("logs")).unwrap();
    std::fs::write(d.path().join("logs/steward.log"), "x").unwrap();
    std::fs::create_dir_all(d.path().join("sessions")).unwrap();
    Store::open(&path).unwrap().close().unwrap();

    let (d, path) = tmp();
    std::fs::write(&path, "").unwrap();
    let session = d.path().join("sessions/alice.session");
    std::fs::create_dir_all(session.parent().unwrap()).unwrap();
    std::fs::write(&session, "state").unwrap();
    for e in [
        Store::open(&path).unwrap_err(),
        Store::open_readonly(&path).unwrap_err(),
    ] {
        assert!(
            matches!(&e, StoreError::Empty { other, .. } if *other == session),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("is empty (0 bytes)") && !msg.contains('\n'),
            "{msg}"
        );
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "left untouched");

    let (_d, path) = tmp();
    std::fs::create_dir(&path).unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Unreadable { .. }), "{e:?}");
}

#[test]
fn foreign_sqlite_file_is_refused_and_left_alone() {
    let (_d, path) = tmp();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT);")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Foreign { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "{} is not a steward database (move it away or use another --data-dir)",
            path.display()
        )
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "not switched to WAL, not migrated"
    );

    // Another program's database that uses user_version is foreign too.
    let (_d2, other) = tmp();
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("PRAGMA user_version = 1;").unwrap();
    }
    assert!(matches!(
        Store::open(&other).unwrap_err(),
        StoreError::Foreign { .. }
    ));
}

#[test]
fn newer_schema_is_too_new() {
    let (_d, path) = tmp();
    Store::open(&path).unwrap().close().unwrap();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 5)
            .unwrap();
    }
    let e = Store::open(&path).unwrap_err();
    assert!(
        matches!(e, StoreError::TooNew { found, known, .. } if found == SCHEMA_VERSION + 5 && known == SCHEMA_VERSION),
        "{e:?}"
    );
    assert!(e.to_string().contains("upgrade steward"), "{e}");
    assert!(matches!(
        Store::open_readonly(&path).unwrap_err(),
        StoreError::TooNew { .. }
    ));
}

#[test]
fn readonly_open_reads_but_never_creates_or_writes() {
    let (_d, path) = tmp();
    let e = Store::open_readonly(&path).unwrap_err();
    assert!(matches!(e, StoreError::Open { .. }), "{e:?}");
    assert!(!path.exists(), "readonly open created the file");

    let rw = Store::open(&path).unwrap();
    rw.add_account(&account("a", None)).unwrap();
    let ro = Store::open_readonly(&path).unwrap();
    assert_eq!(ro.accounts().unwrap().len(), 1);
    assert!(ro.set_meta("k", "v").is_err());
    // The writer keeps going while a reader is open.
    rw.add_account(&account("b", None)).unwrap();
    assert_eq!(ro.accounts().unwrap().len(), 2);
    ro.close().unwrap();
    rw.close().unwrap();
}

#[test]
fn workers_upsert_and_clear() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    let mut w = WorkerRow {
        account: "a".into(),
        pid: 100,
        start_time: 123_456_789,
        pgid: 100,
        owner_pid: 50,
        owner_start_time: 42,
        started_ms: 1,
    };
    s.record_worker(&w).unwrap();
    w.pid = 200;
    w.start_time = u64::from(u32::MAX) + 7;
    s.record_worker(&w).unwrap();
    assert_eq!(s.workers().unwrap(), vec![w.clone()]);
    // No foreign key: a row for an account that does not exist is fine.
    assert!(s.account("a").unwrap().is_none());
    assert!(s.clear_worker("a").unwrap());
    assert!(!s.clear_worker("a").unwrap());
    assert!(s.workers().unwrap().is_empty());
}

#[test]
fn temp_entries_crud() {
    let (d, path) = tmp();
    let s = Store::open(&path).unwrap();
    let mut t = TempRow {
        id: 0,
        path: d.path().join("tmp/a"),
        kind: TempKind::Dir,
        owner_pid: 1,
        owner_start_time: 2,
        account: Some("acc".into()),
        label: None,
        created_ms: 3,
        bytes: None,
    };
    let id = s.insert_temp(&t).unwrap();
    assert!(s.insert_temp(&t).is_err(), "path is unique");
    t.id = id;
    let mut f = t.clone();
    f.path = d.path().join("tmp/b");
    f.kind = TempKind::File;
    f.bytes = Some(10);
    f.account = None;
    f.id = s.insert_temp(&f).unwrap();
    assert_eq!(s.temp_entries().unwrap(), vec![t.clone(), f.clone()]);
    assert!(s.delete_temp(&t.path).unwrap());
    assert!(!s.delete_temp(&t.path).unwrap());
    assert_eq!(s.temp_entries().unwrap(), vec![f]);
}

#[test]
fn events_and_meta() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    for i in 0..5 {
        s.record_event(
            "account.remove",
            &format!("acc{i}"),
            "moved session to trash",
            "ok",
        )
        .unwrap();
    }
    let ev = s.recent_events(3).unwrap();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0].subject, "acc4");
    assert_eq!(ev[2].subject, "acc2");
    assert!(ev[0].at_ms > 0);

    assert_eq!(s.get_meta("k").unwrap(), None);
    s.set_meta("k", "1").unwrap();
    s.set_meta("k", "2").unwrap();
    assert_eq!(s.get_meta("k").unwrap().as_deref(), Some("2"));
    assert!(s.delete_meta("k").unwrap());
    assert!(!s.delete_meta("k").unwrap());
    assert!(s.checkpoint().unwrap());
}

#[test]
fn events_never_hold_a_secret_in_force() {
    let (_d, path) = tmp();
    let mut s = Store::open(&path).unwrap();
    let mask = crate::redact::SecretMask::default();
    s.set_mask(mask.clone());
    // Set after the store took the mask: the shared set is what counts.
    mask.set(["hunter2-very-secret"]);
    s.record_event(
        "worker.leftover",
        "alice hunter2-very-secret",
        "argv: worker --token=hunter2-very-secret",
        "stopped",
    )
    .unwrap();
    let ev = &s.recent_events(1).unwrap()[0];
    assert_eq!(ev.subject, "alice ***");
    assert_eq!(ev.detail, "argv: worker --token=***");
}

#[test]
fn clear_workers_forgets_only_the_named_processes_in_one_go() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    let row = |account: &str, pid: i32| WorkerRow {
        account: account.into(),
        pid,
        start_time: 1000 + pid as u64,
        pgid: pid,
        owner_pid: 50,
        owner_start_time: 42,
        started_ms: 1,
    };
    for (i, acc) in ["a", "b", "c"].into_iter().enumerate() {
        s.record_worker(&row(acc, 100 + i as i32)).unwrap();
    }
    assert_eq!(s.clear_workers(&[]).unwrap(), 0);
    let gone = [
        ("a".to_string(), 100, 1100),
        // A newer worker of "b" took the record: this stale identity must not clear it.
        ("b".to_string(), 101, 999),
        ("zzz".to_string(), 7, 7),
    ];
    assert_eq!(s.clear_workers(&gone).unwrap(), 1);
    let left: Vec<String> = s
        .workers()
        .unwrap()
        .into_iter()
        .map(|w| w.account)
        .collect();
    assert_eq!(left, ["b", "c"]);
}

#[test]
fn delete_temps_unregisters_many_paths() {
    let (d, path) = tmp();
    let s = Store::open(&path).unwrap();
    let mut paths = Vec::new();
    for i in 0..5 {
        let p = d.path().join(format!("tmp/w{i}"));
        s.insert_temp(&TempRow {
            id: 0,
            path: p.clone(),
            kind: TempKind::Dir,
            owner_pid: 1,
            owner_start_time: 2,
            account: None,
            label: None,
            created_ms: 3,
            bytes: None,
        })
        .unwrap();
        paths.push(p);
    }
    assert_eq!(s.delete_temps(&[]).unwrap(), 0);
    let mut gone = paths[..3].to_vec();
    gone.push(d.path().join("tmp/never-registered"));
    assert_eq!(s.delete_temps(&gone).unwrap(), 3);
    let left: Vec<PathBuf> = s
        .temp_entries()
        .unwrap()
        .into_iter()
        .map(|t| t.path)
        .collect();
    assert_eq!(left, paths[3..]);
}
