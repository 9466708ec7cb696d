//! Supervised workers with real processes: group stops with SIGKILL at the
//! deadline, backoff, replace, session-file locks, crash recovery, pid reuse.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use steward::config::{Config, RestartPolicy};
use steward::manager::{Manager, ManagerOptions, RunningManager};
use steward::model::{Command, Snapshot, WorkerState};
use steward::store::{AccountRow, Store, WorkerRow};

fn options(dir: &TestDir, config: Config) -> ManagerOptions {
    dir.manager_options(config)
}

fn add_account(dir: &TestDir, id: &str, secret: Option<&str>) {
    std::fs::create_dir_all(dir.path()).unwrap();
    let store = Store::open(&dir.data_dir().db_file()).unwrap();
    store
        .add_account(&AccountRow {
            id: id.into(),
            name: id.into(),
            enabled: true,
            secret: secret.map(str::to_string),
            created_ms: 0,
        })
        .unwrap();
}

fn sh_worker(script: &str) -> Config {
    let mut config = Config::default();
    config.worker.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
    config
}

/// Waits (async, polling the snapshot stream) until `check` holds.
async fn until(
    m: &RunningManager,
    limit: Duration,
    mut check: impl FnMut(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let mut rx = m.handle.snapshots.clone();
    let end = tokio::time::Instant::now() + limit;
    loop {
        let snap = rx.borrow_and_update().clone();
        if check(&snap) {
            return snap;
        }
        if tokio::time::timeout_at(end, rx.changed()).await.is_err() {
            panic!("condition not met within {limit:?}; last snapshot: {snap:#?}");
        }
    }
}

fn state_of(snap: &Snapshot, id: &str) -> WorkerState {
    snap.accounts
        .iter()
        .find(|a| a.id == id)
        .map(|a| a.worker.state.clone())
        .unwrap_or_default()
}
fn pid_of(snap: &Snapshot, id: &str) -> Option<i32> {
    snap.accounts
        .iter()
        .find(|a| a.id == id)
        .and_then(|a| a.worker.pid)
}

async fn shutdown(m: RunningManager) {
    m.handle
        .commands
        .send(Command::Shutdown { force: false })
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), m.done)
        .await
        .expect("shutdown in time")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_workers_run_in_their_own_groups_and_hold_their_session_locks() {
    let dir = TestDir::new();
    add_account(&dir, "alice", Some("s3cret-value"));
    add_account(&dir, "bob", None);
    let m = Manager::start(options(&dir, Config::default()))
        .await
        .unwrap();
    let snap = until(&m, Duration::from_secs(20), |s| {
        s.accounts.len() == 2
            && s.accounts
                .iter()
                .all(|a| a.worker.state == WorkerState::Running)
    })
    .await;
    for id in ["alice", "bob"] {
        let pid = pid_of(&snap, id).unwrap();
        assert!(alive(pid));
        assert!(
            group_members(pid).contains(&pid),
            "worker is not its group's leader"
        );
        assert_eq!(worker_pids(dir.path(), id), vec![pid]);
        assert!(flock_is_held(&dir.lock_file(id)));
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        assert!(environ.contains(&format!(
            "STEWARD_SESSION_FILE={}",
            dir.session_file(id).display()
        )));
    }
    // The snapshot names each worker as its session lock's holder (not
    // steward, which took the lock on the worker's behalf).
    let snap = until(&m, Duration::from_secs(20), |s| {
        s.accounts.iter().all(|a| !a.worker.lock_holders.is_empty())
    })
    .await;
    for a in &snap.accounts {
        assert_eq!(
            a.worker.lock_holders,
            vec![a.worker.pid.unwrap()],
            "{}",
            a.id
        );
    }
    let alice_pid = pid_of(&snap, "alice").unwrap();
    let environ =
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{alice_pid}/environ")).unwrap())
            .into_owned();
    assert!(environ.contains("STEWARD_SECRET=s3cret-value"));
    let json = serde_json::to_string(&*snap).unwrap();
    assert!(!json.contains("s3cret-value"), "secret in snapshot");
    // The demo worker writes heartbeats into its session file.
    wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(dir.session_file("alice"))
            .ok()
            .filter(|t| t.contains("heartbeat"))
    })
    .expect("heartbeat in session file");

    m.handle
        .commands
        .send(Command::StopWorker { id: "alice".into() })
        .await
        .unwrap();
    until(&m, Duration::from_secs(10), |s| {
        state_of(s, "alice") == WorkerState::Stopped
    })
    .await;
    assert!(!alive(alice_pid));
    // Steward dropped its copy before reporting Stopped, but a process this
    // test binary (or steward, for bob) is forking at that instant holds a
    // copy of every descriptor until its exec: poll until the lock is free.
    wait_for(Duration::from_secs(10), || {
        (!flock_is_held(&dir.lock_file("alice"))).then_some(())
    })
    .expect("lock still held 10 s after stop");
    shutdown(m).await;
    assert!(worker_pids(dir.path(), "bob").is_empty());
    let logs = std::fs::read_dir(dir.path().join("logs"))
        .map(|d| d.count())
        .unwrap_or(0);
    let _ = logs;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_ignoring_term_is_killed_at_the_deadline_with_its_grandchild() {
    let dir = TestDir::new();
    add_account(&dir, "stubborn", None);
    // The ignored TERM is inherited by the grandchild `sleep`.
    let mut config = sh_worker("trap '' TERM; sleep 300 & wait; wait");
    config.worker.stop_timeout = Duration::from_millis(1500);
    let m = Manager::start(options(&dir, config)).await.unwrap();
    let snap = until(&m, Duration::from_secs(10), |s| {
        state_of(s, "stubborn") == WorkerState::Running
    })
    .await;
    let pgid = pid_of(&snap, "stubborn").unwrap();
    let members = wait_for(Duration::from_secs(5), || {
        Some(group_members(pgid)).filter(|m| m.len() >= 2)
    })
    .expect("grandchild spawned");
    let asked = Instant::now();
    m.handle
        .commands
        .send(Command::StopWorker {
            id: "stubborn".into(),
        })
        .await
        .unwrap();
    until(&m, Duration::from_secs(5), |s| {
        matches!(state_of(s, "stubborn"), WorkerState::Stopping { .. })
    })
    .await;
    until(&m, Duration::from_secs(15), |s| {
        state_of(s, "stubborn") == WorkerState::Stopped
    })
    .await;
    let took = asked.elapsed();
    // Stopped is reported only when every process of the group is gone.
    for pid in &members {
        assert!(!alive(*pid), "pid {pid} of the group outlived 'stopped'");
    }
    assert!(group_members(pgid).is_empty());
    assert!(
        took >= Duration::from_millis(1400),
        "SIGKILL came before the deadline: {took:?}"
    );
    shutdown(m).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_worker_backs_off_1s_2s_4s() {
    let dir = TestDir::new();
    add_account(&dir, "crashy", None);
    let mut config = sh_worker("exit 3");
    config.worker.restart = RestartPolicy::OnFailure;
    config.worker.backoff_initial = Duration::from_secs(1);
    config.worker.backoff_max = Duration::from_secs(60);
    let m = Manager::start(options(&dir, config)).await.unwrap();
    // Each exit is recorded with its time; the gaps between exits are the
    // backoff delays (the worker itself lives for milliseconds).
    let mut saw_backoff_label = false;
    let snap = until(&m, Duration::from_secs(30), |s| {
        let Some(a) = s.accounts.first() else {
            return false;
        };
        if a.worker
            .state
            .label(steward::time::now_ms())
            .starts_with("backoff (next in")
        {
            saw_backoff_label = true;
        }
        a.worker.restart_history.len() >= 4
    })
    .await;
    let w = &snap.accounts[0].worker;
    let exits: Vec<i64> = w.restart_history.iter().map(|r| r.at_ms).collect();
    let gaps: Vec<f64> = exits
        .windows(2)
        .map(|p| (p[1] - p[0]) as f64 / 1000.0)
        .collect();
    for (gap, want) in gaps.iter().zip([1.0, 2.0, 4.0]) {
        assert!(
            *gap >= want * 0.95 && *gap <= want + 1.0,
            "gaps {gaps:?}, want about 1, 2, 4"
        );
    }
    assert!(
        w.restart_history
            .iter()
            .all(|r| r.reason == "exited with code 3"),
        "{:?}",
        w.restart_history
    );
    assert!(saw_backoff_label);
    assert!(w.restarts >= 3);
    assert_eq!(w.last_exit.as_ref().and_then(|e| e.code), Some(3));
    shutdown(m).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_worker_never_yields_two() {
    let dir = TestDir::new();
    add_account(&dir, "rep", Some("first-secret"));
    let m = Manager::start(options(&dir, Config::default()))
        .await
        .unwrap();
    let snap = until(&m, Duration::from_secs(20), |s| {
        state_of(s, "rep") == WorkerState::Running
    })
    .await;
    let old = pid_of(&snap, "rep").unwrap();
    // Another process (like `steward account ...`) changes the secret.
    let other = Store::open(&dir.data_dir().db_file()).unwrap();
    other.set_secret("rep", Some("second-secret")).unwrap();
    let watch = std::thread::spawn({
        let path = dir.path().to_path_buf();
        move || {
            let end = Instant::now() + Duration::from_secs(15);
            let mut max = 0;
            let mut saw_new = false;
            while Instant::now() < end && !saw_new {
                let pids = worker_pids(&path, "rep");
                max = max.max(pids.len());
                saw_new = pids.iter().any(|p| *p != old);
                std::thread::sleep(Duration::from_millis(5));
            }
            (max, saw_new)
        }
    });
    let snap = until(&m, Duration::from_secs(20), |s| {
        state_of(s, "rep") == WorkerState::Running && pid_of(s, "rep").is_some_and(|p| p != old)
    })
    .await;
    let (max, saw_new) = watch.join().unwrap();
    assert!(saw_new);
    assert_eq!(max, 1, "two workers were alive at once");
    assert!(!alive(old));
    let new = pid_of(&snap, "rep").unwrap();
    let environ = String::from_utf8_lossy(&std::fs::read(format!("/proc/{new}/environ")).unwrap())
        .into_owned();
    assert!(environ.contains("STEWARD_SECRET=second-secret"));
    shutdown(m).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_added_and_removed_by_another_process_take_effect() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path()).unwrap();
    let m = Manager::start(options(&dir, Config::default()))
        .await
        .unwrap();
    add_account(&dir, "late", None);
    let snap = until(&m, Duration::from_secs(10), |s| {
        state_of(s, "late") == WorkerState::Running
    })
    .await;
    let pid = pid_of(&snap, "late").unwrap();
    let other = Store::open(&dir.data_dir().db_file()).unwrap();
    other.remove_account("late").unwrap();
    until(&m, Duration::from_secs(10), |s| s.accounts.is_empty()).await;
    wait_for(Duration::from_secs(10), || {
        (!alive(pid) && !dir.session_file("late").exists()).then_some(())
    })
    .expect("worker stopped and session file trashed");
    let trashed = std::fs::read_dir(dir.path().join("trash")).unwrap().count();
    assert_eq!(trashed, 1);
    shutdown(m).await;
}

#[test]
fn a_killed_steward_leaves_the_lock_with_its_worker_and_the_next_start_stops_it() {
    let dir = TestDir::new();
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let old = crash_with_a_worker(&dir);
    // steward is gone; the worker and its copy of the session lock remain.
    assert!(flock_is_held(&dir.lock_file("alice")));
    let status = dir.status_json().unwrap();
    assert_eq!(status["instance"]["live"], false);
    assert_eq!(status["last_shutdown"], "crashed");

    let (second, new) = restart_after_crash(&dir, old);
    stop_cleanly(second, new);
    assert!(!flock_is_held(&dir.lock_file("alice")));
}

/// Starts steward, waits for alice's worker, SIGKILLs steward. Returns the
/// worker it left running.
fn crash_with_a_worker(dir: &TestDir) -> i32 {
    let mut first = dir.spawn_headless();
    let old = wait_for(Duration::from_secs(20), || {
        dir.status_json().and_then(|s| worker_pid(&s, "alice"))
    })
    .expect("worker running");
    kill9(first.id() as i32);
    let _ = first.wait();
    assert!(alive(old));
    old
}

/// Starts steward again after a crash and waits for alice's new worker:
/// the leftover `old` must be gone by then, and the new one alone. Returns
/// steward and the new worker.
fn restart_after_crash(dir: &TestDir, old: i32) -> (Headless, i32) {
    let second = dir.spawn_headless();
    let new = wait_for(Duration::from_secs(20), || {
        dir.status_json()
            .filter(|s| s["instance"]["live"] == true)
            .and_then(|s| worker_pid(&s, "alice"))
            .filter(|p| *p != old)
    })
    .expect("new worker running");
    assert!(!alive(old), "leftover worker still alive");
    assert_eq!(worker_pids(dir.path(), "alice"), vec![new]);
    (second, new)
}

/// SIGTERM to steward: it exits 0, and `worker` went with it.
fn stop_cleanly(mut steward: Headless, worker: i32) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &steward.id().to_string()])
        .status();
    assert_eq!(steward.wait().unwrap().code(), Some(0));
    assert!(!alive(worker));
}

#[test]
fn a_worker_forked_but_never_recorded_is_found_by_its_session_lock_and_stopped() {
    // What a steward killed between forking a worker and recording it leaves:
    // a group holding the account's session lock, named in its environment,
    // with no worker row. Here `flock` holds it and its `sleep` inherits it.
    let dir = TestDir::new();
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let session = dir.session_file("alice");
    let lock = dir.lock_file("alice");
    std::fs::create_dir_all(session.parent().unwrap()).unwrap();
    let mut orphan = std::process::Command::new("flock");
    orphan
        .arg(&lock)
        .args(["sleep", "300"])
        .env("STEWARD_SESSION_FILE", &session)
        .env("STEWARD_ACCOUNT", "alice");
    let orphan = GroupChild::spawn(orphan);
    wait_for(Duration::from_secs(10), || {
        flock_is_held(&lock).then_some(())
    })
    .expect("orphan holds the session lock");
    // A bystander holding the files open without the environment is left alone.
    std::fs::write(&session, "").unwrap();
    let mut bystander = std::process::Command::new("sleep");
    bystander
        .arg("300")
        .stdin(std::fs::File::open(&session).unwrap())
        .stdout(std::fs::File::open(&lock).unwrap());
    let bystander = GroupChild::spawn(bystander);

    let mut steward = dir.spawn_headless();
    let worker = wait_for(Duration::from_secs(20), || {
        dir.status_json()
            .filter(|s| s["instance"]["live"] == true)
            .and_then(|s| worker_pid(&s, "alice"))
    })
    .expect("alice's worker running");
    assert!(group_members(orphan.pid()).is_empty(), "orphan still alive");
    assert_eq!(worker_pids(dir.path(), "alice"), vec![worker]);
    assert!(
        alive(bystander.pid()),
        "a process without the environment was signalled"
    );
    let events = dir.run(&["status", "--json"]);
    assert!(
        stdout(&events).contains("never recorded"),
        "{}",
        stdout(&events)
    );
    kill9(steward.id() as i32);
    let _ = steward.wait();
    for pid in group_members(worker) {
        kill9(pid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_pid_that_now_belongs_to_someone_else_is_not_signalled() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path()).unwrap();
    let mut bystander = std::process::Command::new("sleep")
        .arg("300")
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = bystander.id() as i32;
    {
        let store = Store::open(&dir.data_dir().db_file()).unwrap();
        let real = steward::proc::ProcId::of(pid).unwrap();
        store
            .record_worker(&WorkerRow {
                account: "ghost".into(),
                pid,
                // Same pid, different start time: a pid reused by an unrelated process.
                start_time: real.start_time.wrapping_sub(12_345),
                pgid: pid,
                owner_pid: 1,
                owner_start_time: 1,
                started_ms: 0,
            })
            .unwrap();
    }
    let m = Manager::start(options(&dir, Config::default()))
        .await
        .unwrap();
    shutdown(m).await;
    assert!(alive(pid), "an unrelated process was signalled");
    let store = Store::open(&dir.data_dir().db_file()).unwrap();
    assert!(
        store.workers().unwrap().is_empty(),
        "stale record not cleared"
    );
    let _ = bystander.kill();
    let _ = bystander.wait();
}

/// The soft limit a process runs with, from `/proc/PID/limits`.
fn soft_open_files(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[test]
fn steward_raises_its_open_file_limit_and_its_workers_get_the_one_it_was_started_with() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let hard = getrlimit(Resource::Nofile).maximum;
    if hard.is_some_and(|h| h <= 256) {
        return; // nothing to raise to here
    }
    let dir = TestDir::new();
    let seen = dir.path().join("worker-nofile");
    dir.write_config(&format!(
        "[worker]\ncommand = [\"sh\", \"-c\", \"ulimit -n > {}; exec sleep 600\"]\n[aria2]\nenabled = false\n",
        seen.display()
    ));
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut cmd = dir.cmd(&["run", "--headless"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: one prlimit64 call between fork and exec: async-signal-safe.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(256),
                    maximum: hard,
                },
            )?;
            Ok(())
        });
    }
    let mut steward = cmd.spawn().unwrap();
    let limit = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&seen)
            .ok()
            .filter(|s| s.ends_with('\n'))
    })
    .expect("worker wrote its limit");
    assert_eq!(limit.trim(), "256", "the worker's soft limit");
    // Raised to the hard limit ("unlimited" reads as no number).
    assert_eq!(soft_open_files(steward.id() as i32), hard);
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(steward.id().to_string())
        .status();
    assert_eq!(steward.wait().unwrap().code(), Some(0));
}

/// The test harness's own guard: a test that fails midway drops its steward
/// unreaped, and that must not leave steward or its workers running.
#[test]
fn a_dropped_headless_steward_takes_its_workers_with_it() {
    let dir = TestDir::new();
    dir.write_config("[aria2]\nenabled = false\n");
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let steward = dir.spawn_headless();
    let pid = steward.id() as i32;
    let worker = wait_for(Duration::from_secs(20), || {
        dir.status_json().and_then(|s| worker_pid(&s, "alice"))
    })
    .expect("alice's worker running");
    drop(steward);
    assert!(!alive(pid), "steward left running");
    assert!(
        wait_for(Duration::from_secs(10), || (!alive(worker)).then_some(())).is_some(),
        "alice's worker left running"
    );
}

#[test]
fn a_leftover_worker_ignoring_sigterm_is_killed_before_the_next_start_runs_its_own() {
    let dir = TestDir::new();
    dir.write_config(
        "[worker]\ncommand = [\"sh\", \"-c\", \"trap '' TERM; exec sleep 300\"]\nstop_timeout = \"1s\"\n[aria2]\nenabled = false\n",
    );
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let old = crash_with_a_worker(&dir);
    let (second, new) = restart_after_crash(&dir, old);
    let status = dir.run(&["status", "--json"]);
    assert!(
        stdout(&status).contains("SIGKILL after timeout"),
        "{}",
        stdout(&status)
    );
    // Its record was cleared: only the new worker is recorded.
    let store = open_store(&dir);
    let rows = store.workers().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].pid, new);
    stop_cleanly(second, new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_restarts_are_coalesced_into_one_and_the_log_says_so() {
    let log = captured_log();
    let dir = TestDir::new();
    add_account(&dir, "coal", None);
    // Half a second to stop: the requests sent meanwhile queue up.
    let m = Manager::start(options(
        &dir,
        sh_worker("trap 'sleep 0.5; exit 0' TERM; sleep 300 & wait"),
    ))
    .await
    .unwrap();
    until(&m, Duration::from_secs(20), |s| {
        state_of(s, "coal") == WorkerState::Running
    })
    .await;
    for _ in 0..8 {
        m.handle
            .commands
            .send(Command::RestartWorker { id: "coal".into() })
            .await
            .unwrap();
    }
    wait_for(Duration::from_secs(20), || {
        log_text(&log)
            .lines()
            .any(|l| l.contains("coal") && l.contains("restart requests coalesced"))
            .then_some(())
    })
    .expect("a log line saying the restarts were coalesced");
    let snap = until(&m, Duration::from_secs(20), |s| {
        state_of(s, "coal") == WorkerState::Running
    })
    .await;
    let restarts = snap
        .accounts
        .iter()
        .find(|a| a.id == "coal")
        .unwrap()
        .worker
        .restarts;
    // The first request's restart, then at most one for all the others
    // (before: eight stops and eight starts).
    assert!(restarts <= 2, "{restarts} restarts for 8 quick requests");
    shutdown(m).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_holders_are_read_as_soon_as_a_worker_starts() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path()).unwrap();
    let mut config = sh_worker("sleep 300 & wait");
    config.aria2.enabled = false;
    let m = Manager::start(options(&dir, config)).await.unwrap();
    // Added once the manager runs: its first look at the workers is over.
    m.handle
        .commands
        .send(Command::AddAccount {
            id: "holder".into(),
            name: None,
            secret: None,
            enabled: true,
        })
        .await
        .unwrap();
    let snap = until(&m, Duration::from_secs(20), |s| {
        pid_of(s, "holder").is_some() && state_of(s, "holder") == WorkerState::Running
    })
    .await;
    let pid = pid_of(&snap, "holder").unwrap();
    let running = Instant::now();
    until(&m, Duration::from_secs(20), |s| {
        s.accounts
            .iter()
            .any(|a| a.id == "holder" && a.worker.lock_holders.contains(&pid))
    })
    .await;
    // Before: the next sample, 2 s after the start.
    let took = running.elapsed();
    // Room for a loaded runner, well short of the old 2 s.
    assert!(
        took < Duration::from_millis(1500),
        "holders read after {took:?}"
    );
    shutdown(m).await;
}
