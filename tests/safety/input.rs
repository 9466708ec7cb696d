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

/// An account row written straight into the store, as an older steward (or
/// another tool) could have left it.
fn add_row(dir: &TestDir, id: &str, name: &str) {
    let store = open_store(dir);
    store
        .add_account(&steward::store::AccountRow {
            id: id.to_owned(),
            name: name.to_owned(),
            enabled: false,
            secret: None,
            created_ms: 0,
        })
        .unwrap();
}

#[test]
fn long_or_control_character_names_are_refused_at_account_add() {
    let dir = TestDir::new();
    let long = "n".repeat(70_000);
    let err = refused(&dir.run(&["account", "add", "big", "--name", &long]));
    assert!(err.contains("at most 200"), "{err}");
    let err = refused(&dir.run(&["account", "add", "esc", "--name", "x\u{1b}[2Jy"]));
    assert!(
        err.contains("control character") && !err.contains('\u{1b}'),
        "{err}"
    );
    // Nothing was added.
    let out = dir.run(&["account", "list", "--json"]);
    assert_eq!(stdout(&out).trim(), "[]", "{}", stderr(&out));
    let ok = dir.run(&["account", "add", "fine", "--name", &"é".repeat(200)]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
}

#[test]
fn a_huge_name_from_before_prints_truncated_and_never_panics() {
    let dir = TestDir::new();
    add_row(&dir, "big", &"n".repeat(70_000));
    for args in [&["status"][..], &["account", "list"]] {
        let out = dir.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        let row = text.lines().find(|l| l.starts_with("big")).expect("row");
        assert!(
            row.contains('…') && row.chars().count() < 400,
            "{args:?}: {} chars",
            row.chars().count()
        );
    }
}

/// Plants escape sequences in every kind of outside text the CLI prints:
/// an account name, a trash entry's name, a sweepable session file's name, the
/// worker command (doctor). No ESC, CSI or BEL byte may reach the terminal.
#[test]
fn no_control_character_from_outside_reaches_the_terminal() {
    let dir = TestDir::new();
    let evil = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m";
    add_row(&dir, "acct", &format!("name{evil}"));
    let trash = dir.path().join("trash");
    std::fs::create_dir_all(&trash).unwrap();
    std::fs::write(trash.join(format!("x{evil}.session.1700000000000")), "s").unwrap();
    let sessions = dir.path().join("sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    std::fs::write(sessions.join(format!("ghost{evil}.session")), "s").unwrap();
    // (JSON's string escapes are TOML's for these characters.)
    let command = serde_json::to_string(&format!("/nonexistent/{evil}")).unwrap();
    dir.write_config(&format!("[worker]\ncommand = [{command}]\n"));
    let commands: [&[&str]; 5] = [
        &["status"],
        &["account", "list"],
        &["trash", "list"],
        &["sweep", "--dry-run"],
        &["doctor"],
    ];
    for args in commands {
        let out = dir.run(args);
        assert!(
            out.status.code().is_some(),
            "{args:?} died: {}",
            stderr(&out)
        );
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains(['\u{1b}', '\u{7}', '\u{9b}']),
                "{args:?} {stream} has raw control characters: {text:?}"
            );
        }
        assert!(
            stdout(&out).contains("\\u{1b}") || stderr(&out).contains("\\u{1b}"),
            "{args:?} hid the outside text instead of escaping it: {}",
            stdout(&out)
        );
    }
}

#[test]
fn a_non_utf8_secret_env_says_so() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TestDir::new();
    let out = dir
        .cmd(&["account", "add", "bob", "--secret-env", "BOB_SECRET"])
        .env("BOB_SECRET", std::ffi::OsStr::from_bytes(b"hunter\xff2"))
        .output()
        .unwrap();
    let err = refused(&out);
    assert!(err.contains("BOB_SECRET is not valid UTF-8"), "{err}");
    assert!(!err.contains("not set") && !err.contains("hunter"), "{err}");
    let out = dir.run(&["account", "add", "bob", "--secret-env", "UNSET_SECRET_VAR"]);
    assert!(refused(&out).contains("UNSET_SECRET_VAR is not set"));
}

#[test]
fn the_dashboard_without_a_terminal_starts_nothing() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path()).unwrap();
    assert_eq!(dir.run(&["account", "add", "alice"]).status.code(), Some(0));
    // (`account add` prepared the data dir, and logged tightening the
    // tempdir's 0755: what `run` must not add to.)
    let logs = || -> Vec<(std::path::PathBuf, u64)> {
        std::fs::read_dir(dir.path().join("logs"))
            .map(|d| {
                d.flatten()
                    .map(|e| (e.path(), e.metadata().map_or(0, |m| m.len())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let logs_before = logs();
    let out = dir
        .cmd(&["run"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = refused(&out);
    assert!(
        err.contains("no terminal: use `steward run --headless`"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "{:?}", stdout(&out));
    assert!(!stderr(&out).contains('\u{1b}'));
    // Nothing started: no worker ran, no log, no status file.
    assert!(!dir.path().join("status.json").exists());
    assert_eq!(logs(), logs_before, "the log was written");
    assert!(worker_pids(dir.path(), "alice").is_empty());
}

#[test]
fn an_empty_store_next_to_session_files_is_refused() {
    let dir = TestDir::new();
    let session = dir.session_file("alice");
    std::fs::create_dir_all(session.parent().unwrap()).unwrap();
    std::fs::write(&session, "precious").unwrap();
    std::fs::write(dir.path().join("steward.db"), "").unwrap();
    let commands: [&[&str]; 4] = [
        &["sweep"],
        &["account", "list"],
        &["status"],
        &["run", "--headless"],
    ];
    for args in commands {
        let err = refused(&dir.run(args));
        assert!(
            err.contains("steward.db is empty (0 bytes)"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&session).unwrap(), "precious");
    assert_eq!(
        std::fs::metadata(dir.path().join("steward.db"))
            .unwrap()
            .len(),
        0
    );
    // In a data dir with nothing else, an empty file is a fresh store.
    let fresh = TestDir::new();
    std::fs::write(fresh.path().join("steward.db"), "").unwrap();
    let out = fresh.run(&["account", "add", "bob"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn account_rm_without_a_session_file_trashes_nothing() {
    let dir = TestDir::new();
    assert_eq!(
        dir.run(&["account", "add", "alice", "--disabled"])
            .status
            .code(),
        Some(0)
    );
    assert!(!dir.session_file("alice").exists());
    let out = dir.run(&["account", "rm", "alice"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("no session file"), "{}", stdout(&out));
    assert!(!dir.session_file("alice").exists());
    let trash = dir.path().join("trash");
    let entries = std::fs::read_dir(&trash).map(|d| d.count()).unwrap_or(0);
    assert_eq!(entries, 0, "something was trashed");
}
