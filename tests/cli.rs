//! The command line as a contract: exit codes, error lines, account-id rules,
//! config errors, the second-instance refusal and `status --json`.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::time::Duration;

use common::*;

#[test]
fn help_and_version_exit_zero_usage_errors_exit_two() {
    let dir = TestDir::new();
    let out = dir.run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("account"));
    for sub in [
        &["account", "--help"][..],
        &["run", "--help"],
        &["status", "--help"],
        &["doctor", "--help"],
    ] {
        assert_eq!(dir.run(sub).status.code(), Some(0), "{sub:?}");
    }
    let out = dir.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = dir.run(&["account", "add"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn account_ids_are_checked_before_anything_is_written() {
    let dir = TestDir::new();
    for bad in ["a/b", "..", ".", "with space", &"x".repeat(65), "é"] {
        let out = dir.run(&["account", "add", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = stderr(&out);
        assert!(err.starts_with("steward: account id"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(!dir.path().join("steward.db").exists());
    let out = dir.run(&["account", "add", "alice_01.x-y"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn accounts_add_list_enable_disable_rm() {
    let dir = TestDir::new();
    let out = dir
        .cmd(&[
            "account",
            "add",
            "alice",
            "--name",
            "Alice",
            "--secret-env",
            "ALICE_SECRET",
        ])
        .env("ALICE_SECRET", "hunter2-very-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = dir.run(&["account", "add", "alice"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("alice"), "{}", stderr(&out));
    let out = dir.run(&["account", "add", "bob", "--secret-env", "NOPE_NOT_SET"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("NOPE_NOT_SET"));

    let out = dir.run(&["account", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(!text.contains("hunter2"), "secret leaked: {text}");
    let list: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list[0]["id"], "alice");
    assert_eq!(list[0]["name"], "Alice");
    assert_eq!(list[0]["secret_len"], 19);
    let plain = stdout(&dir.run(&["account", "list"]));
    assert!(
        plain.contains("••••") && !plain.contains("hunter2"),
        "{plain}"
    );

    assert_eq!(
        dir.run(&["account", "disable", "alice"]).status.code(),
        Some(0)
    );
    let list: serde_json::Value =
        serde_json::from_slice(&dir.run(&["account", "list", "--json"]).stdout).unwrap();
    assert_eq!(list[0]["enabled"], false);
    assert_eq!(
        dir.run(&["account", "enable", "nobody"]).status.code(),
        Some(2)
    );

    std::fs::create_dir_all(dir.path().join("sessions")).unwrap();
    std::fs::write(dir.session_file("alice"), "precious").unwrap();
    let out = dir.run(&["account", "rm", "alice"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!dir.session_file("alice").exists());
    let trashed: Vec<_> = std::fs::read_dir(dir.path().join("trash"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(trashed.len(), 1);
    assert_eq!(
        std::fs::read_to_string(trashed[0].path()).unwrap(),
        "precious"
    );
    assert_eq!(dir.run(&["account", "rm", "alice"]).status.code(), Some(2));
}

#[test]
fn a_bad_config_names_file_line_and_key() {
    let dir = TestDir::new();
    dir.write_config("[worker]\nstop_timeout = \"5s\"\n\ncomand = [\"x\"]\n");
    let out = dir.run(&["run", "--headless"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("steward: config error in "), "{err}");
    assert!(
        err.contains("/steward.toml line 4: unknown key \"comand\" in [worker]"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    let out = dir
        .cmd(&["--config", "/nonexistent/steward.toml", "doctor"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("/nonexistent/steward.toml")
            || stderr(&out).contains("/nonexistent/steward.toml")
    );
    let out = dir
        .cmd(&["--config", "/nonexistent/steward.toml", "run", "--headless"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_foreign_or_corrupt_database_is_refused_with_exit_two() {
    let dir = TestDir::new();
    std::fs::write(dir.path().join("steward.db"), vec![0x5a; 8192]).unwrap();
    let out = dir.run(&["account", "add", "alice"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("steward: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let out = dir.run(&["run", "--headless"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("steward.db")).unwrap(),
        vec![0x5a; 8192]
    );
}

#[test]
fn a_second_instance_is_refused_naming_the_first_pid() {
    let dir = TestDir::new();
    dir.run(&["account", "add", "alice"]);
    let mut first = dir.spawn_headless();
    let pid = first.id() as i32;
    let ready = wait_for(Duration::from_secs(20), || {
        dir.status_json().filter(|s| s["instance"]["live"] == true)
    });
    assert!(ready.is_some(), "first instance never published its status");
    let out = dir.run(&["run", "--headless"]);
    assert_eq!(out.status.code(), Some(3));
    let expected = format!(
        "steward: data dir {} is in use by steward pid {pid}\n",
        dir.path().display()
    );
    assert_eq!(stderr(&out), expected);

    let status = dir.status_json().unwrap();
    assert_eq!(status["instance"]["live"], true);
    assert_eq!(status["instance"]["pid"], pid);
    let account = &status["accounts"][0];
    for field in ["id", "name", "enabled", "worker"] {
        assert!(!account[field].is_null(), "missing {field}: {account}");
    }
    for field in ["state", "pid", "started_ms", "restarts"] {
        assert!(
            account["worker"].get(field).is_some(),
            "missing worker.{field}"
        );
    }

    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let status = first.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let after = dir.status_json().unwrap();
    assert_eq!(after["instance"]["live"], false);
    assert_eq!(after["last_shutdown"], "clean");
}

#[test]
fn status_and_doctor_work_on_a_fresh_data_dir() {
    let dir = TestDir::new();
    let out = dir.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("not running"));
    let status = dir.status_json().unwrap();
    assert_eq!(status["instance"]["live"], false);
    let out = dir.run(&["doctor"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("lock free"));
}

/// `steward status | head` and the like: a stdout whose reader is gone
/// drops the output; it never panics (`print!` would, on EPIPE).
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let dir = TestDir::new();
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["account", "list"],
        &["account", "list", "--json"],
        &["trash", "list"],
        &["sweep", "--dry-run"],
        &["sweep", "--dry-run", "--json"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = dir.cmd(args).stdout(writer).output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}
