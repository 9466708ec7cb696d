//! Locks and open files deep inside old trees are respected: the sweep keeps
//! any file some live process has open, locked or as its working directory,
//! with every directory that holds it, in the plan and again at apply.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steward::config::Config;
use steward::model::{SweepKind, SweepOutcome};
use steward::sweep::SweepScope;
use tokio_util::sync::CancellationToken;

use crate::common::*;

/// Creates `files` under `root` and sets every file and directory on the
/// way 30 days back, deepest first (creating an entry moves its dir's mtime).
fn old_tree(root: &Path, files: &[&str]) {
    for f in files {
        let path = root.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "old").unwrap();
    }
    let mut all: Vec<_> = walk(root);
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in all {
        age_days(&p, 30);
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

fn reason_of(plan: &serde_json::Value, path: &Path) -> (String, String, i64) {
    let items = plan_items_for(plan, path);
    assert_eq!(items.len(), 1, "{}: {plan}", path.display());
    (
        items[0]["action"].as_str().unwrap().to_owned(),
        items[0]["reason"].as_str().unwrap().to_owned(),
        items[0]["holder_pid"].as_i64().unwrap_or(0),
    )
}

#[test]
fn files_in_use_deep_in_old_trees_are_kept_with_their_directories() {
    let dir = TestDir::new();
    let tmp = dir.path().join("tmp");
    old_tree(
        &tmp,
        &[
            "locked/a/b/flocked",
            "locked/a/loose",
            "opened/x/held",
            "cwd/here/f",
            "free/a/f",
        ],
    );
    // A flock deep inside (the flock(1) process holds it), a file merely
    // open (no lock) as a sleeper's stdin, and a working directory.
    let flocker = GroupChild::spawn({
        let mut c = Command::new("flock");
        c.arg(tmp.join("locked/a/b/flocked")).args(["sleep", "60"]);
        c
    });
    let opener = GroupChild::spawn({
        let mut c = Command::new("sleep");
        c.arg("60")
            .stdin(Stdio::from(File::open(tmp.join("opened/x/held")).unwrap()));
        c
    });
    let in_cwd = GroupChild::spawn({
        let mut c = Command::new("sleep");
        c.arg("60").current_dir(tmp.join("cwd/here"));
        c
    });
    wait_for(Duration::from_secs(10), || {
        flock_is_held(&tmp.join("locked/a/b/flocked")).then_some(())
    })
    .expect("flock taken");

    let (out, plan) = sweep_json(&dir, true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for (top, pid) in [
        ("locked", flocker.pid()),
        ("opened", opener.pid()),
        ("cwd", in_cwd.pid()),
    ] {
        let (action, reason, holder) = reason_of(&plan, &tmp.join(top));
        assert_eq!(action, "leave", "{top}: {reason}");
        assert!(
            reason.contains(&format!("kept: in use by pid {pid}")),
            "{top}: {reason}"
        );
        assert_eq!(holder, pid as i64, "{top}");
    }
    assert_eq!(reason_of(&plan, &tmp.join("free")).0, "delete");

    let (out, _) = sweep_json(&dir, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for kept in [
        "locked/a/b/flocked",
        "locked/a/loose",
        "opened/x/held",
        "cwd/here/f",
    ] {
        assert!(tmp.join(kept).exists(), "{kept} was deleted");
    }
    assert!(!tmp.join("free").exists());
}

/// Nothing was in use when the plan was made; a process opens a file deep
/// inside before the apply: the apply keeps it, with its directories, and
/// removes the rest of the tree.
#[test]
fn a_file_opened_after_the_plan_is_kept_at_apply() {
    let dir = TestDir::new();
    let tmp = dir.path().join("tmp");
    old_tree(&tmp, &["late/deep/er/held", "late/other/f", "late/g"]);
    let store = Arc::new(Mutex::new(open_store(&dir)));
    let scope = SweepScope::new(&Config::default(), &dir.data_dir());
    let plan = steward::sweep::scan(&scope, &store, &[SweepKind::TempUntracked]);
    assert_eq!(plan.items.len(), 1, "{plan:?}");
    let opener = GroupChild::spawn({
        let mut c = Command::new("sleep");
        c.arg("60").stdin(Stdio::from(
            File::open(tmp.join("late/deep/er/held")).unwrap(),
        ));
        c
    });
    let results = steward::sweep::apply(&scope, &store, &plan, &CancellationToken::new());
    match &results[0].outcome {
        SweepOutcome::Skipped { reason } => {
            assert!(
                reason.contains(&format!("kept: in use by pid {}", opener.pid())),
                "{reason}"
            );
        }
        other => panic!("expected the tree to be kept in part, got {other:?}"),
    }
    assert!(tmp.join("late/deep/er/held").exists());
    assert!(!tmp.join("late/other").exists() && !tmp.join("late/g").exists());
}
