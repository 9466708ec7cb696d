//! Deletion never leaves the data dir, whatever the file system says: a
//! symlink planted anywhere on a path, or swapped in between a sweep's plan
//! and its apply, leads nowhere.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steward::config::Config;
use steward::model::{SweepKind, SweepOutcome, SweepTarget};
use steward::store::{TempKind, TempRow};
use steward::sweep::SweepScope;
use tokio_util::sync::CancellationToken;

use crate::common::*;

/// A pid that is certainly dead now (a child that ran and was reaped).
fn dead_pid() -> i32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    pid
}

/// An outside directory with a file and a dir in it, all days old.
fn outside_with_victims() -> tempfile::TempDir {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim"), "precious").unwrap();
    std::fs::create_dir(outside.path().join("victim-dir")).unwrap();
    std::fs::write(outside.path().join("victim-dir/inner"), "precious").unwrap();
    for p in ["victim", "victim-dir/inner", "victim-dir"] {
        age_days(&outside.path().join(p), 30);
    }
    outside
}

fn assert_untouched(outside: &Path) {
    assert_eq!(
        std::fs::read_to_string(outside.join("victim")).unwrap(),
        "precious"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("victim-dir/inner")).unwrap(),
        "precious"
    );
}

/// A registered temp entry of a dead owner, `<data>/tmp/evil/victim`, where
/// `tmp/evil` is a symlink to another dir: a plain start (which clears dead
/// owners' temp) must not delete the target.
#[test]
fn a_dead_owners_row_through_a_symlink_deletes_nothing_at_start() {
    let dir = TestDir::new();
    let outside = outside_with_victims();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    symlink(outside.path(), dir.path().join("tmp/evil")).unwrap();
    let store = open_store(&dir);
    for (name, kind) in [("victim", TempKind::File), ("victim-dir", TempKind::Dir)] {
        store
            .insert_temp(&TempRow {
                id: 0,
                path: dir.path().join("tmp/evil").join(name),
                kind,
                owner_pid: dead_pid(),
                owner_start_time: 1,
                account: None,
                label: None,
                created_ms: 0,
                bytes: None,
            })
            .unwrap();
    }
    drop(store);
    dir.write_config("[aria2]\nenabled = false\n");
    let mut steward = dir.spawn_headless();
    // The start-up sweep of dead owners' temp records what it did with both
    // rows (deleted on the old code, left alone now).
    let store = steward::store::Store::open_readonly(&dir.path().join("steward.db")).unwrap();
    wait_for(Duration::from_secs(20), || {
        let events = store.recent_events(100).ok()?;
        let seen = events
            .iter()
            .filter(|e| e.subject.contains("tmp/evil/"))
            .count();
        (seen >= 2).then_some(())
    })
    .expect("the start-up sweep judged both rows");
    let out = dir.run(&["stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = steward.wait();
    assert_untouched(outside.path());
    // The rows stay for an operator to look at; they are never acted on.
    let (_, plan) = sweep_json(&dir, true);
    for name in ["victim", "victim-dir"] {
        let items = plan_items_for(&plan, &dir.path().join("tmp/evil").join(name));
        assert_eq!(items[0]["action"], "leave", "{plan}");
        assert!(
            items[0]["reason"].as_str().unwrap().contains("symlink"),
            "{plan}"
        );
    }
}

/// `tmp`, `trash` or `sessions` replaced by a symlink to a dir of old files:
/// the sweep (dry or not) never plans or touches anything there.
#[test]
fn symlinked_well_known_dirs_are_never_swept() {
    for sub in ["tmp", "trash", "sessions"] {
        let dir = TestDir::new();
        let outside = outside_with_victims();
        // Names each sweep kind would act on, were they inside.
        for name in ["ghost.session", "old.session.1600000000000"] {
            std::fs::write(outside.path().join(name), "theirs").unwrap();
            age_days(&outside.path().join(name), 30);
        }
        symlink(outside.path(), dir.path().join(sub)).unwrap();
        let (_, plan) = sweep_json(&dir, true);
        let (_, result) = sweep_json(&dir, false);
        for name in [
            "victim",
            "victim-dir",
            "ghost.session",
            "old.session.1600000000000",
        ] {
            let path = dir.path().join(sub).join(name);
            for item in plan_items_for(&plan, &path) {
                assert_eq!(item["action"], "leave", "{sub}: {plan}");
            }
            assert_ne!(
                outcome_for(&result, &path).as_deref(),
                Some("done"),
                "{sub}: {result}"
            );
        }
        assert_untouched(outside.path());
        for name in ["ghost.session", "old.session.1600000000000"] {
            assert!(outside.path().join(name).exists(), "{sub}: {name} moved");
        }
        assert_eq!(
            std::fs::read_dir(outside.path()).unwrap().count(),
            4,
            "{sub}"
        );
    }
}

/// The plan is made on a real directory; before the apply, the directory is
/// swapped for a symlink to another dir with the same names inside. The
/// apply re-resolves beneath the data dir and touches nothing outside.
#[test]
fn a_directory_swapped_for_a_symlink_between_plan_and_apply_leads_nowhere() {
    let dir = TestDir::new();
    let outside = outside_with_victims();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(tmp.join("old/victim-dir")).unwrap();
    std::fs::write(tmp.join("old/victim"), "ours").unwrap();
    std::fs::write(tmp.join("old/victim-dir/inner"), "ours").unwrap();
    for p in [
        "old/victim",
        "old/victim-dir/inner",
        "old/victim-dir",
        "old",
    ] {
        age_days(&tmp.join(p), 30);
    }
    let store = Arc::new(Mutex::new(open_store(&dir)));
    let scope = SweepScope::new(&Config::default(), &dir.data_dir());
    let plan = steward::sweep::scan(&scope, &store, &[SweepKind::TempUntracked]);
    let planned: Vec<_> = plan
        .items
        .iter()
        .filter_map(|i| match &i.target {
            SweepTarget::Path { path } => Some(path.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(planned, [tmp.join("old")], "{plan:?}");
    // The swap: tmp itself becomes a link to a dir holding `old` with the
    // outside victims in it.
    let decoy = tempfile::tempdir().unwrap();
    std::fs::rename(outside.path(), decoy.path().join("old")).unwrap();
    // As old as what was planned, so no freshness check can save it.
    age_days(&decoy.path().join("old"), 30);
    std::fs::rename(&tmp, dir.path().join("tmp-was")).unwrap();
    symlink(decoy.path(), &tmp).unwrap();
    let results = steward::sweep::apply(&scope, &store, &plan, &CancellationToken::new());
    assert!(
        !matches!(results[0].outcome, SweepOutcome::Done { .. }),
        "{results:?}"
    );
    assert_untouched(&decoy.path().join("old"));
    // Put the outside dir back so its TempDir guard removes it.
    std::fs::rename(decoy.path().join("old"), outside.path()).unwrap();
}
