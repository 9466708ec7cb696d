//! The dashboard losing its terminal with `[ui] on_hangup = "shutdown"`, as
//! an SSH drop or `tmux kill-session` does it (the default, keep-running,
//! is in `attach.rs`): a real pty closed and a real SIGHUP, in both orders and with gaps
//! between them. However they interleave, the shutdown stays graceful (every
//! worker finishes its TERM handler, nothing is SIGKILLed, `last_shutdown` is
//! `clean`) and steward exits 0 without a panic.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{TestDir, steward_bin, wait_for, worker_state};

/// Workers that need about a second to save on SIGTERM and then leave a
/// marker: a SIGKILL (a forced shutdown) leaves none.
/// They print all the while, so the Logs pane redraws (and a redraw on the
/// dead pty fails) in the gap between the pty's close and the SIGHUP.
const SAVING_WORKER: &str = r#"trap 'sleep 1; echo clean > "$MARKERS/$STEWARD_ACCOUNT"; exit 0' TERM
while :; do echo tick; sleep 0.1; done"#;

const ACCOUNTS: [&str; 3] = ["alice", "bob", "carol"];

/// Runs steward on a pty it controls and hangs up as told, or (`wrap`) runs
/// steward on its own stdio, surviving the hang-up itself to report how
/// steward exited. Writes `{"code": N}` (negative: killed by signal -N).
const DRIVER: &str = r#"
import fcntl, json, os, pty, select, signal, struct, subprocess, sys, termios, time

def report(path, proc):
    with open(path + ".tmp", "w") as f:
        json.dump({"code": proc.returncode}, f)
    os.rename(path + ".tmp", path)

def wrap(result, err, cmd):
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with open(err, "wb") as e:
        proc = subprocess.Popen(cmd, stderr=e,
            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    proc.wait()
    report(result, proc)

def hang_up(result, order, gap, trigger, err, cmd):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    errf = slave if err == "pty" else open(err, "wb")
    # Its own session, like a login shell's job; the pty is its stdio, not its
    # controlling terminal, so the kernel sends no SIGHUP of its own and the
    # order below is the one steward sees.
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=errf,
                            start_new_session=True)
    os.close(slave)
    def drain(until):
        while until():
            if proc.poll() is not None:
                return False
            ready, _, _ = select.select([master], [], [], 0.02)
            if ready:
                try:
                    os.read(master, 65536)
                except OSError:
                    return False
        return True
    if drain(lambda: not os.path.exists(trigger)):
        # The Logs pane, where the workers' lines keep the screen changing.
        os.write(master, b"5")
        end = time.monotonic() + 0.5
        drain(lambda: time.monotonic() < end)
        if order == "close-then-hup":
            os.close(master)
            time.sleep(gap)
            os.killpg(proc.pid, signal.SIGHUP)
        else:
            os.killpg(proc.pid, signal.SIGHUP)
            end = time.monotonic() + gap
            drain(lambda: time.monotonic() < end)
            os.close(master)
    proc.wait()
    report(result, proc)

if sys.argv[1] == "wrap":
    wrap(sys.argv[2], sys.argv[3], sys.argv[4:])
else:
    hang_up(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7:])
"#;

struct Setup {
    dir: TestDir,
    /// Beside the data dir, not in it (the data dir holds only steward's own).
    _scratch: tempfile::TempDir,
    markers: PathBuf,
    driver: PathBuf,
}

fn setup() -> Setup {
    setup_with(SAVING_WORKER)
}

fn setup_with(worker: &str) -> Setup {
    let dir = TestDir::new();
    let scratch = tempfile::tempdir().unwrap();
    let markers = scratch.path().join("markers");
    std::fs::create_dir(&markers).unwrap();
    dir.write_config(&format!(
        "[worker]\ncommand = [\"sh\", \"-c\", {worker:?}]\nstop_timeout = \"60s\"\nenv = {{ MARKERS = {:?} }}\n[ui]\non_hangup = \"shutdown\"\n",
        markers.display().to_string(),
    ));
    for id in ACCOUNTS {
        let out = dir.run(&["account", "add", id]);
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let driver = scratch.path().join("driver.py");
    std::fs::write(&driver, DRIVER).unwrap();
    Setup {
        dir,
        _scratch: scratch,
        markers,
        driver,
    }
}

fn all_running(dir: &TestDir) -> Option<()> {
    let status = dir.status_json()?;
    ACCOUNTS
        .iter()
        .all(|id| worker_state(&status, id).as_deref() == Some("running"))
        .then_some(())
}

/// The dashboard's command line (no subcommand: the dashboard).
fn steward_args(dir: &Path) -> Vec<String> {
    vec![
        steward_bin().to_string(),
        "--data-dir".to_string(),
        dir.display().to_string(),
    ]
}

fn exit_code(result: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(result).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["code"].as_i64()
}

/// Everything a graceful shutdown after a hang-up must leave behind; every
/// miss is reported at once (a forced shutdown and a panic are separate faults).
fn clean_exit_problems(
    setup: &Setup,
    code: Option<i64>,
    stderr: &str,
    case: &str,
) -> Option<String> {
    let mut problems = Vec::new();
    if code != Some(0) {
        problems.push(format!(
            "exit code {code:?}, not 0 (negative: killed by that signal)"
        ));
    }
    if stderr.contains("panicked at") {
        problems.push("steward panicked".to_string());
    }
    for id in ACCOUNTS {
        if !setup.markers.join(id).exists() {
            problems.push(format!(
                "{id}'s worker did not finish its TERM handler (SIGKILLed: the shutdown was forced)"
            ));
        }
    }
    let status = setup.dir.status_json().expect("status after exit");
    if status["last_shutdown"] != "clean" || status["shutdown"]["forced"] != false {
        problems.push(format!(
            "last_shutdown {}, forced {}",
            status["last_shutdown"], status["shutdown"]["forced"]
        ));
    }
    (!problems.is_empty()).then(|| format!("{case}: {problems:#?}\nstderr: {stderr}"))
}

/// Runs every case, then fails with all that went wrong.
fn all_clean(cases: Vec<Option<String>>) {
    let failed: Vec<String> = cases.into_iter().flatten().collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// One dashboard run on a pty that is closed and hung up in `order` with `gap`
/// seconds between; `stderr_to_pty` puts stderr on the same (dying) pty.
fn hang_up_case(order: &str, gap: f64, stderr_to_pty: bool) -> Option<String> {
    let case = format!("{order} gap {gap}s stderr on pty {stderr_to_pty}");
    let setup = setup();
    let dir = setup.dir.path();
    let trigger = dir.join("hang-up-now");
    let result = dir.join("result.json");
    let stderr_file = dir.join("stderr");
    let err_arg = if stderr_to_pty {
        "pty".to_string()
    } else {
        stderr_file.display().to_string()
    };
    let mut driver = Command::new("python3")
        .arg(&setup.driver)
        .arg("hang-up")
        .arg(&result)
        .arg(order)
        .arg(gap.to_string())
        .arg(&trigger)
        .arg(&err_arg)
        .args(steward_args(dir))
        .env("TERM", "xterm-256color")
        .env_remove("STEWARD_LOG")
        .spawn()
        .expect("python3 installed");
    let running = wait_for(Duration::from_secs(30), || all_running(&setup.dir));
    std::fs::write(&trigger, b"").unwrap();
    if running.is_none() {
        let _ = driver.kill();
        panic!("{case}: workers never ran");
    }
    let exited = driver.wait().unwrap();
    assert!(exited.success(), "{case}: driver failed");
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    clean_exit_problems(&setup, exit_code(&result), &stderr, &case)
}

#[test]
fn pty_closed_then_sighup_shuts_down_gracefully_whatever_the_gap() {
    all_clean(
        [0.0, 0.1, 0.8]
            .into_iter()
            .map(|gap| hang_up_case("close-then-hup", gap, false))
            .collect(),
    );
}

#[test]
fn sighup_then_pty_closed_shuts_down_gracefully_whatever_the_gap() {
    all_clean(
        [0.0, 0.1, 0.8]
            .into_iter()
            .map(|gap| hang_up_case("hup-then-close", gap, false))
            .collect(),
    );
}

#[test]
fn with_stderr_on_the_dead_pty_too_nothing_aborts() {
    all_clean(vec![
        hang_up_case("close-then-hup", 0.8, true),
        hang_up_case("hup-then-close", 0.1, true),
    ]);
}

fn tmux(args: &[&str]) -> Output {
    Command::new("tmux")
        .args(args)
        .env_remove("TMUX")
        .output()
        .expect("tmux installed (apt-get install tmux)")
}

#[test]
fn tmux_kill_session_shuts_down_gracefully() {
    let setup = setup();
    let dir = setup.dir.path();
    let result = dir.join("result.json");
    let stderr_file = dir.join("stderr");
    let mut command = vec![
        "python3".to_string(),
        setup.driver.display().to_string(),
        "wrap".to_string(),
        result.display().to_string(),
        stderr_file.display().to_string(),
    ];
    command.extend(steward_args(dir));
    let quoted: Vec<String> = command.iter().map(|a| format!("'{a}'")).collect();
    let name = format!("steward-hangup-{}", std::process::id());
    // A private server: the test's kill-session touches nothing else.
    let socket = dir.join("tmux.sock").display().to_string();
    let started = tmux(&[
        "-S",
        &socket,
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "100",
        "-y",
        "30",
        &format!("TERM=xterm-256color exec {}", quoted.join(" ")),
    ]);
    assert!(started.status.success(), "{}", common::stderr(&started));
    let running = wait_for(Duration::from_secs(30), || all_running(&setup.dir));
    // The Logs pane, where the workers' lines keep the screen changing.
    let _ = tmux(&["-S", &socket, "send-keys", "-t", &name, "5"]);
    let logs_shown = wait_for(Duration::from_secs(10), || {
        let screen = tmux(&["-S", &socket, "capture-pane", "-p", "-t", &name]);
        common::stdout(&screen).contains("tick").then_some(())
    });
    let killed = tmux(&["-S", &socket, "kill-session", "-t", &name]);
    if running.is_none() || logs_shown.is_none() {
        panic!("workers never ran, or their lines never showed");
    }
    assert!(killed.status.success(), "{}", common::stderr(&killed));
    let code = wait_for(Duration::from_secs(60), || exit_code(&result));
    let _ = tmux(&["-S", &socket, "kill-server"]);
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    all_clean(vec![clean_exit_problems(
        &setup,
        code,
        &stderr,
        "tmux kill-session",
    )]);
}

#[test]
fn headless_sighups_never_force_but_a_second_deliberate_sigterm_does() {
    let kill = |sig: &str, pid: u32| {
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
    };
    // Hung up twice (a shell forwards its SIGHUP, the kernel sends another): graceful.
    let setup = setup();
    let mut child = setup.dir.spawn_headless();
    wait_for(Duration::from_secs(30), || all_running(&setup.dir)).expect("workers running");
    kill("HUP", child.id());
    kill("HUP", child.id());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let hang_ups = clean_exit_problems(
        &setup,
        status.code().map(i64::from),
        &stderr,
        "headless, two SIGHUPs",
    );

    // After a hang-up the operator's first SIGTERM is their first request
    // (graceful); the second forces. Workers that ignore TERM keep the
    // shutdown waiting, so what each signal did can be seen.
    let setup = setup_with("trap '' TERM; while :; do sleep 0.1; done");
    let mut child = setup.dir.spawn_headless();
    wait_for(Duration::from_secs(30), || all_running(&setup.dir)).expect("workers running");
    let shutdown = || -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(setup.dir.path().join("status.json")).ok()?;
        let status: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some(status["shutdown"].clone())
    };
    kill("HUP", child.id());
    wait_for(Duration::from_secs(10), || {
        shutdown()?["phases"]
            .as_array()?
            .iter()
            .any(|p| p["name"] == "stop workers" && p["state"]["state"] == "running")
            .then_some(())
    })
    .expect("the hang-up's graceful shutdown reached the worker stop");
    kill("TERM", child.id());
    // Bounded look for what must not happen: the first SIGTERM forcing.
    let forced_by_first = wait_for(Duration::from_secs(2), || {
        shutdown().filter(|s| s["forced"] == true)
    });
    kill("TERM", child.id());
    let exited = child.wait().unwrap();
    let after = setup.dir.status_json().expect("status after exit");
    all_clean(vec![hang_ups]);
    assert!(
        forced_by_first.is_none(),
        "the first SIGTERM after a SIGHUP forced: {forced_by_first:#?}"
    );
    assert_eq!(exited.code(), Some(0));
    assert_eq!(after["last_shutdown"], "forced", "{after:#}");
}
