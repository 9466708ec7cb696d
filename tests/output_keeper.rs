//! The output keeper: a steward crash does not kill a worker that prints
//! (its pipes keep a reader), the next steward stops it in order, the keeper
//! holds nothing but the pipes and its socket, writes no secret, and ends by
//! itself; a clean stop leaves no keeper behind.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{TestDir, alive, kill9, wait_for, worker_pid};

const SECRET: &str = "hunter2-keeper-secret";

/// A worker printing a counter ten times a second on stdout (with its secret)
/// and stderr, also appending it to `counter`; on SIGTERM it writes `marker`.
/// A print into a pipe nobody reads raises BrokenPipeError and ends it.
const WORKER: &str = r#"
import os, signal, sys, time
marker, counter = sys.argv[1], sys.argv[2]
def term(*_):
    with open(marker, "w") as f:
        f.write("TERM\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
secret = os.environ.get("STEWARD_SECRET", "")
i = 0
while True:
    i += 1
    print(f"tick {i} secret={secret}", flush=True)
    print(f"err {i}", file=sys.stderr, flush=True)
    with open(counter, "a") as f:
        f.write(f"{i}\n")
    time.sleep(0.1)
"#;

struct Setup {
    dir: TestDir,
    /// The worker's script, counter and marker: outside the data dir.
    _files: tempfile::TempDir,
    marker: PathBuf,
    counter: PathBuf,
}

fn setup() -> Option<Setup> {
    if Command::new("python3").arg("-V").output().is_err() {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "skipped: python3 not installed");
        return None;
    }
    let dir = TestDir::new();
    let files = tempfile::tempdir().unwrap();
    let script = files.path().join("worker.py");
    std::fs::write(&script, WORKER).unwrap();
    let marker = files.path().join("marker");
    let counter = files.path().join("counter");
    dir.write_config(&format!(
        "[worker]\ncommand = [\"python3\", \"{}\", \"{}\", \"{}\"]\nstop_timeout = \"10s\"\n[aria2]\nenabled = false\n",
        script.display(),
        marker.display(),
        counter.display()
    ));
    let added = dir
        .cmd(&["account", "add", "alice", "--secret-env", "KEEPER_SECRET"])
        .env("KEEPER_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", common::stderr(&added));
    Some(Setup {
        dir,
        _files: files,
        marker,
        counter,
    })
}

fn count(counter: &Path) -> u64 {
    std::fs::read_to_string(counter)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

/// The keeper started for this data dir, by its command line.
fn keeper_pids(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.contains(&&b"output-keeper"[..])
            && args.contains(&dir.as_os_str().as_encoded_bytes())
            && alive(pid)
        {
            pids.push(pid);
        }
    }
    pids
}

fn fd_targets(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            out.push(target.to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

fn steward_log(dir: &TestDir) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with("steward") {
            text += &std::fs::read_to_string(entry.path()).unwrap_or_default();
        }
    }
    text
}

fn running_worker(dir: &TestDir) -> i32 {
    wait_for(Duration::from_secs(30), || {
        dir.status_json().and_then(|s| worker_pid(&s, "alice"))
    })
    .expect("the worker started")
}

#[test]
fn a_steward_crash_does_not_kill_a_printing_worker() {
    let Some(Setup {
        dir,
        marker,
        counter,
        _files: _keep,
    }) = setup()
    else {
        return;
    };
    let mut steward = dir.spawn_headless();
    let worker = running_worker(&dir);
    if wait_for(Duration::from_secs(20), || {
        (count(&counter) >= 5).then_some(())
    })
    .is_none()
    {
        panic!("the worker does not print: {}", steward_log(&dir));
    }

    // The keeper: nothing but stdio on /dev/null, its socket, its epoll and
    // the worker's two pipes; an empty environment (not a leftover worker).
    // Looked at after the crash's outcome, which is what matters most.
    let keepers = keeper_pids(dir.path());
    let keeper_fds = keepers.first().map(|&k| fd_targets(k));
    let keeper_env = keepers
        .first()
        .map(|&k| std::fs::read(format!("/proc/{k}/environ")).unwrap());
    let worker_pipes: Vec<String> = [1, 2]
        .iter()
        .map(|fd| {
            std::fs::read_link(format!("/proc/{worker}/fd/{fd}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();

    kill9(steward.id() as i32);
    steward.wait().unwrap();
    let at_kill = count(&counter);
    // Five seconds of ten lines a second, while the worker stays alive.
    let moved = wait_for(Duration::from_secs(30), || {
        assert!(
            alive(worker),
            "the worker died after steward's SIGKILL (counter {} at the kill, {} now)",
            at_kill,
            count(&counter)
        );
        (count(&counter) >= at_kill + 50).then_some(())
    });
    assert!(moved.is_some(), "the worker's counter stopped moving");
    assert_eq!(keepers.len(), 1, "one keeper: {keepers:?}");
    let keeper = keepers[0];
    let fds = keeper_fds.unwrap();
    let null = fds.iter().filter(|t| *t == "/dev/null").count();
    assert_eq!(null, 3, "stdio on /dev/null: {fds:?}");
    let sockets = fds.iter().filter(|t| t.starts_with("socket:")).count();
    assert_eq!(sockets, 1, "one socket: {fds:?}");
    let epoll = fds
        .iter()
        .filter(|t| *t == "anon_inode:[eventpoll]")
        .count();
    assert_eq!(epoll, 1, "its own epoll: {fds:?}");
    let rest: Vec<String> = fds
        .iter()
        .filter(|t| *t != "/dev/null" && !t.starts_with("socket:") && !t.starts_with("anon_inode:"))
        .cloned()
        .collect();
    let mut expected = worker_pipes.clone();
    expected.sort();
    assert_eq!(rest, expected, "only the worker's pipes: {fds:?}");
    assert!(
        keeper_env.unwrap().is_empty(),
        "the keeper's environment is empty"
    );
    assert!(alive(keeper), "the keeper outlives steward");
    let log = dir.path().join("logs/accounts/alice.log");
    let kept = wait_for(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).ok()?;
        (text.contains("stdout pid") && text.contains("stderr pid")).then_some(text)
    })
    .expect("the keeper wrote the worker's output after the crash");
    assert!(kept.contains("steward gone: tick "), "{kept:.300}");
    assert!(kept.contains("secret=***"), "{kept:.300}");

    // The next steward stops it in order: SIGTERM, the marker written.
    let mut next = dir.spawn_headless();
    wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&marker)
            .ok()
            .filter(|m| m == "TERM\n")
    })
    .expect("the leftover worker was stopped with SIGTERM");
    wait_for(Duration::from_secs(30), || (!alive(worker)).then_some(()))
        .expect("the old worker is gone");
    wait_for(Duration::from_secs(30), || (!alive(keeper)).then_some(()))
        .expect("the old keeper ended by itself once its pipes closed");
    let _ = Command::new("kill")
        .args(["-TERM", &next.id().to_string()])
        .status();
    assert_eq!(next.wait().unwrap().code(), Some(0));

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(SECRET), "a secret in the keeper's log");
    assert!(!text.contains("BrokenPipe"), "{text:.300}");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&log), 0o600);
    assert_eq!(mode(log.parent().unwrap()), 0o700);
}

#[test]
fn a_clean_stop_leaves_no_keeper() {
    let Some(Setup {
        dir, _files: _keep, ..
    }) = setup()
    else {
        return;
    };
    let mut steward = dir.spawn_headless();
    running_worker(&dir);
    let keeper = keeper_pids(dir.path());
    assert_eq!(keeper.len(), 1, "one keeper: {keeper:?}");
    let stop = dir.run(&["stop"]);
    assert!(stop.status.success(), "{}", common::stderr(&stop));
    assert_eq!(steward.wait().unwrap().code(), Some(0));
    // Reaped by steward before it exited: gone at once, not eventually.
    assert!(!alive(keeper[0]), "the keeper outlived a clean stop");
    assert!(keeper_pids(dir.path()).is_empty());
}

#[test]
fn a_dead_keeper_is_replaced_for_the_next_worker() {
    let Some(Setup {
        dir, _files: _keep, ..
    }) = setup()
    else {
        return;
    };
    let _steward = dir.spawn_headless();
    // Killed as soon as it is seen, well inside its first second: one death
    // soon after the start is not a keeper that cannot run (CI once lost the
    // race to that back-off here).
    let keeper = wait_for(Duration::from_secs(30), || {
        let pids = keeper_pids(dir.path());
        (!pids.is_empty()).then_some(pids)
    })
    .expect("a keeper started");
    assert_eq!(keeper.len(), 1, "one keeper: {keeper:?}");
    kill9(keeper[0]);
    let first = running_worker(&dir);
    // Replaced at once, not at the next spawn, and said once in the log.
    let replaced = wait_for(Duration::from_secs(10), || {
        let pids = keeper_pids(dir.path());
        (pids.len() == 1 && pids[0] != keeper[0]).then(|| pids[0])
    })
    .expect("a new keeper was started");
    let log = steward_log(&dir);
    assert_eq!(log.matches("the output keeper is gone").count(), 1, "{log}");
    assert!(dir.run(&["account", "disable", "alice"]).status.success());
    wait_for(Duration::from_secs(30), || (!alive(first)).then_some(()))
        .expect("the worker stopped");
    assert!(dir.run(&["account", "enable", "alice"]).status.success());
    let second = wait_for(Duration::from_secs(30), || {
        dir.status_json()
            .and_then(|s| worker_pid(&s, "alice"))
            .filter(|&p| p != first)
    })
    .expect("the worker restarted");
    // The new worker's pipes went to the new keeper.
    let pipe = std::fs::read_link(format!("/proc/{second}/fd/1")).unwrap();
    let pipe = pipe.to_string_lossy().into_owned();
    wait_for(Duration::from_secs(10), || {
        fd_targets(replaced).contains(&pipe).then_some(())
    })
    .unwrap_or_else(|| panic!("the new keeper holds {:?}", fd_targets(replaced)));
    assert_eq!(keeper_pids(dir.path()), vec![replaced]);
}
