//! The fleet outlives the terminal: an embedded dashboard whose terminal
//! hangs up (`tmux kill-session`) keeps its workers running; `steward
//! attach` in a new terminal shows them, `q` detaches, `steward stop` ends
//! the run cleanly; several dashboards and the CLI act on one instance at
//! once. Real tmux sessions, real workers, the real control socket.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::tmux::Tmux;
use common::{TestDir, alive, steward_bin, wait_for, worker_pid, worker_state};

/// Stops whatever instance still runs on the data dir when a test fails
/// midway (it is tmux's child, not ours), so no fleet outlives the test.
struct StopOnDrop<'a>(&'a TestDir);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["stop", "--force"]);
    }
}

fn dashboard_command(dir: &TestDir, args: &str) -> String {
    format!(
        "TERM=xterm-256color {} --data-dir '{}' {args}; sleep 60",
        steward_bin(),
        dir.path().display()
    )
}

/// The pid of each account's worker once all of them run.
fn running_pids(dir: &TestDir, ids: &[String]) -> Option<BTreeMap<String, i32>> {
    let status = dir.status_json()?;
    ids.iter()
        .map(|id| {
            (worker_state(&status, id).as_deref() == Some("running"))
                .then(|| worker_pid(&status, id).map(|pid| (id.clone(), pid)))
                .flatten()
        })
        .collect()
}

/// utime + stime of `pid` in clock ticks (100 a second on Linux), with when.
fn cpu_ticks(pid: i32) -> Option<(u64, std::time::Instant)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of stat(5); 3 is the first after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime, std::time::Instant::now()))
}

fn instance_pid(dir: &TestDir) -> Option<i32> {
    let text = std::fs::read_to_string(dir.path().join("steward.lock")).ok()?;
    text.trim().parse().ok()
}

#[test]
fn a_hung_up_dashboard_keeps_the_fleet_which_attach_shows_and_stop_ends_cleanly() {
    let dir = TestDir::new();
    let _stop = StopOnDrop(&dir);
    let ids: Vec<String> = (1..=20).map(|n| format!("acct{n:02}")).collect();
    for id in &ids {
        let out = dir.run(&["account", "add", id]);
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let tag = std::process::id();
    let embedded = Tmux::start(
        &format!("steward-embedded-{tag}"),
        120,
        40,
        &dashboard_command(&dir, ""),
    );
    embedded.wait_screen("the embedded header", |s| s.contains("embedded · pid"));
    let before = wait_for(Duration::from_secs(60), || running_pids(&dir, &ids))
        .expect("all 20 workers running");
    let steward = instance_pid(&dir).expect("the instance's pid in its lock file");

    // The SSH connection drops.
    drop(embedded);
    let cpu_before = cpu_ticks(steward);
    // Give the hang-up time to act (polling for a change that must not come):
    // the instance and every worker stay, with the same pids.
    let changed = wait_for(Duration::from_secs(3), || {
        let now = running_pids(&dir, &ids);
        (!alive(steward) || now.as_ref() != Some(&before)).then_some(now)
    });
    assert!(
        changed.is_none(),
        "the hang-up changed the fleet: {changed:?}"
    );
    // Running on headless, it idles: nothing spins on the dead terminal
    // (crossterm's input thread did, reading EOF in a loop, before the fix).
    let (then, now) = (cpu_before.unwrap(), cpu_ticks(steward).unwrap());
    let share = (now.0 - then.0) as f64 / 100.0 / now.1.duration_since(then.1).as_secs_f64();
    assert!(
        share < 0.25,
        "steward used {:.0} % of a core after the hang-up",
        share * 100.0
    );
    let log = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("running headless as pid"), "{log}");

    // A new login attaches.
    let attached = Tmux::start(
        &format!("steward-attached-{tag}"),
        120,
        40,
        &dashboard_command(&dir, "attach"),
    );
    let screen = attached.wait_screen("the attached fleet", |s| {
        s.contains(&format!("attached to pid {steward}")) && s.contains("acct20")
    });
    assert!(screen.contains("20/20 running"), "{screen}");
    attached.keys(&["q"]);
    let screen = attached.wait_screen("the detach line", |s| s.contains("detached;"));
    assert!(
        screen.contains(&format!("steward pid {steward} keeps running")),
        "{screen}"
    );
    assert_eq!(
        running_pids(&dir, &ids),
        Some(before.clone()),
        "detach changed the fleet"
    );
    assert!(alive(steward));

    let out = dir.run(&["stop"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    wait_for(Duration::from_secs(30), || (!alive(steward)).then_some(()))
        .expect("the instance exits after stop");
    for (id, pid) in &before {
        assert!(!alive(*pid), "worker of {id} (pid {pid}) outlived the stop");
    }
    let status = dir.status_json().expect("status of the stopped instance");
    assert_eq!(status["last_shutdown"], "clean", "{status:#}");
}

#[test]
fn two_attached_dashboards_and_the_cli_act_at_once() {
    let dir = TestDir::new();
    for id in ["alice", "bob"] {
        assert!(dir.run(&["account", "add", id]).status.success());
    }
    let _instance = dir.spawn_headless();
    let ids = vec!["alice".to_string(), "bob".to_string()];
    wait_for(Duration::from_secs(30), || running_pids(&dir, &ids)).expect("workers running");
    let tag = std::process::id();
    let first = Tmux::start(
        &format!("steward-one-{tag}"),
        120,
        30,
        &dashboard_command(&dir, "attach"),
    );
    let second = Tmux::start(
        &format!("steward-two-{tag}"),
        120,
        30,
        &dashboard_command(&dir, "attach"),
    );
    for screen in [&first, &second] {
        screen.wait_screen("the fleet", |s| {
            s.contains("attached to pid") && s.contains("bob")
        });
    }
    // The first cancels alice's worker task; meanwhile the CLI adds carol.
    first.keys(&["2"]);
    first.wait_screen("the Tasks pane", |s| {
        s.contains("alice") && s.contains("worker")
    });
    first.keys(&["c"]);
    let added = dir.run(&["account", "add", "carol"]);
    assert!(added.status.success(), "{}", common::stderr(&added));
    // Both screens show both changes (on the Tasks pane: the cancelled task,
    // and carol's new worker task).
    second.keys(&["2"]);
    for screen in [&first, &second] {
        screen.wait_screen("the cancel and the new account", |s| {
            s.contains("carol")
                && s.lines().any(|l| {
                    l.contains("alice") && (l.contains("cancel") || l.contains("cancelled"))
                })
        });
    }
}

#[test]
fn attach_without_an_instance_says_so_and_read_only_acts_on_nothing() {
    let dir = TestDir::new();
    // Attach needs a terminal: run it in one, and read its last words.
    let tag = std::process::id();
    let nothing = Tmux::start(
        &format!("steward-none-{tag}"),
        100,
        10,
        &format!(
            "{} --data-dir '{}' attach; echo exit=$?; sleep 60",
            steward_bin(),
            dir.path().display()
        ),
    );
    let screen = nothing.wait_screen("the refusal", |s| s.contains("exit="));
    assert!(screen.contains("no instance running on"), "{screen}");
    assert!(screen.contains("exit=1"), "{screen}");

    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let _instance = dir.spawn_headless();
    let ids = vec!["alice".to_string()];
    let before = wait_for(Duration::from_secs(30), || running_pids(&dir, &ids)).expect("running");
    let viewer = Tmux::start(
        &format!("steward-viewer-{tag}"),
        120,
        30,
        &dashboard_command(&dir, "attach --read-only"),
    );
    viewer.wait_screen("the read-only header", |s| {
        s.contains("read-only") && s.contains("alice")
    });
    // s would stop alice's worker, Q would shut the instance down: neither acts.
    viewer.keys(&["s"]);
    viewer.keys(&["Q"]);
    viewer.keys(&["y"]);
    let changed = wait_for(Duration::from_secs(2), || {
        (running_pids(&dir, &ids).as_ref() != Some(&before)).then_some(())
    });
    assert!(changed.is_none(), "a read-only dashboard changed the fleet");
    viewer.keys(&["q"]);
    viewer.wait_screen("the detach line", |s| s.contains("detached;"));
}

#[test]
fn headless_outlives_a_sighup_by_default_and_sigterm_still_stops_it() {
    let dir = TestDir::new();
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut instance = dir.spawn_headless();
    let ids = vec!["alice".to_string()];
    let before = wait_for(Duration::from_secs(30), || running_pids(&dir, &ids)).expect("running");
    let pid = instance.id().to_string();
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
    };
    signal("-HUP");
    signal("-HUP");
    let changed = wait_for(Duration::from_secs(2), || {
        (running_pids(&dir, &ids).as_ref() != Some(&before)).then_some(())
    });
    assert!(changed.is_none(), "SIGHUP changed the fleet");
    assert!(
        instance.try_wait().unwrap().is_none(),
        "SIGHUP ended steward"
    );
    signal("-TERM");
    let exited = instance.wait().unwrap();
    assert_eq!(exited.code(), Some(0));
    let status = dir.status_json().expect("status");
    assert_eq!(status["last_shutdown"], "clean", "{status:#}");
}
