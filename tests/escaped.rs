//! Descendants that leave their worker's process group (`setsid`, a double
//! fork), with real processes: stopped with the worker by `account disable`
//! and `steward stop`, the session lock free afterwards, none left as a
//! zombie of steward, and a crashed steward's found and stopped at the next
//! start.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

/// A worker that leaves three sleepers outside its group: one keeping the
/// worker's fds (the session lock among them), one with none of them (no
/// output, no lock: only its environment tells whose it is), and one
/// double-forked without them (adopted by steward at once). Each sleep has
/// its own length, to tell them apart. bash, not sh: dash redirects fds 0-9
/// only, and the lock fd is higher.
const WORKER: &str = "setsid sleep 3001 & \
eval 'setsid sleep 3002 </dev/null >/dev/null 2>&1 '$STEWARD_SESSION_LOCK_FD'>&- &'; \
(eval 'setsid sleep 3003 </dev/null >/dev/null 2>&1 '$STEWARD_SESSION_LOCK_FD'>&- &'); \
exec sleep 3004";

/// Kills whatever of alice's is left when a test ends, passed or failed:
/// on today's code, exactly the sleepers under test would outlive it.
struct KillLeft<'a>(&'a TestDir);

impl Drop for KillLeft<'_> {
    fn drop(&mut self) {
        for pid in worker_pids(self.0.path(), "alice") {
            kill9(pid);
        }
    }
}

/// Live processes whose command line is `cmd`.
fn running(cmd: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| cmdline(p).trim_end() == cmd && alive(p))
        .collect()
}

/// Kills, when a test ends, the processes running `cmd` (unique to it)
/// that no environment attributes to alice.
struct KillCmd(String);

impl Drop for KillCmd {
    fn drop(&mut self) {
        for pid in running(&self.0) {
            kill9(pid);
        }
    }
}

fn config(dir: &TestDir) {
    dir.write_config(&format!(
        "[worker]\ncommand = [\"bash\", \"-c\", \"{WORKER}\"]\nstop_timeout = \"5s\"\n[aria2]\nenabled = false\n"
    ));
}

/// The command line of `pid`, joined by spaces.
fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The pid of alice's process running `sleep <n>`.
fn sleeper(dir: &TestDir, n: u32) -> Option<i32> {
    let want = format!("sleep {n}");
    worker_pids(dir.path(), "alice")
        .into_iter()
        .find(|&p| cmdline(p).trim_end() == want)
}

/// Waits until alice's worker and its three escaped sleepers all run;
/// returns their pids (leader first) and the path of the lock the worker got.
fn wait_for_family(dir: &TestDir) -> (Vec<i32>, PathBuf) {
    let pids = wait_for(Duration::from_secs(20), || {
        let pids: Option<Vec<i32>> = [3004, 3001, 3002, 3003]
            .into_iter()
            .map(|n| sleeper(dir, n))
            .collect();
        pids
    })
    .expect("worker and sleepers running");
    // Each sleeper left the group the worker leads.
    for &p in &pids[1..] {
        let fields = stat_fields(p).unwrap();
        assert_ne!(
            fields[2],
            pids[0].to_string(),
            "sleeper {p} still in the group"
        );
    }
    let env = std::fs::read(format!("/proc/{}/environ", pids[0])).unwrap();
    let fd = env
        .split(|&b| b == 0)
        .find_map(|e| e.strip_prefix(b"STEWARD_SESSION_LOCK_FD="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .expect("lock fd in the environment");
    let lock = std::fs::read_link(format!("/proc/{}/fd/{fd}", pids[0])).unwrap();
    // The sleeper that kept the worker's fds holds the lock too; the others not.
    let kept = std::fs::read_link(format!("/proc/{}/fd/{fd}", pids[1])).unwrap();
    assert_eq!(kept, lock);
    for &p in &pids[2..] {
        assert!(std::fs::read_link(format!("/proc/{p}/fd/{fd}")).is_err());
    }
    (pids, lock)
}

/// Zombies whose parent is `parent`.
fn zombies_of(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| stat_fields(p).is_some_and(|f| f[0] == "Z" && f[1] == parent.to_string()))
        .collect()
}

fn account_json(dir: &TestDir) -> Option<serde_json::Value> {
    let status = dir.status_json()?;
    status["accounts"]
        .as_array()?
        .iter()
        .find(|a| a["id"] == "alice")
        .cloned()
}

/// Whether the sweeper processes of this test are gone (and not zombies).
fn all_gone(pids: &[i32]) -> bool {
    pids.iter().all(|&p| !alive(p))
}

#[test]
fn escaped_descendants_are_shown_and_stopped_with_their_worker_on_disable() {
    let dir = TestDir::new();
    let _left = KillLeft(&dir);
    config(&dir);
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut steward = dir.spawn_headless();
    let me = steward.id() as i32;
    let (pids, lock) = wait_for_family(&dir);
    // The double-forked sleeper was re-parented to steward at once, and the
    // details name it.
    assert_eq!(stat_fields(pids[3]).unwrap()[1], me.to_string());
    wait_for(Duration::from_secs(20), || {
        let a = account_json(&dir)?;
        a["worker"]["escaped"]
            .as_array()?
            .contains(&serde_json::json!(pids[3]))
            .then_some(())
    })
    .expect("the escaped sleeper in the status");
    let status = dir.status_json().unwrap();
    let mode = status["instance"]["isolation"].as_str().unwrap_or_default();
    assert!(
        mode == "subreaper only" || mode == "cgroup v2 per worker",
        "{status}"
    );
    let doctor = stdout(&dir.run(&["doctor"]));
    assert!(
        doctor.contains(&format!("escaped descendants: {mode} (running steward)")),
        "{doctor}"
    );

    assert!(dir.run(&["account", "disable", "alice"]).status.success());
    wait_for(Duration::from_secs(20), || {
        (worker_state(&dir.status_json()?, "alice")? == "stopped").then_some(())
    })
    .expect("alice stopped");
    // "stopped" means the group and every escaped descendant are gone.
    assert!(
        all_gone(&pids),
        "left running: {:?}",
        worker_pids(dir.path(), "alice")
    );
    assert!(worker_pids(dir.path(), "alice").is_empty());
    assert!(!flock_is_held(&lock), "session lock still held");
    // Every adopted one was reaped: no zombie child of steward is left.
    wait_for(Duration::from_secs(10), || {
        zombies_of(me).is_empty().then_some(())
    })
    .unwrap_or_else(|| panic!("zombies of steward: {:?}", zombies_of(me)));

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &me.to_string()])
        .status();
    assert_eq!(steward.wait().unwrap().code(), Some(0));
}

#[test]
fn steward_stop_leaves_no_escaped_descendant_and_reports_clean() {
    let dir = TestDir::new();
    let _left = KillLeft(&dir);
    config(&dir);
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut steward = dir.spawn_headless();
    let (pids, lock) = wait_for_family(&dir);
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(steward.wait().unwrap().code(), Some(0));
    assert!(
        all_gone(&pids),
        "left running: {:?}",
        worker_pids(dir.path(), "alice")
    );
    assert!(!flock_is_held(&lock), "session lock still held");
    let status = dir.status_json().unwrap();
    assert_eq!(status["last_shutdown"], "clean", "{status}");
}

#[test]
fn a_crashed_stewards_escaped_descendants_are_stopped_at_the_next_start() {
    let dir = TestDir::new();
    let _left = KillLeft(&dir);
    config(&dir);
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut first = dir.spawn_headless();
    let (old, lock) = wait_for_family(&dir);
    kill9(first.id() as i32);
    let _ = first.wait();
    assert!(
        old.iter().all(|&p| alive(p)),
        "a crash stopped a worker process"
    );

    let mut second = dir.spawn_headless();
    let new = wait_for(Duration::from_secs(30), || {
        dir.status_json()
            .filter(|s| s["instance"]["live"] == true)
            .and_then(|s| worker_pid(&s, "alice"))
            .filter(|p| !old.contains(p))
    })
    .expect("new worker running");
    // The old ones were stopped before the new worker started.
    assert!(
        all_gone(&old),
        "leftovers alive: {:?}",
        old.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
    );
    let status = stdout(&dir.run(&["status", "--json"]));
    assert!(
        status.contains("left its worker's process group"),
        "{status}"
    );
    assert!(alive(new));
    let _ = lock;

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    assert_eq!(second.wait().unwrap().code(), Some(0));
    assert!(worker_pids(dir.path(), "alice").is_empty());
}

/// Whether this machine lets steward make cgroups (cgroup v2, writable):
/// what `doctor` predicts for a start here.
fn cgroups_usable(dir: &TestDir) -> bool {
    let doctor = stdout(&dir.run(&["doctor"]));
    if doctor.contains("escaped descendants: cgroup v2 per worker") {
        return true;
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped: cgroup v2 not usable here: {}",
        doctor
            .lines()
            .find(|l| l.contains("escaped descendants"))
            .unwrap_or("no doctor line")
    );
    false
}

#[test]
fn in_cgroup_mode_a_descendant_without_the_environment_is_stopped_too() {
    let dir = TestDir::new();
    let _left = KillLeft(&dir);
    if !cgroups_usable(&dir) {
        return;
    }
    // `env -i`: nothing tells whose it is but its cgroup. Its command line
    // is unique to this test run, to find it (and clean up).
    let marker = format!("{}", 4000 + std::process::id() % 1000);
    dir.write_config(&format!(
        "[worker]\ncommand = [\"bash\", \"-c\", \"(eval 'env -i setsid sleep {marker} </dev/null >/dev/null 2>&1 '$STEWARD_SESSION_LOCK_FD'>&- &'); exec sleep 3004\"]\nstop_timeout = \"5s\"\n[aria2]\nenabled = false\n"
    ));
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut steward = dir.spawn_headless();
    let me = steward.id() as i32;
    let _stray_left = KillCmd(format!("sleep {marker}"));
    let find = || running(&format!("sleep {marker}")).into_iter().next();
    let stray = wait_for(Duration::from_secs(20), find).expect("the stray sleeper runs");
    let cgroup = std::fs::read_to_string(format!("/proc/{stray}/cgroup")).unwrap();
    assert!(
        cgroup.contains(&format!("/steward-{me}/alice")),
        "not in alice's cgroup: {cgroup}"
    );
    // The status file is written at most once a second: until it shows alice
    // running, its "stopped" may be the one from before she started.
    wait_for(Duration::from_secs(20), || {
        (worker_state(&dir.status_json()?, "alice")? == "running").then_some(())
    })
    .expect("alice shown running");
    assert!(dir.run(&["account", "disable", "alice"]).status.success());
    wait_for(Duration::from_secs(20), || {
        (worker_state(&dir.status_json()?, "alice")? == "stopped").then_some(())
    })
    .expect("alice stopped");
    assert_eq!(find(), None, "the stray sleeper outlived the stop");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &me.to_string()])
        .status();
    assert_eq!(steward.wait().unwrap().code(), Some(0));
    // Its cgroups went with the workers and steward.
    let still: Vec<_> = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(|m| std::path::Path::new(m).join(format!("steward-{me}")))
        .filter(|p| p.exists())
        .collect();
    assert!(still.is_empty(), "cgroups left: {still:?}");
}

#[test]
fn a_worker_that_exits_leaving_an_escaped_descendant_does_not_leak_one_per_run() {
    let dir = TestDir::new();
    let _left = KillLeft(&dir);
    dir.write_config(
        "[worker]\ncommand = [\"bash\", \"-c\", \"setsid sleep 3011 </dev/null >/dev/null 2>&1 & sleep 0.3; exit 1\"]\nbackoff_initial = \"200ms\"\nbackoff_max = \"400ms\"\n[aria2]\nenabled = false\n",
    );
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut steward = dir.spawn_headless();
    let sleepers = || running("sleep 3011").len();
    let mut most = 0;
    wait_for(Duration::from_secs(30), || {
        most = most.max(sleepers());
        let a = account_json(&dir)?;
        (a["worker"]["restarts"].as_u64()? >= 4).then_some(())
    })
    .expect("four restarts");
    // Each run's sleeper went with its worker: never two at once.
    assert!(most <= 1, "{most} sleepers at once");
    assert!(sleepers() <= 1, "{} sleepers left", sleepers());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &steward.id().to_string()])
        .status();
    assert_eq!(steward.wait().unwrap().code(), Some(0));
    assert_eq!(sleepers(), 0);
}

#[test]
fn in_cgroup_mode_a_crashed_stewards_descendant_without_the_environment_is_ended_at_the_next_start()
{
    let dir = TestDir::new();
    let _left = KillLeft(&dir);
    if !cgroups_usable(&dir) {
        return;
    }
    let marker = format!("{}", 5000 + std::process::id() % 1000);
    dir.write_config(&format!(
        "[worker]\ncommand = [\"bash\", \"-c\", \"(eval 'env -i setsid sleep {marker} </dev/null >/dev/null 2>&1 '$STEWARD_SESSION_LOCK_FD'>&- &'); exec sleep 3004\"]\nstop_timeout = \"5s\"\n[aria2]\nenabled = false\n"
    ));
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let _stray_left = KillCmd(format!("sleep {marker}"));
    let find = || running(&format!("sleep {marker}")).into_iter().next();
    let mut first = dir.spawn_headless();
    let old = first.id() as i32;
    let stray = wait_for(Duration::from_secs(20), find).expect("the stray sleeper runs");
    kill9(old);
    let _ = first.wait();
    assert!(alive(stray), "a crash stopped the stray");

    let mut second = dir.spawn_headless();
    wait_for(Duration::from_secs(30), || {
        dir.status_json()
            .filter(|s| s["instance"]["live"] == true)
            .and_then(|s| worker_pid(&s, "alice"))
    })
    .expect("new worker running");
    assert!(!alive(stray), "the stray outlived the next start");
    let status = stdout(&dir.run(&["status", "--json"]));
    assert!(
        status.contains("left in the cgroup of a steward that died"),
        "{status}"
    );
    let still: Vec<_> = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(|m| std::path::Path::new(m).join(format!("steward-{old}")))
        .filter(|p| p.exists())
        .collect();
    assert!(still.is_empty(), "dead steward's cgroups left: {still:?}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    assert_eq!(second.wait().unwrap().code(), Some(0));
}
