//! Session locks real clients can live with (issue 13): the account's lock
//! is on `sessions/ID.lock`; the session file is the worker library's own,
//! created by it. Workers run on the real Pyrogram storage from PyPI (a venv
//! `.ci/run` makes under `target/pyvenv`), with no network.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::python::test_python;
use common::*;

const LIMIT: Duration = Duration::from_secs(30);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// A config running `command` as every worker, restarting it quickly, with
/// `RESULTS` naming the file it reports to.
fn config(dir: &TestDir, command: &[&str]) -> PathBuf {
    let results = dir.path().join("results.txt");
    let argv: Vec<String> = command.iter().map(|a| format!("{a:?}")).collect();
    dir.write_config(&format!(
        "[worker]\ncommand = [{}]\nrestart = \"always\"\nbackoff_initial = \"100ms\"\nstop_timeout = \"10s\"\n\n[worker.env]\nRESULTS = {:?}\n",
        argv.join(", "),
        results.display().to_string()
    ));
    results
}

fn results(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn wait_line(path: &Path, want: &str) -> String {
    wait_for(LIMIT, || {
        let text = results(path);
        text.contains(want).then_some(text)
    })
    .unwrap_or_else(|| panic!("no {want:?} in the results: {}", results(path)))
}

/// The pid run `n` of the worker reported.
fn run_pid(path: &Path, n: u32) -> i32 {
    let want = format!("run {n} pid ");
    let text = wait_line(path, &want);
    let line = text.lines().find(|l| l.starts_with(&want)).unwrap();
    line[want.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn lock_holders(dir: &TestDir, account: &str) -> Vec<i64> {
    dir.status_json()
        .and_then(|s| {
            s["accounts"]
                .as_array()?
                .iter()
                .find(|a| a["id"] == account)
                .map(|a| {
                    a["worker"]["lock_holders"]
                        .as_array()
                        .map(|l| l.iter().filter_map(|p| p.as_i64()).collect())
                        .unwrap_or_default()
                })
        })
        .unwrap_or_default()
}

fn sigterm(steward: &mut Headless) {
    let _ = Command::new("kill")
        .args(["-TERM", &steward.id().to_string()])
        .status();
    assert_eq!(steward.wait().unwrap().code(), Some(0));
}

/// A data dir with one account, alice, whose worker is the Pyrogram storage
/// script, and the file it reports to; `None` (skipped) without the venv.
fn pyrogram_account() -> Option<(TestDir, PathBuf)> {
    let python = test_python("pyrogram.storage")?;
    let dir = TestDir::new();
    let out = config(
        &dir,
        &[
            python.to_str().unwrap(),
            script("pyrogram_worker.py").to_str().unwrap(),
        ],
    );
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    Some((dir, out))
}

#[test]
fn a_pyrogram_worker_creates_its_session_and_keeps_it_across_restarts() {
    let Some((dir, out)) = pyrogram_account() else {
        return;
    };
    let mut steward = dir.spawn_headless();

    // Run 1 creates the storage, writes and exits; steward restarts it and
    // run 2 reads back what run 1 wrote.
    let text = wait_line(&out, "run 2 ");
    assert!(text.contains("run 1 pid"), "{text}");
    assert!(text.contains("saw None"), "{text}");
    assert!(text.contains("saw 1"), "{text}");
    let head = std::fs::read(dir.session_file("alice")).unwrap();
    assert!(head.starts_with(b"SQLite format 3\0"), "not a database");
    let pid = run_pid(&out, 2);
    // A second holder of the account's lock is impossible while it runs.
    assert!(flock_is_held(&dir.lock_file("alice")));
    wait_for(LIMIT, || {
        (lock_holders(&dir, "alice") == vec![i64::from(pid)]).then_some(())
    })
    .expect("the worker named as the lock's holder");

    // Stopped and started again by steward: run 3 reads run 2's value.
    assert!(dir.run(&["account", "disable", "alice"]).status.success());
    wait_for(LIMIT, || {
        (!alive(pid) && !flock_is_held(&dir.lock_file("alice"))).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "worker still running or lock held: {:?} {}",
            dir.status_json(),
            results(&out)
        )
    });
    assert!(dir.run(&["account", "enable", "alice"]).status.success());
    let text = wait_line(&out, "run 3 ");
    assert!(text.contains("saw 2"), "{text}");
    let pid = run_pid(&out, 3);

    wait_for(LIMIT, || {
        (lock_holders(&dir, "alice") == vec![i64::from(pid)]).then_some(())
    })
    .unwrap_or_else(|| panic!("holders {:?}, not [{pid}]", lock_holders(&dir, "alice")));

    sigterm(&mut steward);
    assert!(!alive(pid));
    let text = results(&out);
    assert!(!text.contains("FAILED"), "{text}");
    assert!(!text.contains("locked"), "{text}");
}

#[test]
fn an_empty_session_file_of_an_older_steward_is_trashed_and_pyrogram_starts() {
    let Some((dir, out)) = pyrogram_account() else {
        return;
    };
    // What an older steward left: the session file it created empty to flock it.
    std::fs::create_dir_all(dir.path().join("sessions")).unwrap();
    std::fs::write(dir.session_file("alice"), "").unwrap();
    let mut steward = dir.spawn_headless();
    let text = wait_line(&out, "run 1 ");
    assert!(!text.contains("FAILED"), "{text}");
    assert!(text.contains("saw None"), "{text}");
    let trashed: Vec<_> = std::fs::read_dir(dir.path().join("trash"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(trashed.len(), 1);
    let name = trashed[0].file_name().to_string_lossy().into_owned();
    assert!(name.starts_with("alice.session."), "{name}");
    assert_eq!(trashed[0].metadata().unwrap().len(), 0);
    sigterm(&mut steward);
    let log = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("empty session file"), "{log}");
}

#[test]
fn no_worker_starts_while_another_process_holds_the_accounts_lock() {
    let dir = TestDir::new();
    let out = config(
        &dir,
        &[
            "sh",
            "-c",
            "echo state > \"$STEWARD_SESSION_FILE\"; echo started >> \"$RESULTS\"; exec sleep 300",
        ],
    );
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    std::fs::create_dir_all(dir.path().join("sessions")).unwrap();
    let mut flock = Command::new("flock");
    flock.arg(dir.lock_file("alice")).args(["sleep", "300"]);
    let holder = GroupChild::spawn(flock);
    wait_for(LIMIT, || {
        flock_is_held(&dir.lock_file("alice")).then_some(())
    })
    .expect("flock holds the lock");

    let mut steward = dir.spawn_headless();
    let history = wait_for(LIMIT, || {
        let s = dir.status_json()?;
        let a = s["accounts"]
            .as_array()?
            .iter()
            .find(|a| a["id"] == "alice")?;
        let text = a["worker"]["restart_history"].to_string();
        text.contains("alice.lock held by pid").then_some(text)
    })
    .expect("the start failure names the lock and its holder");
    assert!(history.contains(&holder.pid().to_string()), "{history}");
    assert_eq!(results(&out), "", "a worker started beside the holder");
    assert!(
        !dir.session_file("alice").exists(),
        "steward created the session file"
    );

    drop(holder);
    wait_line(&out, "started");
    let pid = wait_for(LIMIT, || {
        dir.status_json().and_then(|s| worker_pid(&s, "alice"))
    })
    .expect("worker running once the lock is free");
    // The worker created its session file. Deleting it voids nothing: the
    // lock is on alice.lock, still held by the worker and named so.
    assert_eq!(
        std::fs::read_to_string(dir.session_file("alice")).unwrap(),
        "state\n"
    );
    std::fs::remove_file(dir.session_file("alice")).unwrap();
    assert!(flock_is_held(&dir.lock_file("alice")));
    wait_for(LIMIT, || {
        (lock_holders(&dir, "alice") == vec![i64::from(pid)]).then_some(())
    })
    .unwrap_or_else(|| panic!("holders {:?}, not [{pid}]", lock_holders(&dir, "alice")));
    assert!(flock_is_held(&dir.lock_file("alice")));
    sigterm(&mut steward);
    assert!(!alive(pid));
}

#[test]
fn after_a_crash_status_doctor_and_account_rm_name_the_live_worker() {
    let dir = TestDir::new();
    config(&dir, &["sh", "-c", "exec sleep 300"]);
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut steward = dir.spawn_headless();
    let pid = wait_for(LIMIT, || {
        dir.status_json().and_then(|s| worker_pid(&s, "alice"))
    })
    .expect("worker running");
    let steward_pid = steward.id() as i32;
    kill9(steward_pid);
    let _ = steward.wait();
    assert!(alive(pid));

    let want = format!(
        "leftover worker pid {pid} of a crashed steward is still running and holds alice's lock; the next start (or `steward sweep`) stops it"
    );
    let status = dir.run(&["status"]);
    assert!(stdout(&status).contains(&want), "{}", stdout(&status));
    assert_eq!(lock_holders(&dir, "alice"), vec![i64::from(pid)]);
    let doctor = dir.run(&["doctor"]);
    assert!(stdout(&doctor).contains(&want), "{}", stdout(&doctor));

    let rm = dir.run(&["account", "rm", "alice"]);
    assert_eq!(rm.status.code(), Some(1), "{}", stderr(&rm));
    let err = stderr(&rm);
    assert!(err.contains(&format!("[{pid}]")), "{err}");
    assert!(!err.contains(&steward_pid.to_string()), "{err}");

    // The next start stops it.
    let mut steward = dir.spawn_headless();
    wait_for(LIMIT, || (!alive(pid)).then_some(())).expect("leftover stopped");
    sigterm(&mut steward);
    let status = dir.run(&["status"]);
    assert!(!stdout(&status).contains("leftover"), "{}", stdout(&status));
}
