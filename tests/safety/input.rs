//! Issue 12 items 4 and 5: input that is accepted must be sane, and
//! `steward stop` twice must not force.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::common::*;

// ---------------------------------------------------------------------------
// Item 5: `steward stop` twice must not force

/// Traps the stop signal, needs 1 s to save, writes a marker, exits 0.
const SAVING_WORKER: &str = r#"
trap 'sleep 1; echo saved > "$MARKER_DIR/$STEWARD_ACCOUNT.saved"; exit 0' TERM
while :; do sleep 0.1; done
"#;

/// A data dir with one account whose worker saves for 1 s on SIGTERM (5 s stop
/// timeout), and a separate dir for its markers; steward headless with the
/// worker running.
fn saving_fleet() -> (TestDir, tempfile::TempDir, Headless) {
    let dir = TestDir::new();
    let markers = tempfile::tempdir().unwrap();
    dir.write_config(&format!(
        "[worker]\ncommand = [\"sh\", \"-c\", {SAVING_WORKER:?}]\nstop_timeout = \"5s\"\nenv = {{ MARKER_DIR = {:?} }}\n",
        markers.path().display().to_string()
    ));
    let out = dir.run(&["account", "add", "saver"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let child = dir.spawn_headless();
    wait_for(Duration::from_secs(20), || {
        dir.status_json()
            .filter(|s| worker_state(s, "saver").as_deref() == Some("running"))
    })
    .expect("worker running");
    (dir, markers, child)
}

fn spawn_stop(dir: &TestDir) -> Child {
    dir.cmd(&["stop"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every `stop` ended well, steward exited 0, the shutdown was clean and the
/// worker saved (not SIGKILLed).
fn assert_clean_stop(dir: &TestDir, markers: &Path, mut steward: Headless, stops: Vec<Child>) {
    for stop in stops {
        let out = stop.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("shutdown clean"), "{}", stdout(&out));
    }
    let status =
        wait_for(Duration::from_secs(20), || steward.try_wait().unwrap()).expect("steward exited");
    assert_eq!(status.code(), Some(0));
    let after = dir.status_json().unwrap();
    assert_eq!(after["last_shutdown"], "clean", "{:#}", after["shutdown"]);
    assert_eq!(after["shutdown"]["forced"], false);
    assert_eq!(
        after["shutdown"]["killed_workers"].as_array().map(Vec::len),
        Some(0),
        "{:#}",
        after["shutdown"]
    );
    assert!(
        markers.join("saver.saved").exists(),
        "the worker never saved: it was killed"
    );
}

#[test]
fn two_plain_stops_in_a_row_do_not_force() {
    let (dir, markers, steward) = saving_fleet();
    let first = spawn_stop(&dir);
    // The scenario: a second `stop` 0.3 s later, while the worker saves.
    std::thread::sleep(Duration::from_millis(300));
    let second = spawn_stop(&dir);
    assert_clean_stop(&dir, markers.path(), steward, vec![first, second]);
}

#[test]
fn sigterm_and_two_concurrent_stops_do_not_force() {
    let (dir, markers, steward) = saving_fleet();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &steward.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let stops = vec![spawn_stop(&dir), spawn_stop(&dir)];
    assert_clean_stop(&dir, markers.path(), steward, stops);
}

#[test]
fn stop_force_forces_at_once() {
    let dir = TestDir::new();
    dir.write_config(
        "[worker]\ncommand = [\"sh\", \"-c\", \"trap '' TERM; while :; do sleep 0.1; done\"]\nstop_timeout = \"60s\"\n",
    );
    assert_eq!(
        dir.run(&["account", "add", "stubborn"]).status.code(),
        Some(0)
    );
    let mut steward = dir.spawn_headless();
    wait_for(Duration::from_secs(20), || {
        dir.status_json()
            .filter(|s| worker_state(s, "stubborn").as_deref() == Some("running"))
    })
    .expect("worker running");
    let out = dir.run(&["stop", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("shutdown forced"), "{}", stdout(&out));
    assert_eq!(steward.wait().unwrap().code(), Some(0));
    let after = dir.status_json().unwrap();
    assert_eq!(after["last_shutdown"], "forced");
    assert!(worker_pids(dir.path(), "stubborn").is_empty());
}

// ---------------------------------------------------------------------------
// Item 4: input that is accepted must be sane

/// The one-line error of a command that must refuse its input with exit 2.
fn refused(out: &std::process::Output) -> String {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {err}",
        stdout(out)
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("steward: "), "{err}");
    err
}

#[test]
fn an_overflowing_duration_is_a_config_error_and_the_fresh_trash_survives() {
    let dir = TestDir::new();
    // The reported case: a session file trashed a moment ago, keep "forever".
    let trash = dir.path().join("trash");
    std::fs::create_dir_all(&trash).unwrap();
    let trashed = trash.join(format!("bob.session.{}", steward::time::now_ms()));
    std::fs::write(&trashed, "session").unwrap();
    for (table, key) in [("trash", "keep"), ("temp", "max_age")] {
        dir.write_config(&format!("[{table}]\n{key} = \"10000000000000000s\"\n"));
        let err = refused(&dir.run(&["sweep"]));
        assert!(
            err.contains(&format!("for key \"{key}\" in [{table}]"))
                && err.contains("maximum 36500d"),
            "{err}"
        );
        assert!(trashed.exists(), "the sweep deleted a fresh trash entry");
    }
    dir.write_config("[shutdown]\nforce_after = \"10000000000000000s\"\n");
    // (Any command that reads the config; one that ends on old code too.)
    let err = refused(&dir.run(&["sweep", "--dry-run"]));
    assert!(
        err.contains("for key \"force_after\" in [shutdown]") && err.contains("maximum 1d"),
        "{err}"
    );
}

#[test]
fn a_nul_or_equals_in_worker_env_is_a_config_error() {
    let dir = TestDir::new();
    for (env, what) in [
        ("{ A = \"x\\u0000y\" }", "NUL byte in the value"),
        ("{ \"A\\u0000B\" = \"x\" }", "NUL byte in the variable name"),
        ("{ \"A=B\" = \"x\" }", "'=' in the variable name"),
    ] {
        dir.write_config(&format!("[worker]\nenv = {env}\n"));
        let err = refused(&dir.run(&["sweep", "--dry-run"]));
        assert!(
            err.contains(what) && err.contains("for key \"env\" in [worker]"),
            "{err}"
        );
    }
}
