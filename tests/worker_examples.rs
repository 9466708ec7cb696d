//! The README's "Writing a worker" examples (`examples/workers/`), each run
//! by the real steward against the real packages from PyPI (the venv
//! `.ci/run` makes under `target/pyvenv`), offline: the storage and RPC
//! calls that need no internet. Each starts, does its part, and stops
//! cleanly (exit 0, no SIGKILL) on steward's SIGTERM.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::python::test_python;
use common::*;

const LIMIT: Duration = Duration::from_secs(30);

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/workers")
        .join(name)
        .display()
        .to_string()
}

/// The account's worker as `status --json` shows it.
fn worker(dir: &TestDir) -> Option<serde_json::Value> {
    let s = dir.status_json()?;
    let a = s["accounts"]
        .as_array()?
        .iter()
        .find(|a| a["id"] == "alice")?;
    Some(a["worker"].clone())
}

fn logs(dir: &TestDir) -> String {
    std::fs::read_dir(dir.path().join("logs"))
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `script` as alice's worker: waits for `ready` in its output, checks
/// `running` while it runs, disables the account and expects the worker to
/// print `stopped` and exit 0 without SIGKILL.
fn run_example(script: &str, python: &Path, ready: &str, running: impl FnOnce(&TestDir)) {
    let dir = TestDir::new();
    dir.write_config(&format!(
        "[worker]\ncommand = [{:?}, {:?}]\nstop_timeout = \"10s\"\n\n[worker.env]\nSTEWARD_EXAMPLE_OFFLINE = \"1\"\nAPI_ID = \"12345\"\nAPI_HASH = \"0123456789abcdef0123456789abcdef\"\n",
        python.display().to_string(),
        example(script)
    ));
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut steward = dir.spawn_headless();
    wait_for(LIMIT, || logs(&dir).contains(ready).then_some(()))
        .unwrap_or_else(|| panic!("no {ready:?} in the log: {}", logs(&dir)));
    running(&dir);
    // The status file is written at most once a second: until it shows the
    // worker running, its "stopped" may be the one from before the start.
    wait_for(LIMIT, || {
        worker(&dir).filter(|w| w["state"]["state"] == "running" && !w["pid"].is_null())
    })
    .expect("worker shown running");
    assert!(dir.run(&["account", "disable", "alice"]).status.success());
    let w = wait_for(LIMIT, || {
        worker(&dir).filter(|w| w["state"]["state"] == "stopped" && w["pid"].is_null())
    })
    .expect("worker stopped");
    assert_eq!(w["stop_forced"], false, "{w}");
    let log = logs(&dir);
    assert!(log.contains("worker stopped cleanly"), "{log}");
    assert!(!log.contains("Traceback"), "{log}");
    let _ = Command::new("kill")
        .args(["-TERM", &steward.id().to_string()])
        .status();
    assert_eq!(steward.wait().unwrap().code(), Some(0));
}

fn is_sqlite(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(b"SQLite format 3\0"))
}

#[test]
fn the_pyrogram_example_opens_its_session_uses_tmpdir_and_stops_on_sigterm() {
    let Some(python) = test_python("pyrogram") else {
        return;
    };
    run_example(
        "pyrogram_worker.py",
        &python,
        "pyrogram session alice.session open, dc 2",
        |dir| {
            assert!(is_sqlite(&dir.session_file("alice")));
            let want = format!("scratch file in {}", dir.path().join("tmp").display());
            wait_for(LIMIT, || logs(dir).contains(&want).then_some(()))
                .unwrap_or_else(|| panic!("TMPDIR is not steward's: {}", logs(dir)));
        },
    );
}

#[test]
fn the_telethon_example_keeps_its_session_where_steward_says() {
    let Some(python) = test_python("telethon") else {
        return;
    };
    run_example(
        "telethon_worker.py",
        &python,
        "telethon session alice.session open, dc 2",
        |dir| assert!(is_sqlite(&dir.session_file("alice"))),
    );
}

#[test]
fn the_aria2p_example_reaches_stewards_aria2c() {
    let Some(python) = test_python("aria2p") else {
        return;
    };
    if !aria2c_available() {
        return;
    }
    run_example("aria2p_worker.py", &python, "answers, 0 downloads", |_| {});
}

#[test]
fn the_readme_quotes_each_example_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for name in [
        "pyrogram_worker.py",
        "telethon_worker.py",
        "aria2p_worker.py",
    ] {
        let text = std::fs::read_to_string(root.join("examples/workers").join(name)).unwrap();
        assert!(
            readme.contains(&format!("```python\n{text}```")),
            "README.md does not quote examples/workers/{name} as it is"
        );
    }
}
