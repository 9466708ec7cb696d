//! Secrets never shown, session paths never followed, the root warning: the
//! real binary with a worker that prints its environment and its secret,
//! aria2c running, read back from every place steward writes or shows text.

use std::path::Path;
use std::time::Duration;

use crate::common::tmux::Tmux;
use crate::common::*;

const LONG: Duration = Duration::from_secs(30);
/// Long enough to be taken for nothing else.
const ALICE_SECRET: &str = "alice-very-secret-4711";
/// As short as `account add` accepts (8 characters).
const BOB_SECRET: &str = "Qz8kW2pX";

/// A worker that prints its whole environment, then its secrets on one line,
/// then its own secret split across two writes 300 ms apart (two pipe reads
/// for steward), then sleeps.
const LEAKY_WORKER: &str = r#"[worker]
command = ["sh", "-c", '''
env
echo "mine=$STEWARD_SECRET aria2=$ARIA2_RPC_SECRET"
s=$STEWARD_SECRET
printf 'split=%s' "$(printf %s "$s" | cut -c1-5)"
sleep 0.3
printf '%s\n' "$(printf %s "$s" | cut -c6-)"
echo ready
exec sleep 300
''']
"#;

fn add_account(dir: &TestDir, id: &str, secret: &str) {
    let out = dir
        .cmd(&["account", "add", id, "--secret-env", "THE_SECRET"])
        .env("THE_SECRET", secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Both workers have printed everything (aria2's secret included, so aria2c
/// ran) and their pids; then the three secrets steward knows.
fn wait_for_leaky_workers(dir: &TestDir) -> [String; 3] {
    let pids = wait_for(LONG, || {
        let status = dir.status_json()?;
        let mut pids = Vec::new();
        for id in ["alice", "bob"] {
            let account = status["accounts"]
                .as_array()?
                .iter()
                .find(|a| a["id"] == id)?;
            let logs: Vec<&str> = account["worker"]["recent_logs"]
                .as_array()?
                .iter()
                .filter_map(|l| l.as_str())
                .collect();
            if !logs.contains(&"ready") {
                return None;
            }
            // Not a test failure yet: this is where it shows.
            assert!(
                logs.contains(&"mine=*** aria2=***") && logs.contains(&"split=***"),
                "{id}'s output is not masked as expected: {logs:?}"
            );
            pids.push(worker_pid(&status, id)?);
        }
        Some(pids)
    })
    .unwrap_or_else(|| panic!("the workers never printed; status: {:?}", dir.status_json()));
    let aria2 = steward::proc::environ_var(pids[0], "ARIA2_RPC_SECRET")
        .expect("the worker got aria2's secret");
    let aria2 = String::from_utf8(aria2).unwrap();
    assert!(aria2.len() >= 16, "{aria2}");
    [ALICE_SECRET.to_string(), BOB_SECRET.to_string(), aria2]
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret shows in {what}:\n{text}"
        );
    }
}

fn logs_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir.join("logs")).unwrap().flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    text
}

/// A data dir whose two accounts (alice, bob) run the leaky worker.
fn leaky_fleet() -> TestDir {
    let dir = TestDir::new();
    dir.write_config(LEAKY_WORKER);
    add_account(&dir, "alice", ALICE_SECRET);
    add_account(&dir, "bob", BOB_SECRET);
    dir
}

#[test]
fn no_secret_reaches_the_log_status_or_events() {
    if !aria2c_available() {
        return;
    }
    let dir = leaky_fleet();
    let mut steward = dir.spawn_headless();
    let secrets = wait_for_leaky_workers(&dir);

    // status.json is written at most every second: it may lag behind the
    // live status the socket gave.
    let status_file = wait_for(LONG, || {
        std::fs::read_to_string(dir.path().join("status.json"))
            .ok()
            .filter(|t| t.contains("mine=*** aria2=***"))
    })
    .expect("status.json shows the masked output");
    assert_no_secret("status.json", &status_file, &secrets);
    let out = dir.run(&["status", "--json"]);
    assert_no_secret("status --json", &stdout(&out), &secrets);
    let out = dir.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secret("status", &stdout(&out), &secrets);

    // Removing an account records an event (once the running instance has
    // stopped bob's worker and trashed his session); then a clean stop
    // flushes the log.
    assert!(dir.run(&["account", "rm", "bob"]).status.success());
    wait_for(LONG, || {
        let events = open_store(&dir).recent_events(10_000).ok()?;
        events
            .iter()
            .any(|e| e.kind == "account.remove" && e.subject == "bob")
            .then_some(())
    })
    .expect("the instance recorded bob's removal");
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_for(LONG, || steward.try_wait().ok().flatten()).expect("steward stopped");

    let log = logs_text(dir.path());
    assert_no_secret("the log", &log, &secrets);
    assert!(log.contains("STEWARD_SECRET=***"), "{log}");
    assert!(log.contains("ARIA2_RPC_SECRET=***"), "{log}");
    assert!(log.contains("split=***"), "{log}");
    let events = format!("{:?}", open_store(&dir).recent_events(10_000).unwrap());
    assert!(events.contains("account.remove"), "{events}");
    assert_no_secret("the events", &events, &secrets);
}

#[test]
fn a_secret_shorter_than_8_characters_is_refused_at_input() {
    let dir = TestDir::new();
    let out = dir
        .cmd(&["account", "add", "carol", "--secret-env", "THE_SECRET"])
        .env("THE_SECRET", "short12")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("steward: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(err.contains("at least 8"), "{err}");
    assert!(!err.contains("short12"), "{err}");
    let out = dir.run(&["account", "list", "--json"]);
    assert!(!stdout(&out).contains("carol"), "{}", stdout(&out));
}

#[test]
fn a_short_secret_left_by_an_older_steward_is_masked_and_warned_about() {
    let dir = TestDir::new();
    dir.write_config(
        "[worker]\ncommand = [\"sh\", \"-c\", \"echo token=$STEWARD_SECRET; echo ready; exec sleep 300\"]\n[aria2]\nenabled = false\n",
    );
    // Written straight into the store, as a steward without the length rule did.
    open_store(&dir)
        .add_account(&steward::store::AccountRow {
            id: "old".into(),
            name: "old".into(),
            enabled: true,
            secret: Some("x#7".into()),
            created_ms: 0,
        })
        .unwrap();
    let mut steward = dir.spawn_headless();
    let status = wait_for(LONG, || {
        let status = dir.status_json()?;
        let logs = status["accounts"][0]["worker"]["recent_logs"].as_array()?;
        logs.iter().any(|l| l == "ready").then_some(status)
    })
    .unwrap_or_else(|| panic!("the worker never printed: {:?}", dir.status_json()));
    let text = status.to_string();
    assert!(text.contains("token=***"), "{text}");
    assert!(!text.contains("x#7"), "{text}");
    let notices = status["notices"].to_string();
    assert!(
        notices.contains("account old: the secret is 3 characters long; steward needs at least 8"),
        "{notices}"
    );
    assert!(dir.run(&["stop"]).status.success());
    wait_for(LONG, || steward.try_wait().ok().flatten()).expect("steward stopped");
}

#[test]
fn the_dashboard_details_and_logs_pane_show_no_secret() {
    if !aria2c_available() {
        return;
    }
    let dir = leaky_fleet();
    let exit_file = dir.path().join("exit-code");
    let command = format!(
        "{bin} --data-dir {data}; echo $? > {exit}; sleep 120",
        bin = steward_bin(),
        data = dir.path().display(),
        exit = exit_file.display(),
    );
    let tmux = Tmux::start(
        &format!("steward-secrets-{}", std::process::id()),
        200,
        50,
        &command,
    );
    let secrets = wait_for_leaky_workers(&dir);

    // Details of the first account (alice): its log tail.
    tmux.keys(&["1"]);
    tmux.wait_screen("the accounts pane", |s| s.contains("alice"));
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_screen("alice's details with her log tail", |s| {
        s.contains("mine=*** aria2=***") && s.contains("split=***")
    });
    assert_no_secret("the details view", &screen, &secrets);
    tmux.keys(&["Escape"]);
    // Wait for the details to close before the next key: an Esc followed
    // at once by `5` reaches the dashboard as Alt+5.
    tmux.wait_screen("the details closed", |s| !s.contains("split=***"));

    // The Logs pane: the workers' lines as steward logged them.
    tmux.keys(&["5"]);
    let screen = tmux.wait_screen("the workers' lines in the Logs pane", |s| {
        s.contains("mine=*** aria2=***")
    });
    assert_no_secret("the Logs pane", &screen, &secrets);

    tmux.keys(&["q"]);
    let code = wait_for(LONG, || {
        std::fs::read_to_string(&exit_file)
            .ok()
            .filter(|t| !t.is_empty())
    })
    .expect("steward exited");
    assert_eq!(code.trim(), "0");
}

#[test]
fn a_symlinked_session_path_is_an_error_and_never_followed() {
    let dir = TestDir::new();
    // A worker that would append to its session file if it ever ran.
    dir.write_config(
        "[worker]\ncommand = [\"sh\", \"-c\", \"echo pwned >> \\\"$STEWARD_SESSION_FILE\\\"; exec sleep 300\"]\n",
    );
    let out = dir.run(&["account", "add", "alice"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("precious");
    std::fs::write(&target, "precious data\n").unwrap();
    // Back-dated, so an append (which would set it to now) shows.
    age_days(&target, 3);
    let before = std::fs::metadata(&target).unwrap().modified().unwrap();
    std::fs::create_dir_all(dir.session_file("alice").parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&target, dir.session_file("alice")).unwrap();

    let mut steward = dir.spawn_headless();
    let status = wait_for(LONG, || {
        let status = dir.status_json()?;
        worker_state(&status, "alice")
            .filter(|s| s == "failed")
            .map(|_| status)
    })
    .unwrap_or_else(|| panic!("alice never failed: {:?}", dir.status_json()));
    let account = &status["accounts"][0];
    let reason = account["worker"]["state"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("alice.session is a symlink: steward never follows it"),
        "{account:#}"
    );
    assert!(account["worker"]["pid"].is_null(), "{account:#}");
    let out = dir.run(&["status"]);
    assert!(stdout(&out).contains("is a symlink"), "{}", stdout(&out));
    assert!(worker_pids(dir.path(), "alice").is_empty());

    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_for(LONG, || steward.try_wait().ok().flatten()).expect("steward stopped");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious data\n");
    assert_eq!(
        std::fs::metadata(&target).unwrap().modified().unwrap(),
        before
    );
    assert!(
        std::fs::symlink_metadata(dir.session_file("alice"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "steward must not \"fix\" the link either"
    );
}

#[test]
fn running_as_root_is_warned_about() {
    if !steward::proc::running_as_root() {
        eprintln!("skipped: the tests do not run as root");
        return;
    }
    let dir = TestDir::new();
    let out = dir.run(&["doctor"]);
    let text = stdout(&out);
    assert!(
        text.contains(
            "WARN running as root: workers and aria2c run as root; run steward as a dedicated user"
        ),
        "{text}"
    );
    dir.write_config("[aria2]\nenabled = false\n");
    let mut steward = dir.spawn_headless();
    let status = wait_for(LONG, || {
        dir.status_json().filter(|s| s["instance"]["live"] == true)
    })
    .expect("steward published its status");
    assert_eq!(status["instance"]["as_root"], true, "{status:#}");
    assert!(dir.run(&["stop"]).status.success());
    wait_for(LONG, || steward.try_wait().ok().flatten()).expect("steward stopped");
}
