//! The ordered shutdown with real processes: deadlines, SIGKILL of workers
//! that ignore SIGTERM, force on a second request, the report and
//! `last_shutdown`, and `steward stop` from another shell.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use steward::config::Config;
use steward::manager::{Manager, RunningManager};
use steward::model::{Command, PhaseState, Snapshot, WorkerState};
use steward::store::{AccountRow, Store};

/// Accounts named `ign*` ignore SIGTERM; names containing `gc` leave a grandchild.
const MIXED_WORKER: &str = r#"
case "$STEWARD_ACCOUNT" in ign*) trap '' TERM;; esac
case "$STEWARD_ACCOUNT" in *gc*) sleep 300 & ;; esac
sleep 300 & wait
"#;

fn add_accounts(dir: &TestDir, ids: &[String]) {
    std::fs::create_dir_all(dir.path()).unwrap();
    let store = Store::open(&dir.data_dir().db_file()).unwrap();
    for id in ids {
        store
            .add_account(&AccountRow {
                id: id.clone(),
                name: id.clone(),
                enabled: true,
                secret: None,
                created_ms: 0,
            })
            .unwrap();
    }
}

fn mixed_config(stop_timeout: Duration) -> Config {
    let mut config = Config::default();
    config.worker.command = Some(vec!["sh".into(), "-c".into(), MIXED_WORKER.into()]);
    config.worker.stop_timeout = stop_timeout;
    config
}

/// Asks `m` for a graceful shutdown; its report, once it ended (20 s at most).
async fn graceful_shutdown(m: RunningManager) -> steward::model::ShutdownView {
    m.handle
        .commands
        .send(Command::Shutdown { force: false })
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), m.done)
        .await
        .unwrap()
        .unwrap()
}

/// A manager running one `mixed_config` worker per id, once every worker
/// is running; with that snapshot.
async fn start_fleet(
    dir: &TestDir,
    ids: &[String],
    stop_timeout: Duration,
) -> (RunningManager, Arc<Snapshot>) {
    add_accounts(dir, ids);
    let m = Manager::start(dir.manager_options(mixed_config(stop_timeout)))
        .await
        .unwrap();
    let mut rx = m.handle.snapshots.clone();
    let snap = loop {
        let snap = rx.borrow_and_update().clone();
        if snap.accounts.len() == ids.len()
            && snap
                .accounts
                .iter()
                .all(|a| a.worker.state == WorkerState::Running)
        {
            break snap;
        }
        tokio::time::timeout(Duration::from_secs(30), rx.changed())
            .await
            .expect("all running")
            .unwrap();
    };
    (m, snap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_workers_stop_within_the_deadline_and_the_report_counts_the_killed() {
    let dir = TestDir::new();
    let mut ids: Vec<String> = (0..10).map(|i| format!("ign{i:02}")).collect();
    ids.extend((0..5).map(|i| format!("gc{i:02}")));
    ids.extend((0..35).map(|i| format!("ok{i:02}")));
    let (m, snap) = start_fleet(&dir, &ids, Duration::from_secs(2)).await;
    let groups: Vec<i32> = snap.accounts.iter().filter_map(|a| a.worker.pid).collect();
    // Wait until the grandchildren exist, so the test covers them.
    for a in snap.accounts.iter().filter(|a| a.id.starts_with("gc")) {
        let pgid = a.worker.pid.unwrap();
        wait_for(Duration::from_secs(10), || {
            (group_members(pgid).len() >= 3).then_some(())
        })
        .expect("grandchild");
    }
    let asked = Instant::now();
    let report = graceful_shutdown(m).await;
    let took = asked.elapsed();
    for pgid in &groups {
        assert!(
            group_members(*pgid).is_empty(),
            "group {pgid} has processes left"
        );
    }
    assert_eq!(
        report.killed_workers.len(),
        10,
        "{:?}",
        report.killed_workers
    );
    assert!(report.killed_workers.iter().all(|id| id.starts_with("ign")));
    assert!(!report.forced);
    let states: Vec<(String, PhaseState)> = report
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.state.clone()))
        .collect();
    assert!(
        states.iter().all(|(_, s)| *s == PhaseState::Done),
        "{states:?}"
    );
    // One 2 s deadline for the whole fleet (stopping them one after another
    // would take 10 x 2 s), plus room for a loaded 2-core runner.
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
}

#[test]
fn a_second_sigterm_forces_and_last_shutdown_says_forced() {
    let dir = TestDir::new();
    dir.write_config(&format!(
        "[worker]\ncommand = [\"sh\", \"-c\", {:?}]\nstop_timeout = \"60s\"\n",
        MIXED_WORKER
    ));
    add_accounts(
        &dir,
        &["ign1".to_string(), "ign2".to_string(), "plain".to_string()],
    );
    let mut child = dir.spawn_headless();
    let pid = child.id().to_string();
    wait_for(Duration::from_secs(20), || {
        dir.status_json().filter(|s| {
            s["accounts"]
                .as_array()
                .is_some_and(|a| a.iter().all(|a| a["worker"]["state"]["state"] == "running"))
        })
    })
    .expect("workers running");
    let kill = |sig: &str| {
        std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(&pid)
            .status()
            .unwrap();
    };
    kill("TERM");
    // Wait until the plan is inside "stop workers" with the stubborn ones pending.
    wait_for(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(dir.path().join("status.json")).ok()?;
        let s: serde_json::Value = serde_json::from_str(&text).ok()?;
        s["shutdown"]["phases"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == "stop workers" && p["state"]["state"] == "running")
            .map(|_| ())
    })
    .expect("stop workers phase running");
    kill("TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let summary = String::from_utf8_lossy(
        &child
            .stdout
            .take()
            .map(|mut o| {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut o, &mut s).unwrap();
                s.into_bytes()
            })
            .unwrap_or_default(),
    )
    .into_owned();
    assert!(summary.contains("shutdown forced"), "{summary}");
    let after = dir.status_json().unwrap();
    assert_eq!(after["last_shutdown"], "forced");
    let report = &after["shutdown"];
    let forced_ms = report["forced_ms"].as_i64().expect("forced_ms");
    let finished_ms = report["finished_ms"].as_i64().expect("finished_ms");
    // Forced, nothing waits for the 60 s stop timeout any more; the bound
    // leaves room for a loaded 2-core runner (SIGKILL, reaping, aria2c's
    // grace, the checkpoint).
    assert!(
        finished_ms - forced_ms < 3000,
        "force took {} ms: {:#}",
        finished_ms - forced_ms,
        report["phases"]
    );
    assert!(
        worker_pids(dir.path(), "ign1").is_empty() && worker_pids(dir.path(), "ign2").is_empty()
    );
}

#[test]
fn steward_stop_from_another_shell_prints_progress_and_waits() {
    let dir = TestDir::new();
    add_accounts(&dir, &["alice".to_string(), "bob".to_string()]);
    let mut child = dir.spawn_headless();
    wait_for(Duration::from_secs(20), || {
        dir.status_json().filter(|s| {
            s["accounts"].as_array().is_some_and(|a| {
                a.len() == 2 && a.iter().all(|a| a["worker"]["state"]["state"] == "running")
            })
        })
    })
    .expect("workers running");
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for phase in ["stop intake", "cancel tasks", "stop workers", "close store"] {
        assert!(text.contains(phase), "no {phase} in:\n{text}");
    }
    assert!(text.contains("shutdown clean"), "{text}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(worker_pids(dir.path(), "alice").is_empty());
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("steward: no steward is running"),
        "{}",
        stderr(&out)
    );
}

/// The worker TMPDIRs of every account, read from the store's temp rows.
fn worker_dirs(dir: &TestDir) -> Vec<std::path::PathBuf> {
    Store::open(&dir.data_dir().db_file())
        .unwrap()
        .temp_entries()
        .unwrap()
        .into_iter()
        .filter(|r| r.account.is_some())
        .map(|r| r.path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_leaves_no_worker_records_dirs_or_temp_rows() {
    let dir = TestDir::new();
    let mut ids: Vec<String> = (0..5).map(|i| format!("ign{i:02}")).collect();
    ids.extend((0..35).map(|i| format!("ok{i:02}")));
    let (m, _) = start_fleet(&dir, &ids, Duration::from_secs(1)).await;
    let dirs = worker_dirs(&dir);
    assert_eq!(dirs.len(), ids.len(), "one registered TMPDIR per worker");
    assert!(dirs.iter().all(|d| d.is_dir()));
    // Something in each, as a worker would leave.
    for d in &dirs {
        std::fs::write(d.join("scratch"), "x").unwrap();
    }
    let report = graceful_shutdown(m).await;
    assert_eq!(
        report.killed_workers.len(),
        5,
        "{:?}",
        report.killed_workers
    );
    let clean = report
        .phases
        .iter()
        .find(|p| p.name == "clean temp")
        .unwrap();
    assert_eq!(clean.state, PhaseState::Done, "{clean:?}");
    assert!(
        clean
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with(&format!("{} removed", ids.len()))),
        "{clean:?}"
    );
    let store = Store::open(&dir.data_dir().db_file()).unwrap();
    assert_eq!(store.workers().unwrap(), vec![], "worker records left");
    assert_eq!(store.temp_entries().unwrap(), vec![], "temp rows left");
    for d in &dirs {
        assert!(!d.exists(), "{} left", d.display());
    }
    let left: Vec<_> = std::fs::read_dir(dir.data_dir().tmp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_crash_in_the_middle_of_stop_workers_is_cleaned_up_at_the_next_start() {
    let dir = TestDir::new();
    dir.write_config(&format!(
        "[worker]\ncommand = [\"sh\", \"-c\", {:?}]\nstop_timeout = \"5s\"\n",
        MIXED_WORKER
    ));
    let mut ids: Vec<String> = (0..3).map(|i| format!("ign{i}")).collect();
    ids.extend((0..10).map(|i| format!("ok{i}")));
    add_accounts(&dir, &ids);
    let mut child = dir.spawn_headless();
    wait_for(Duration::from_secs(30), || {
        dir.status_json().filter(|s| {
            s["accounts"].as_array().is_some_and(|a| {
                a.len() == ids.len() && a.iter().all(|a| a["worker"]["state"]["state"] == "running")
            })
        })
    })
    .expect("workers running");
    let dirs = worker_dirs(&dir);
    assert_eq!(dirs.len(), ids.len());
    let stubborn: Vec<i32> = (0..3)
        .flat_map(|i| worker_pids(dir.path(), &format!("ign{i}")))
        .collect();
    assert!(!stubborn.is_empty());
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    // The prompt workers are gone and the stubborn ones still pending: the
    // plan is in the middle of "stop workers", with dirs handed over.
    wait_for(Duration::from_secs(10), || {
        let s = dir.status_json()?;
        let phase = s["shutdown"]["phases"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == "stop workers" && p["state"]["state"] == "running")?
            .clone();
        (phase["pending"].as_array()?.len() == 3).then_some(())
    })
    .expect("stop workers running with only the stubborn ones pending");
    // Well inside the 5 s stop deadline: the stubborn workers still run.
    kill9(child.id() as i32);
    let _ = child.wait();
    assert!(stubborn.iter().any(|p| alive(*p)));
    // What the crash left: the stubborn workers (adopted by init) and,
    // depending on the instant, dirs of stopped workers with their rows.
    let mut next = dir.spawn_headless();
    wait_for(Duration::from_secs(60), || {
        let s = dir.status_json()?;
        let running = s["accounts"]
            .as_array()?
            .iter()
            .all(|a| a["worker"]["state"]["state"] == "running");
        (running && stubborn.iter().all(|p| !alive(*p))).then_some(())
    })
    .expect("leftovers stopped and the new workers running");
    wait_for(Duration::from_secs(20), || {
        dirs.iter().all(|d| !d.exists()).then_some(())
    })
    .expect("every TMPDIR of the crashed run swept");
    let store = Store::open(&dir.data_dir().db_file()).unwrap();
    let rows = store.temp_entries().unwrap();
    assert!(
        rows.iter().all(|r| !dirs.contains(&r.path)),
        "rows of the crashed run left: {rows:?}"
    );
    let me = next.id() as i32;
    assert!(
        store.workers().unwrap().iter().all(|w| w.owner_pid == me),
        "{:?}",
        store.workers().unwrap()
    );
    std::process::Command::new("kill")
        .args(["-TERM", &me.to_string()])
        .status()
        .unwrap();
    assert_eq!(next.wait().unwrap().code(), Some(0));
}

/// Waits (30 s at most) for a snapshot that passes `check`.
async fn wait_snapshot(m: &RunningManager, what: &str, check: impl Fn(&Snapshot) -> bool) {
    let mut rx = m.handle.snapshots.clone();
    loop {
        if check(&rx.borrow_and_update()) {
            return;
        }
        tokio::time::timeout(Duration::from_secs(30), rx.changed())
            .await
            .unwrap_or_else(|_| panic!("never: {what}"))
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_force_cancelled_earlier_is_not_counted_as_killed_by_a_later_shutdown() {
    let log = captured_log();
    let dir = TestDir::new();
    let ids: Vec<String> = vec!["fc00".into(), "fc01".into(), "fc02".into()];
    let (m, snap) = start_fleet(&dir, &ids, Duration::from_secs(5)).await;
    let task = snap
        .tasks
        .iter()
        .find(|t| t.owner.as_deref() == Some("fc00") && t.state.is_live())
        .expect("fc00's worker task")
        .id;
    m.handle
        .commands
        .send(Command::CancelTask {
            id: task,
            force: true,
        })
        .await
        .unwrap();
    wait_snapshot(&m, "fc00 stopped", |s| {
        s.accounts
            .iter()
            .any(|a| a.id == "fc00" && a.worker.state == WorkerState::Stopped)
    })
    .await;
    let report = graceful_shutdown(m).await;
    // Before the fix: "3 stopped, 1 killed" with fc00 named.
    assert!(
        report.killed_workers.is_empty(),
        "{:?}",
        report.killed_workers
    );
    let stop = report
        .phases
        .iter()
        .find(|p| p.name == "stop workers")
        .unwrap();
    assert_eq!(stop.detail.as_deref(), Some("3 stopped, 0 killed"));
    // The log says what happened to fc00: the operator's force-cancel.
    let text = log_text(&log);
    let fc00: Vec<&str> = text.lines().filter(|l| l.contains("fc00")).collect();
    assert!(
        fc00.iter()
            .any(|l| l.contains("force-cancelled by the operator: SIGKILL")),
        "{fc00:#?}"
    );
    assert!(
        !fc00.iter().any(|l| l.contains("did not stop in time")),
        "{fc00:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_shutdown_says_the_aria2_session_save_was_skipped() {
    if !aria2c_available() {
        println!("skipped: aria2c not installed");
        return;
    }
    let dir = TestDir::new();
    let m = Manager::start(dir.manager_options(Config::default()))
        .await
        .unwrap();
    wait_snapshot(&m, "aria2 running", |s| {
        s.aria2
            .as_ref()
            .is_some_and(|a| a.state == steward::model::Aria2State::Running)
    })
    .await;
    m.handle
        .commands
        .send(Command::Shutdown { force: true })
        .await
        .unwrap();
    let report = tokio::time::timeout(Duration::from_secs(20), m.done)
        .await
        .unwrap()
        .unwrap();
    let save = report
        .phases
        .iter()
        .find(|p| p.name == "save downloads")
        .unwrap();
    // Before the fix: "aria2 did not answer saveSession in time", after 0 ms.
    assert_eq!(
        save.state,
        PhaseState::Failed {
            reason: "saveSession skipped: shutdown forced".into()
        }
    );
}
