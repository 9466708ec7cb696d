//! The CLI commands that act on a running instance (`status`, `stop`,
//! `download add`, `account add|rm|enable|disable`) go through its control
//! socket and return once it has acted, printing its reply; with no
//! instance they work on the data dir (or say that none runs). Each with
//! its text, its `--json` and its exit code, against a real
//! `steward run --headless`.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);

/// The one `--json` line a command printed.
fn json_of(out: &std::process::Output) -> Value {
    let text = stdout(out);
    assert_eq!(text.lines().count(), 1, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn ok(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    stdout(out)
}

/// Exit code `code` and one `steward: ...` line containing `what`.
fn fails(out: &std::process::Output, code: i32, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}{}", stdout(out));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("steward: ") && err.contains(what), "{err}");
}

#[test]
fn without_an_instance_accounts_are_written_here_and_the_rest_says_none_runs() {
    let dir = TestDir::new();
    assert_eq!(
        ok(&dir.run(&["account", "add", "alice"])),
        "account alice added\n"
    );
    let added = json_of(&dir.run(&["account", "add", "bob", "--disabled", "--json"]));
    assert_eq!(
        added,
        serde_json::json!({"ok": true, "text": "account bob added", "value": null})
    );
    let enabled = json_of(&dir.run(&["account", "enable", "bob", "--json"]));
    assert_eq!(enabled["text"], "account bob enabled");
    assert_eq!(
        ok(&dir.run(&["account", "disable", "bob"])),
        "account bob disabled\n"
    );
    let removed = json_of(&dir.run(&["account", "rm", "bob", "--json"]));
    assert_eq!(removed["ok"], true);
    assert!(
        removed["text"]
            .as_str()
            .unwrap()
            .starts_with("account bob removed; "),
        "{removed}"
    );
    fails(&dir.run(&["account", "rm", "bob"]), 2, "no account bob");
    fails(&dir.run(&["account", "add", "alice"]), 2, "already exists");

    let root = dir.path().display().to_string();
    fails(
        &dir.run(&["stop", "--json"]),
        1,
        &format!("no steward is running on {root}"),
    );
    fails(
        &dir.run(&["download", "add", "http://127.0.0.1:9/x.bin"]),
        1,
        &format!("no instance running on {root} (start it: steward run --headless)"),
    );
    let status = dir.status_json().unwrap();
    assert_eq!(status["instance"]["live"], false);
    assert!(stdout(&dir.run(&["status"])).contains("not running"));
}

#[test]
fn with_an_instance_commands_go_to_it_and_print_its_reply() {
    let dir = TestDir::new();
    ok(&dir.run(&["account", "add", "alice"]));
    let mut steward = dir.spawn_headless();
    let pid = steward.id() as i32;
    let live = wait_for(LIMIT, || {
        dir.status_json().filter(|s| s["instance"]["live"] == true)
    });
    assert!(live.is_some(), "the instance never answered");
    let added = ok(&dir.run(&["account", "add", "bob"]));
    let worker: i32 = added
        .strip_prefix("account bob added; worker pid ")
        .and_then(|rest| rest.strip_suffix(" running\n"))
        .unwrap_or_else(|| panic!("{added:?}"))
        .parse()
        .unwrap();
    assert!(alive(worker));
    assert!(worker_pids(dir.path(), "bob").contains(&worker));

    // The status is the instance's, live, with that worker.
    let status = wait_for(LIMIT, || {
        dir.status_json()
            .filter(|s| worker_pid(s, "bob") == Some(worker))
    });
    let status = status.expect("the status never showed bob's worker");
    assert_eq!(status["instance"]["live"], true);
    assert_eq!(status["instance"]["pid"], pid);
    let text = stdout(&dir.run(&["status"]));
    assert!(text.contains(&format!("running (pid {pid},")), "{text}");
    assert!(text.contains("bob"), "{text}");

    // Bad input is refused here, before anything is sent: exit 2.
    fails(&dir.run(&["account", "add", "bob"]), 2, "already exists");
    fails(&dir.run(&["account", "add", "a/b"]), 2, "account id");
    fails(&dir.run(&["account", "enable", "zed"]), 2, "no account zed");
    fails(&dir.run(&["account", "rm", "zed"]), 2, "no account zed");
    fails(
        &dir.run(&[
            "download",
            "add",
            "--account",
            "zed",
            "http://127.0.0.1:9/x",
        ]),
        2,
        "no account zed",
    );

    // The secret travels to the instance and is never printed.
    let out = dir
        .cmd(&[
            "account",
            "add",
            "carol",
            "--secret-env",
            "CAROL_SECRET",
            "--json",
        ])
        .env("CAROL_SECRET", "carol-very-secret-1")
        .output()
        .unwrap();
    let reply = json_of(&out);
    assert!(!stdout(&out).contains("carol-very-secret-1"));
    assert_eq!(reply["ok"], true, "{reply}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .starts_with("account carol added; worker pid "),
        "{reply}"
    );
    assert!(reply["value"]["pid"].as_i64().is_some(), "{reply}");
    let status = dir.status_json().unwrap();
    let carol = status["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "carol")
        .unwrap();
    assert_eq!(carol["secret_len"], 19);

    // Disable stops the worker before the reply; enable starts a new one.
    let disabled = json_of(&dir.run(&["account", "disable", "bob", "--json"]));
    assert_eq!(
        disabled,
        serde_json::json!({"ok": true, "text": "account bob disabled", "value": null})
    );
    let enabled = json_of(&dir.run(&["account", "enable", "bob", "--json"]));
    assert_eq!(enabled["ok"], true, "{enabled}");
    let again = enabled["value"]["pid"].as_i64().unwrap() as i32;
    assert!(alive(again));
    let removed = ok(&dir.run(&["account", "rm", "carol"]));
    assert!(removed.starts_with("account carol removed"), "{removed}");

    if aria2c_available() {
        let wait = wait_for(LIMIT, || {
            dir.status_json()
                .filter(|s| s["aria2"]["state"]["state"] == "running")
        });
        assert!(wait.is_some(), "aria2c never ran");
        let added = ok(&dir.run(&["download", "add", "http://127.0.0.1:9/x.bin"]));
        assert!(
            added.starts_with("download ") && added.ends_with(" added\n"),
            "{added}"
        );
        let out = dir.run(&[
            "download",
            "add",
            "--account",
            "alice",
            "http://127.0.0.1:9/y.bin",
            "--json",
        ]);
        let reply = json_of(&out);
        let gid = reply["value"]["gid"].as_str().unwrap().to_string();
        assert_eq!(reply["text"], format!("download {gid} added"));
        let owned = wait_for(LIMIT, || {
            dir.status_json().filter(|s| {
                s["aria2"]["downloads"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|d| d["gid"] == gid && d["account"] == "alice"))
            })
        });
        assert!(
            owned.is_some(),
            "download {gid} never showed alice as owner"
        );
    }

    // stop --json: one line at the end, the report as its value; the
    // instance has gone (lock released) by the time it returns.
    let stopped = json_of(&dir.run(&["stop", "--json"]));
    assert_eq!(stopped["ok"], true, "{stopped}");
    assert!(
        stopped["text"]
            .as_str()
            .unwrap()
            .starts_with("steward: shutdown clean"),
        "{stopped}"
    );
    assert!(!stopped["value"]["phases"].as_array().unwrap().is_empty());
    assert!(stopped["value"]["finished_ms"].as_i64().is_some());
    assert!(stdout(&dir.run(&["status"])).contains("not running"));
    assert_eq!(steward.wait().unwrap().code(), Some(0));
    fails(&dir.run(&["stop"]), 1, "no steward is running");
}

/// A held instance lock with no socket answering (an instance that cannot
/// open it, or a steward without one) is said so after a bounded wait,
/// not mistaken for "not running".
#[test]
fn a_held_lock_without_a_socket_is_a_clear_error() {
    let dir = TestDir::new();
    ok(&dir.run(&["account", "add", "alice"]));
    let lock = dir.path().join("steward.lock");
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    assert!(wait_for(LIMIT, || flock_is_held(&lock).then_some(())).is_some());
    for args in [&["status"][..], &["account", "disable", "alice"]] {
        fails(&dir.run(args), 1, "does not answer on");
    }
    let _ = holder.kill();
    let _ = holder.wait();
    // The disable was not written behind the lock holder's back.
    let listed: Value =
        serde_json::from_str(&ok(&dir.run(&["account", "list", "--json"]))).unwrap();
    assert_eq!(listed[0]["enabled"], true);
}
