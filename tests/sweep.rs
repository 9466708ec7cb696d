//! `steward sweep` and `steward trash` with real processes and files:
//! session files, leftover workers, stale lock files, expired trash, a
//! running instance and a stopped one, and two sweepers at once.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn session_files_with_no_account_go_to_trash_unless_held() {
    let dir = TestDir::new();
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let sessions = dir.path().join("sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    let alice = dir.session_file("alice");
    let ghost = dir.session_file("ghost");
    let open_held = dir.session_file("opened");
    let flock_held = dir.session_file("flocked");
    for f in [&alice, &ghost, &open_held, &flock_held] {
        std::fs::write(f, "state").unwrap();
    }
    // SQLite companions: ghost's journal goes with ghost; a WAL whose
    // database is gone is listed on its own. Lock files are never listed.
    let ghost_journal = sessions.join("ghost.session-journal");
    let lonely_wal = sessions.join("lonely.session-wal");
    std::fs::write(&ghost_journal, "journal").unwrap();
    std::fs::write(&lonely_wal, "wal").unwrap();
    for id in ["alice", "ghost"] {
        std::fs::write(dir.lock_file(id), "").unwrap();
    }
    // Held open (no lock) by a live process: its stdin.
    let mut sleeper = Command::new("sleep");
    sleeper
        .arg("60")
        .stdin(Stdio::from(File::open(&open_held).unwrap()));
    let opener = GroupChild::spawn(sleeper);
    // The session lock lives on `flocked.lock`, not on the session file.
    let mut flocker = Command::new("flock");
    flocker.arg(dir.lock_file("flocked")).args(["sleep", "60"]);
    let flocker = GroupChild::spawn(flocker);
    wait_for(Duration::from_secs(10), || {
        flock_is_held(&dir.lock_file("flocked")).then_some(())
    })
    .unwrap();

    let (out, plan) = sweep_json(&dir, true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(plan_items_for(&plan, &alice).is_empty(), "{plan}");
    let held = plan_items_for(&plan, &open_held);
    assert_eq!(held[0]["action"], "leave", "{plan}");
    assert_eq!(held[0]["holder_pid"], opener.pid(), "{plan}");
    assert!(
        held[0]["reason"]
            .as_str()
            .unwrap()
            .contains(&opener.pid().to_string())
    );
    let locked = plan_items_for(&plan, &flock_held);
    assert_eq!(locked[0]["action"], "leave", "{plan}");
    assert_eq!(locked[0]["holder_pid"], flocker.pid(), "{plan}");
    let ghost_item = &plan_items_for(&plan, &ghost)[0];
    assert_eq!(ghost_item["action"], "trash");
    assert!(
        ghost_item["reason"]
            .as_str()
            .unwrap()
            .contains("ghost.session-journal"),
        "{plan}"
    );
    assert!(plan_items_for(&plan, &ghost_journal).is_empty(), "{plan}");
    assert_eq!(plan_items_for(&plan, &lonely_wal)[0]["action"], "trash");
    assert!(!plan.to_string().contains(".lock\""), "{plan}");

    let (out, result) = sweep_json(&dir, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(outcome_for(&result, &ghost).as_deref(), Some("done"));
    assert_eq!(outcome_for(&result, &open_held).as_deref(), Some("skipped"));
    assert!(!ghost.exists() && !ghost_journal.exists() && !lonely_wal.exists());
    assert!(open_held.exists() && flock_held.exists() && alice.exists());
    assert!(dir.lock_file("alice").exists() && dir.lock_file("ghost").exists());
    let mut trashed: Vec<String> = std::fs::read_dir(dir.path().join("trash"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    trashed.sort();
    assert_eq!(trashed.len(), 3, "{trashed:?}");
    assert!(
        trashed[0].starts_with("ghost.session-journal."),
        "{trashed:?}"
    );
    assert!(trashed[1].starts_with("ghost.session."), "{trashed:?}");
    assert_eq!(
        trashed[0].strip_prefix("ghost.session-journal."),
        trashed[1].strip_prefix("ghost.session."),
        "one suffix for the database and its journal"
    );
    assert!(trashed[2].starts_with("lonely.session-wal."), "{trashed:?}");
    let trashed = [trashed[1].clone()];

    // Restore brings the account back with its file.
    let list = stdout(&dir.run(&["trash", "list"]));
    assert!(list.contains("ghost.session."), "{list}");
    let out = dir.run(&["trash", "restore", &trashed[0]]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&ghost).unwrap(), "state");
    assert_eq!(std::fs::read_to_string(&ghost_journal).unwrap(), "journal");
    let ghost_row = open_store(&dir)
        .account("ghost")
        .unwrap()
        .expect("recreated");
    assert!(ghost_row.enabled);
    let out = dir.run(&["trash", "restore", "nothing-like-it"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let events = open_store(&dir).recent_events(20).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "sweep.session_no_account" && e.result == "ok")
    );
}

#[test]
fn expired_trash_and_stale_pid_files_go_steward_lock_stays() {
    let dir = TestDir::new();
    dir.write_config("[trash]\nkeep = \"1d\"\n");
    let trash = dir.path().join("trash");
    std::fs::create_dir_all(&trash).unwrap();
    let old = trash.join("bob.session.1600000000000");
    let fresh = trash.join(format!("carol.session.{}", steward::time::now_ms()));
    std::fs::write(&old, "old").unwrap();
    std::fs::write(&fresh, "fresh").unwrap();
    let stale = dir.path().join("thing.pid");
    std::fs::write(&stale, "999999\n").unwrap();
    age_days(&stale, 1);
    let steward_lock = dir.path().join("steward.lock");
    std::fs::write(&steward_lock, "").unwrap();
    age_days(&steward_lock, 1);

    let (out, result) = sweep_json(&dir, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(plan_items_for(&result, &old)[0]["kind"], "trash_expired");
    assert_eq!(outcome_for(&result, &old).as_deref(), Some("done"));
    assert_eq!(
        plan_items_for(&result, &stale)[0]["kind"],
        "stale_lock_file"
    );
    assert!(!old.exists() && !stale.exists());
    assert!(fresh.exists() && steward_lock.exists());
    assert!(plan_items_for(&result, &steward_lock).is_empty());
}

#[test]
fn sweep_against_a_running_instance_and_a_stopped_one() {
    let dir = TestDir::new();
    dir.write_config("[temp]\nmax_age = \"1h\"\n");
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut steward = dir.spawn_headless();
    let status = wait_for(Duration::from_secs(15), || {
        dir.status_json()
            .filter(|s| worker_pid(s, "alice").is_some())
    })
    .expect("alice's worker runs");
    let worker = worker_pid(&status, "alice").unwrap();
    let old = dir.path().join("tmp/left-by-someone");
    std::fs::create_dir_all(&old).unwrap();
    age_days(&old, 2);

    let (out, result) = sweep_json(&dir, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(result["instance_running"], true);
    assert_eq!(result["instance_pid"], steward.id());
    assert_eq!(
        outcome_for(&result, &old).as_deref(),
        Some("done"),
        "{result}"
    );
    // Nothing the live instance holds is in the plan.
    let items = result["plan"]["items"].as_array().unwrap();
    assert!(
        items.iter().all(|i| i["account"] != "alice"),
        "live instance's things in the plan: {result}"
    );
    assert!(alive(worker), "the sweep stopped a live worker");
    assert!(dir.session_file("alice").exists());
    let text = stdout(&dir.run(&["sweep", "--dry-run"]));
    assert!(text.contains("is running"), "{text}");

    // Stop it, then sweep the stopped data dir.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(steward.id().to_string())
        .status();
    let end = Instant::now() + Duration::from_secs(20);
    while steward.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "steward did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (out, result) = sweep_json(&dir, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(result["instance_running"], false);
    assert_eq!(result["summary"]["failed"], 0, "{result}");
}

#[test]
fn two_sweeps_at_once_one_refuses() {
    let dir = TestDir::new();
    dir.write_config("[worker]\nstop_timeout = \"2s\"\n");
    // A worker left by a steward that is gone, and that ignores SIGTERM, so
    // the first sweep takes stop_timeout to stop it.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "trap '' TERM; echo up; exec sleep 60"])
        .stdout(Stdio::piped());
    let mut leftover = GroupChild::spawn(cmd);
    let mut out = std::io::BufReader::new(leftover.0.stdout.take().unwrap());
    read_line_with(&mut out, "up").unwrap();
    let pid = leftover.pid();
    let start_time = steward::proc::ProcId::of(pid).unwrap().start_time;
    open_store(&dir)
        .record_worker(&steward::store::WorkerRow {
            account: "zed".into(),
            pid,
            start_time,
            pgid: pid,
            owner_pid: 999_999,
            owner_start_time: 1,
            started_ms: 0,
        })
        .unwrap();

    let first = dir
        .cmd(&["sweep", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = first;
    let first_pid = first.id();
    // Wait until the first sweep holds the lock, then start a second one.
    let lock = dir.path().join("sweep.lock");
    // Read /proc/locks rather than probing: a probe would itself take the lock.
    let holds = || steward::proc::flock_holders(&lock).contains(&(first_pid as i32));
    if wait_for(Duration::from_secs(10), || holds().then_some(())).is_none() {
        let _ = first.kill();
        let out = first.wait_with_output().unwrap();
        panic!(
            "the first sweep never held the lock: {} {}",
            stdout(&out),
            stderr(&out)
        );
    }
    let second = dir.run(&["sweep"]);
    assert_eq!(second.status.code(), Some(1), "{}", stdout(&second));
    let err = stderr(&second);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "another sweep is running (steward pid {first_pid})"
        )),
        "{err}"
    );

    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let result: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let items = result["plan"]["items"].as_array().unwrap();
    assert_eq!(items[0]["kind"], "leftover_worker", "{result}");
    assert_eq!(
        result["results"][0]["outcome"]["outcome"], "done",
        "{result}"
    );
    assert!(
        result["results"][0]["outcome"]["detail"]
            .as_str()
            .unwrap()
            .contains("SIGKILL"),
        "{result}"
    );
    wait_for(Duration::from_secs(5), || (!alive(pid)).then_some(())).expect("leftover stopped");
    assert!(open_store(&dir).workers().unwrap().is_empty());
}

#[test]
fn one_sweep_after_a_crash_stops_the_leftover_worker_and_frees_its_tmpdir() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path()).unwrap();
    dir.write_config(
        "[aria2]\nenabled = false\n[worker]\ncommand = [\"sh\", \"-c\", \"echo data > \\\"$TMPDIR/out\\\"; sleep 300 & wait\"]\n",
    );
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut steward = dir.spawn_headless();
    let worker = wait_for(Duration::from_secs(20), || {
        dir.status_json().and_then(|s| worker_pid(&s, "alice"))
    })
    .expect("worker running");
    let tmpdir = wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(dir.path().join("tmp"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("out").exists())
    })
    .expect("the worker wrote into its TMPDIR");
    kill9(steward.id() as i32);
    let _ = steward.wait();
    assert!(alive(worker));

    let (out, result) = sweep_json(&dir, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_for(Duration::from_secs(5), || (!alive(worker)).then_some(())).expect("worker stopped");
    // The same sweep freed the dir its stop released (before: a second
    // sweep was needed).
    assert!(!tmpdir.exists(), "{result:#}");
    assert_eq!(
        outcome_for(&result, &tmpdir).as_deref(),
        Some("done"),
        "{result:#}"
    );
    assert!(open_store(&dir).temp_entries().unwrap().is_empty());
    // Every result names an item of the plan it printed.
    let items = result["plan"]["items"].as_array().unwrap();
    for r in result["results"].as_array().unwrap() {
        let id = r["item"].as_u64().unwrap() as usize;
        assert_eq!(items[id]["target"], r["target"], "{result:#}");
    }
    let (_, again) = sweep_json(&dir, true);
    assert!(plan_items_for(&again, &tmpdir).is_empty(), "{again:#}");
}

#[test]
fn trash_restore_while_running_pauses_the_worker_swaps_the_file_and_starts_it_again() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path()).unwrap();
    // The worker shows what its session file holds when it starts, and
    // creates one if there is none, as a worker's library does.
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("worker.sh");
    std::fs::write(
        &script,
        r#"f="$STEWARD_SESSION_FILE"
echo "holds [$(cat "$f" 2>/dev/null)]"
[ -e "$f" ] || echo new > "$f"
sleep 300 & wait
"#,
    )
    .unwrap();
    dir.write_config(&format!(
        "[aria2]\nenabled = false\n[worker]\ncommand = [\"sh\", {:?}]\n",
        script.display().to_string()
    ));
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut steward = dir.spawn_headless();
    let first = wait_for(Duration::from_secs(20), || {
        dir.status_json().and_then(|s| worker_pid(&s, "alice"))
    })
    .expect("alice's worker");
    std::fs::write(dir.session_file("alice"), "precious").unwrap();
    // Removed while running: the instance stops the worker, trashes the file.
    assert!(dir.run(&["account", "rm", "alice"]).status.success());
    let trashed = wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(dir.path().join("trash"))
            .ok()?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("alice.session."))
    })
    .expect("alice's session file in the trash");
    assert!(!alive(first));
    // Added again: a worker starts at once, on a new session file.
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let second = wait_for(Duration::from_secs(20), || {
        dir.status_json()
            .and_then(|s| worker_pid(&s, "alice"))
            .filter(|&p| p != first)
    })
    .expect("alice's new worker");

    // One command, the instance running: before, it refused ("already
    // exists: move it away first", a live, locked file).
    let out = dir.run(&["trash", "restore", &trashed]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !alive(second),
        "the worker is stopped before the file moves"
    );
    assert_eq!(
        std::fs::read_to_string(dir.session_file("alice")).unwrap(),
        "precious"
    );
    let text = stdout(&out);
    assert!(text.contains("the session file it had went to"), "{text}");
    assert!(text.contains("enabled again"), "{text}");
    // Enabled again: a new worker starts on the restored file.
    wait_for(Duration::from_secs(20), || {
        let status = dir.status_json()?;
        let account = status["accounts"]
            .as_array()?
            .iter()
            .find(|a| a["id"] == "alice")?
            .clone();
        let logs = account["worker"]["recent_logs"].as_array()?;
        logs.iter().any(|l| l == "holds [precious]").then_some(())
    })
    .expect("a new worker on the restored file");
    let _ = Command::new("kill")
        .args(["-TERM", &steward.id().to_string()])
        .status();
    assert_eq!(steward.wait().unwrap().code(), Some(0));
}
