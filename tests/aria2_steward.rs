//! aria2 through the real `steward` binary: a real aria2c, a local HTTP server
//! on 127.0.0.1 (throttled, with a request log), and steward killed, stopped
//! and restarted the way an operator would. Every wait polls with a deadline.
//! Without aria2c these print `skipped: aria2c not installed` (and fail under `CI=true`).
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::http::{FileServer, pattern, sha256_bytes, sha256_file};
use common::*;
use serde_json::Value;
use steward::proc::{cmdline, list_processes};

const LONG: Duration = Duration::from_secs(30);
const MIB: usize = 1024 * 1024;

/// `steward run --headless` that is SIGKILLed if the test ends without stopping it.
struct Steward {
    child: Child,
}

impl Steward {
    /// `run --headless` with debug logs (aria2c's own output is logged at
    /// debug), so a failure message can show what happened.
    fn start(dir: &TestDir) -> Steward {
        let child = dir
            .cmd(&["run", "--headless"])
            .env("STEWARD_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn steward");
        Steward { child }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn kill9(&mut self) {
        kill9(self.pid());
        self.child.wait().expect("reap steward");
    }

    /// Waits for the exit and returns the code.
    fn exit_code(&mut self) -> Option<i32> {
        let end = Instant::now() + LONG;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(Instant::now() < end, "steward did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Steward {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill9(self.pid());
            let _ = self.child.wait();
        }
    }
}

/// The test's HTTP server and the runtime that serves it (dropped after it).
struct Http {
    server: FileServer,
    _rt: tokio::runtime::Runtime,
}

impl Http {
    fn start(files: Vec<(&str, Vec<u8>)>, bytes_per_sec: Option<u64>) -> Http {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(FileServer::start(files, bytes_per_sec));
        Http { server, _rt: rt }
    }

    /// The start of the first `Range` request for `path` that did not start at 0.
    fn resumed_at(&self, path: &str) -> Option<u64> {
        self.server
            .seen()
            .iter()
            .filter(|s| s.path == path && s.method == "GET")
            .find_map(|s| s.range_start.filter(|&n| n > 0))
    }
}

/// Sends a signal by name (`STOP`, `CONT`, `TERM`, ...) through kill(1).
fn signal(pid: i32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// SIGCONT to a process the test stopped, however the test ends.
struct ContinueOnDrop(i32);

impl Drop for ContinueOnDrop {
    fn drop(&mut self) {
        if alive(self.0) {
            let _ = std::process::Command::new("kill")
                .arg("-CONT")
                .arg(self.0.to_string())
                .status();
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Polls `status --json` every 100 ms (each poll runs the binary) until `check` answers.
fn status_until<T>(dir: &TestDir, what: &str, mut check: impl FnMut(&Value) -> Option<T>) -> T {
    let end = Instant::now() + LONG;
    let mut last = None;
    loop {
        if let Some(status) = dir.status_json() {
            if let Some(v) = check(&status) {
                return v;
            }
            last = Some(status);
        }
        if Instant::now() >= end {
            panic!(
                "timed out waiting for {what}; last status: {:#}\nsteward's log:\n{}",
                last.unwrap_or(Value::Null),
                log_tail(dir, 80)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last `n` lines of steward's log files in the data dir (for failure messages).
fn log_tail(dir: &TestDir, n: usize) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("logs"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let text: String = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The pid of a running aria2c in the status.
fn aria2_pid(status: &Value) -> Option<i32> {
    let a = &status["aria2"];
    (a["state"]["state"] == "running")
        .then(|| a["pid"].as_i64())
        .flatten()
        .map(|p| p as i32)
}

/// Whether `status` was published by this very steward while it runs: after
/// a restart, `status --json` shows the killed instance's last status file
/// until the new one writes its first.
fn from(status: &Value, steward: &Steward) -> bool {
    status["instance"]["live"] == true && status["instance"]["pid"] == steward.pid()
}

/// Waits until `steward` runs aria2 (and every worker, if any); returns aria2c's pid.
fn wait_running(dir: &TestDir, steward: &Steward) -> i32 {
    status_until(dir, "aria2 and workers running", |s| {
        if !from(s, steward) {
            return None;
        }
        let workers_up = s["accounts"]
            .as_array()?
            .iter()
            .all(|a| a["worker"]["state"]["state"] == "running");
        aria2_pid(s).filter(|_| workers_up)
    })
}

/// The download with this gid in the status.
fn download<'a>(status: &'a Value, gid: &str) -> Option<&'a Value> {
    status["aria2"]["downloads"]
        .as_array()?
        .iter()
        .find(|d| d["gid"] == gid)
}

/// Live aria2c processes whose command line names this data dir.
fn aria2c_of(dir: &TestDir) -> Vec<i32> {
    let root = dir.path().display().to_string();
    list_processes()
        .into_iter()
        .filter(|st| st.comm == "aria2c" && !st.is_zombie())
        .filter(|st| cmdline(st.pid).is_some_and(|c| c.iter().any(|arg| arg.contains(&root))))
        .map(|st| st.pid)
        .collect()
}

/// `steward download add URL ARGS...`; returns the gid it printed.
fn add_download(dir: &TestDir, url: &str, args: &[&str]) -> String {
    let mut all = vec!["download", "add", url];
    all.extend_from_slice(args);
    let out = dir.run(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    text.strip_prefix("download ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no gid in {text:?}"))
        .to_string()
}

fn add_account(dir: &TestDir, id: &str) {
    let out = dir.run(&["account", "add", id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A worker that sleeps until signalled.
fn sleeping_worker() -> String {
    "[worker]\ncommand = [\"sh\", \"-c\", \"sleep 300 & wait\"]\n".to_string()
}

/// A phase of the report by name: (index, phase).
fn phase<'a>(report: &'a Value, name: &str) -> (usize, &'a Value) {
    report["phases"]
        .as_array()
        .and_then(|ps| ps.iter().enumerate().find(|(_, p)| p["name"] == name))
        .unwrap_or_else(|| panic!("no phase {name:?} in {report:#}"))
}

fn phase_state(report: &Value, name: &str) -> String {
    phase(report, name).1["state"]["state"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}

#[test]
fn sigkill_of_steward_takes_its_aria2c_along_and_the_next_start_finds_one() {
    if !aria2c_available() {
        return;
    }
    let dir = TestDir::new();
    let mut steward = Steward::start(&dir);
    let first = wait_running(&dir, &steward);
    assert_eq!(aria2c_of(&dir), vec![first]);

    steward.kill9();
    let killed = Instant::now();
    wait_for(Duration::from_secs(10), || (!alive(first)).then_some(()))
        .expect("aria2c exits after steward's SIGKILL");
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "aria2c outlived steward by {took:?} (--stop-with-process)"
    );

    let mut again = Steward::start(&dir);
    let second = wait_running(&dir, &again);
    assert_ne!(second, first);
    assert_eq!(aria2c_of(&dir), vec![second], "exactly one aria2c");
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(again.exit_code(), Some(0));
    assert_eq!(aria2c_of(&dir), Vec::<i32>::new());
}

#[test]
fn a_download_interrupted_by_sigkill_resumes_and_completes_with_its_owner() {
    if !aria2c_available() {
        return;
    }
    let body = pattern(20 * MIB, 0x5eed);
    let want = sha256_bytes(&body);
    let total = body.len() as u64;
    // 3 MiB/s: about 7 s for the whole file.
    let http = Http::start(vec![("/big.bin", body)], Some(3 * MIB as u64));
    let dir = TestDir::new();
    add_account(&dir, "alice");
    dir.write_config(&sleeping_worker());
    let mut steward = Steward::start(&dir);
    wait_running(&dir, &steward);

    let gid = add_download(&dir, &http.server.url("/big.bin"), &["--account", "alice"]);
    let at_kill = status_until(&dir, "the download roughly half done", |s| {
        let d = download(s, &gid)?;
        let done = d["completed"].as_u64()?;
        (d["total"].as_u64()? == total && done * 100 >= total * 35).then_some(done)
    });
    steward.kill9();
    assert!(
        at_kill < total,
        "the download finished before steward was killed"
    );
    assert_eq!(
        http.resumed_at("/big.bin"),
        None,
        "no resume before the kill"
    );

    // Started again at once: the old aria2c may still be there (it leaves
    // about 2 s after steward's death); steward must stop it, not add a second one.
    let steward = Steward::start(&dir);
    let done = status_until(&dir, "the download complete", |s| {
        if !from(s, &steward) {
            return None;
        }
        download(s, &gid)
            .filter(|d| d["status"] == "complete")
            .cloned()
    });
    assert_eq!(done["completed"].as_u64(), Some(total));
    assert_eq!(done["account"], "alice", "{done:#}");
    let resumed = http
        .resumed_at("/big.bin")
        .unwrap_or_else(|| panic!("no Range request: {:?}", http.server.seen()));
    assert!(resumed < total, "resumed at {resumed} of {total}");
    let file = dir.path().join("downloads").join("big.bin");
    assert_eq!(sha256_file(&file), want, "sha256 of {}", file.display());
    assert_eq!(aria2c_of(&dir).len(), 1, "exactly one aria2c");
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn shutdown_with_a_download_in_flight_saves_it_stops_workers_before_aria2_and_resumes() {
    if !aria2c_available() {
        return;
    }
    // 20 MiB at 1 MiB/s: still running when steward stops.
    let http = Http::start(vec![("/slow.bin", pattern(20 * MIB, 7))], Some(MIB as u64));
    let dir = TestDir::new();
    let term_log = dir.path().join("worker-term.log");
    let script = format!(
        "trap 'date +%s%3N >> {}; exit 0' TERM; sleep 300 & wait",
        term_log.display()
    );
    dir.write_config(&format!(
        "[worker]\ncommand = [\"sh\", \"-c\", {script:?}]\n"
    ));
    add_account(&dir, "alice");
    let mut steward = Steward::start(&dir);
    let aria2 = wait_running(&dir, &steward);
    let url = http.server.url("/slow.bin");
    let gid = add_download(&dir, &url, &["--account", "alice"]);
    status_until(&dir, "2 MiB downloaded", |s| {
        let d = download(s, &gid)?;
        (d["completed"].as_u64()? >= 2 * MIB as u64).then_some(())
    });

    // When aria2c's pid vanishes, as seen from outside.
    let watcher = std::thread::spawn(move || {
        wait_for(LONG, || (!alive(aria2)).then(now_ms)).expect("aria2c exits")
    });
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(steward.exit_code(), Some(0));
    let aria2_gone_ms = watcher.join().expect("watcher");

    let after = dir.status_json().expect("status after exit");
    let report = &after["shutdown"];
    let names = ["save downloads", "stop workers", "stop aria2"];
    let mut last_index = None;
    let mut last_end = 0;
    for name in names {
        let (index, p) = phase(report, name);
        assert_eq!(phase_state(report, name), "done", "{name}: {p:#}");
        assert!(
            last_index.is_none_or(|i| i < index),
            "{name} out of order: {report:#}"
        );
        let started = p["started_ms"].as_i64().expect("started_ms");
        assert!(
            started >= last_end,
            "{name} started before the previous phase ended"
        );
        last_index = Some(index);
        last_end = p["ended_ms"].as_i64().expect("ended_ms");
    }
    let term_text = std::fs::read_to_string(&term_log).expect("worker wrote its TERM time");
    let term_ms: i64 = term_text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{term_text:?}"));
    let stop_aria2_ms = phase(report, "stop aria2").1["started_ms"]
        .as_i64()
        .expect("started_ms");
    assert!(
        term_ms <= stop_aria2_ms,
        "worker got TERM at {term_ms}, after 'stop aria2' began at {stop_aria2_ms}"
    );
    assert!(
        term_ms < aria2_gone_ms,
        "worker got TERM at {term_ms}, aria2c gone at {aria2_gone_ms}"
    );
    assert_eq!(after["last_shutdown"], "clean");
    let session =
        std::fs::read_to_string(dir.path().join("aria2").join("session")).expect("session file");
    assert!(
        session.contains(&url),
        "{url} not in the session:\n{session}"
    );

    let again = Steward::start(&dir);
    wait_for(LONG, || http.resumed_at("/slow.bin"))
        .unwrap_or_else(|| panic!("no Range request: {:?}", http.server.seen()));
    status_until(&dir, "the download back in the status", |s| {
        if !from(s, &again) {
            return None;
        }
        let d = download(s, &gid)?;
        (d["status"] == "active" && d["account"] == "alice").then_some(())
    });
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_hung_aria2_fails_its_phase_and_the_later_phases_still_run() {
    if !aria2c_available() {
        return;
    }
    let dir = TestDir::new();
    dir.write_config(&format!(
        "{}[shutdown]\nsave_downloads = \"1s\"\nstop_aria2 = \"2s\"\n",
        sleeping_worker()
    ));
    add_account(&dir, "alice");
    let mut steward = Steward::start(&dir);
    let aria2 = wait_running(&dir, &steward);
    let worker = worker_pid(&dir.status_json().expect("status"), "alice").expect("worker pid");

    signal(aria2, "STOP");
    let _cont = ContinueOnDrop(aria2);
    let asked = Instant::now();
    let out = dir.run(&["stop"]);
    let took = asked.elapsed();
    assert_eq!(steward.exit_code(), Some(0), "{}", stdout(&out));
    assert!(took < Duration::from_secs(15), "shutdown took {took:?}");

    let after = dir.status_json().expect("status after exit");
    let report = &after["shutdown"];
    let save = phase_state(report, "save downloads");
    assert!(
        save == "failed" || save == "timed_out",
        "save downloads: {save}: {report:#}"
    );
    // Each phase keeps to its configured deadline, plus slack for a busy CI
    // core: well under the 5 s a hurried phase may still take before the
    // plan gives up on it, which is what this guards against.
    for (name, deadline_ms) in [("save downloads", 1000), ("stop aria2", 2000)] {
        let (_, p) = phase(report, name);
        let lasted = p["ended_ms"].as_i64().unwrap_or(0) - p["started_ms"].as_i64().unwrap_or(0);
        assert!(
            lasted < deadline_ms + 1500,
            "{name} lasted {lasted} ms (deadline {deadline_ms} ms): {report:#}"
        );
    }
    for name in ["stop workers", "stop aria2", "close store"] {
        let (_, p) = phase(report, name);
        assert!(
            p["started_ms"].is_i64() && p["ended_ms"].is_i64(),
            "{name} did not run: {report:#}"
        );
    }
    assert_eq!(phase_state(report, "stop workers"), "done");
    assert_eq!(phase_state(report, "close store"), "done");
    assert!(!alive(worker), "worker {worker} left");
    assert!(!alive(aria2), "the stopped aria2c {aria2} was not killed");
    assert_eq!(aria2c_of(&dir), Vec::<i32>::new());
    assert!(
        after["last_shutdown"].is_string(),
        "last_shutdown: {}",
        after["last_shutdown"]
    );
}

#[test]
fn a_missing_aria2c_binary_is_a_clear_degraded_state_and_workers_run() {
    if !aria2c_available() {
        return;
    }
    let dir = TestDir::new();
    dir.write_config(&format!(
        "{}[aria2]\nbinary = \"/nonexistent/aria2c\"\n",
        sleeping_worker()
    ));
    add_account(&dir, "alice");
    let _steward = Steward::start(&dir);
    let status = status_until(&dir, "aria2 not installed, worker running", |s| {
        (s["aria2"]["state"]["state"] == "not_installed"
            && worker_state(s, "alice").as_deref() == Some("running"))
        .then(|| s.clone())
    });
    assert_eq!(status["aria2"]["state"]["binary"], "/nonexistent/aria2c");
    let why = status["aria2"]["last_error"].as_str().unwrap_or("");
    assert!(
        why.contains("not installed (/nonexistent/aria2c does not exist or is not executable: fix [aria2].binary)"),
        "{why}"
    );
    assert!(aria2c_of(&dir).is_empty());

    let out = dir.run(&["download", "add", "http://127.0.0.1:9/x.bin"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("steward: "), "{err}");
    assert!(
        err.contains("aria2 is not running (not installed (/nonexistent/aria2c does not exist"),
        "{err}"
    );
    // The worker is still there afterwards.
    let status = dir.status_json().expect("status");
    assert_eq!(worker_state(&status, "alice").as_deref(), Some("running"));
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// `download add` goes through the control socket: the instance's aria2c
/// client holds its secret, so the CLI never reads the secret file, and a
/// damaged one (not the instance's concern until its next aria2c start)
/// does not stop a download from being added.
#[test]
fn download_add_goes_through_the_instance_not_the_rpc_secret_file() {
    if !aria2c_available() {
        return;
    }
    let dir = TestDir::new();
    let steward = Steward::start(&dir);
    wait_running(&dir, &steward);
    let secret_file = dir.path().join("aria2").join("rpc-secret");
    std::fs::write(&secret_file, b"\xff\xfe\x00garbage").expect("write secret");
    let gid = add_download(&dir, "http://127.0.0.1:9/x.bin", &[]);
    assert!(!gid.is_empty());
    let status = dir.status_json().expect("status");
    assert_eq!(status["aria2"]["state"]["state"], "running");
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_download_from_a_server_without_range_support_starts_over_after_a_restart() {
    if !aria2c_available() {
        println!("skipped: aria2c not installed");
        return;
    }
    let body = pattern(12 * MIB, 0xbad5eed);
    let want = sha256_bytes(&body);
    let total = body.len() as u64;
    // No Range support, 1 MiB/s: about 12 s for the whole file.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(FileServer::start_with(
        vec![("/plain.bin", body)],
        Some(MIB as u64),
        false,
    ));
    let dir = TestDir::new();
    let mut steward = Steward::start(&dir);
    wait_running(&dir, &steward);
    let gid = add_download(&dir, &server.url("/plain.bin"), &[]);
    status_until(&dir, "the download partly done", |s| {
        let d = download(s, &gid)?;
        let done = d["completed"].as_u64()?;
        (done * 100 >= total * 20 && done < total).then_some(())
    });
    // A graceful stop saves the download, which resumes at the next start.
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(steward.exit_code(), Some(0));

    let steward = Steward::start(&dir);
    // Before: aria2's error 8 ("Resume failed"), for good.
    let done = status_until(&dir, "the download complete", |s| {
        if !from(s, &steward) {
            return None;
        }
        let d = download(s, &gid)?;
        assert_ne!(
            d["status"],
            "error",
            "{d:#}\nsteward's log:\n{}",
            log_tail(&dir, 60)
        );
        (d["status"] == "complete").then(|| d.clone())
    });
    assert_eq!(done["completed"].as_u64(), Some(total));
    let file = dir.path().join("downloads").join("plain.bin");
    assert_eq!(sha256_file(&file), want, "sha256 of {}", file.display());
    // The server was asked to resume, and said no: the log says why the
    // download started over.
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.path == "/plain.bin" && s.range_start.is_some_and(|n| n > 0)),
        "{:?}",
        server.seen()
    );
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = log_tail(&dir, 100_000);
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("Download from scratch")),
        "{log}"
    );
    drop(server);
}
