//! Shared helpers for the integration tests: temp data dirs, the real steward
//! binary, and polling with a deadline (never fixed sleeps).
#![allow(dead_code)]

pub mod control;
pub mod http;
pub mod python;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn steward_bin() -> &'static str {
    env!("CARGO_BIN_EXE_steward")
}

/// A fresh data dir that is removed at the end of the test.
pub struct TestDir {
    pub tmp: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            tmp: tempfile::tempdir().expect("temp dir"),
        }
    }
    /// A data dir on tmpfs (`/dev/shm`) when there is one: for tests that
    /// build very big trees, where the disk would only measure itself.
    pub fn new_on_tmpfs() -> TestDir {
        match tempfile::tempdir_in("/dev/shm") {
            Ok(tmp) => TestDir { tmp },
            Err(_) => TestDir::new(),
        }
    }
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
    pub fn data_dir(&self) -> steward::paths::DataDir {
        steward::paths::DataDir::new(self.path())
    }
    /// Options for an in-process manager on this data dir.
    pub fn manager_options(
        &self,
        config: steward::config::Config,
    ) -> steward::manager::ManagerOptions {
        steward::manager::ManagerOptions {
            notifier: Default::default(),
            config,
            data_dir: self.data_dir(),
            self_exe: steward_bin().into(),
        }
    }
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.path().join("steward.toml"), text).expect("write config");
    }
    /// A `steward` command with `--data-dir` set to this dir.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(steward_bin());
        cmd.arg("--data-dir").arg(self.path()).args(args);
        cmd.env_remove("STEWARD_LOG");
        cmd
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run steward")
    }
    /// `steward run --headless` in the background.
    pub fn spawn_headless(&self) -> Headless {
        Headless::spawn(
            self.cmd(&["run", "--headless"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
    }
    pub fn status_json(&self) -> Option<serde_json::Value> {
        let out = self.run(&["status", "--json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }
    pub fn session_file(&self, account: &str) -> PathBuf {
        self.path()
            .join("sessions")
            .join(format!("{account}.session"))
    }
    /// The file steward flocks for the account's session.
    pub fn lock_file(&self, account: &str) -> PathBuf {
        self.path().join("sessions").join(format!("{account}.lock"))
    }
}

/// Polls `check` every 20 ms until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// True if a process with this pid exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let after = stat
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !after.starts_with('Z')
        }
        Err(_) => false,
    }
}

/// Every pid under /proc right now.
fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// Live (non-zombie) pids whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // fields[0] = state, [1] = ppid, [2] = pgrp
            fields.len() > 2 && fields[0] != "Z" && fields[2].parse::<i32>().ok() == Some(pgid)
        })
        .collect()
}

/// Pids of live processes whose environment has STEWARD_ACCOUNT=<account>
/// and that steward started in data dir `dir`.
pub fn worker_pids(dir: &Path, account: &str) -> Vec<i32> {
    let want_account = format!("STEWARD_ACCOUNT={account}");
    let want_file = format!(
        "STEWARD_SESSION_FILE={}",
        dir.join("sessions")
            .join(format!("{account}.session"))
            .display()
    );
    all_pids()
        .into_iter()
        .filter(|pid| {
            let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
            let has = |want: &str| vars.contains(&want.as_bytes());
            has(&want_account) && has(&want_file) && alive(*pid)
        })
        .collect()
}

/// Whether another process holds a flock on `path` (util-linux `flock -n`).
pub fn flock_is_held(path: &Path) -> bool {
    !Command::new("flock")
        .arg("-n")
        .arg(path)
        .arg("true")
        .status()
        .expect("run flock")
        .success()
}

/// SIGKILL to a pid we started (test cleanup).
pub fn kill9(pid: i32) {
    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

/// The worker pid of `account` in a status JSON.
pub fn worker_pid(status: &serde_json::Value, account: &str) -> Option<i32> {
    status["accounts"]
        .as_array()?
        .iter()
        .find(|a| a["id"] == account)?["worker"]["pid"]
        .as_i64()
        .map(|p| p as i32)
}

pub fn worker_state(status: &serde_json::Value, account: &str) -> Option<String> {
    status["accounts"]
        .as_array()?
        .iter()
        .find(|a| a["id"] == account)
        .and_then(|a| a["worker"]["state"]["state"].as_str().map(str::to_string))
}

/// True when aria2c can be run. Otherwise prints `skipped: aria2c not installed`
/// and returns false, except under `CI=true`, where a missing aria2c fails the test.
pub fn aria2c_available() -> bool {
    if steward::aria2::binary::resolve("aria2c").is_some() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("aria2c not installed, and CI=true: install it (apt-get install aria2)");
    }
    // Straight to stderr, past libtest's capture of print macros, so the skip is seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: aria2c not installed");
    false
}

/// A headless steward started by a test. If the test did not reap it (it
/// failed midway), dropping it stops steward the way an operator would
/// (SIGTERM, so its workers go too; SIGKILL after 10 s) and reaps it: a
/// failing test leaves no steward or workers running.
pub struct Headless(Child);

impl Headless {
    pub fn spawn(cmd: &mut Command) -> Headless {
        Headless(cmd.spawn().expect("spawn steward"))
    }
}

impl std::ops::Deref for Headless {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Headless {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let child = &mut self.0;
        if wait_for(Duration::from_secs(10), || child.try_wait().ok().flatten()).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A child in its own process group, SIGKILLed (group and all) and reaped on drop.
pub struct GroupChild(pub Child);

impl GroupChild {
    /// Spawns `cmd` as the leader of a new process group.
    pub fn spawn(mut cmd: Command) -> GroupChild {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        GroupChild(cmd.spawn().expect("spawn child"))
    }
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// Sets a path's mtime (of a symlink itself, not its target) `days` days back.
pub fn age_days(path: &Path, days: u32) {
    let ok = Command::new("touch")
        .arg("-h")
        .arg("-d")
        .arg(format!("{days} days ago"))
        .arg(path)
        .status()
        .expect("run touch")
        .success();
    assert!(ok, "touch -d failed on {}", path.display());
}

/// The data dir's store, opened for writing from the test.
pub fn open_store(dir: &TestDir) -> steward::store::Store {
    std::fs::create_dir_all(dir.path()).expect("data dir");
    steward::store::Store::open(&dir.path().join("steward.db")).expect("open store")
}

/// A `steward sweep` run with `--json`, parsed.
pub fn sweep_json(dir: &TestDir, dry_run: bool) -> (Output, serde_json::Value) {
    let mut args = vec!["sweep", "--json"];
    if dry_run {
        args.push("--dry-run");
    }
    let out = dir.run(&args);
    let value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, value)
}

/// The plan items of a sweep JSON whose target path is `path`.
pub fn plan_items_for<'a>(sweep: &'a serde_json::Value, path: &Path) -> Vec<&'a serde_json::Value> {
    let want = path.to_string_lossy();
    sweep["plan"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i["target"]["path"].as_str() == Some(want.as_ref()))
                .collect()
        })
        .unwrap_or_default()
}

/// The result outcome (`done` / `skipped` / `failed`) of the item for `path`.
pub fn outcome_for(sweep: &serde_json::Value, path: &Path) -> Option<String> {
    let want = path.to_string_lossy();
    sweep["results"]
        .as_array()?
        .iter()
        .find(|r| r["target"]["path"].as_str() == Some(want.as_ref()))
        .and_then(|r| r["outcome"]["outcome"].as_str().map(str::to_string))
}

/// Reads lines from a child's stdout until one starts with `prefix`.
pub fn read_line_with(reader: &mut impl std::io::BufRead, prefix: &str) -> Option<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(rest) = line.trim_end().strip_prefix(prefix) {
            return Some(rest.to_string());
        }
    }
}

/// Every log line of this test binary from now on (a global subscriber: the
/// tests that read it look for lines naming their own accounts only).
pub fn captured_log() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOG: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>> = Default::default();
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(data);
                Ok(data.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init()
            .expect("the only subscriber of this test binary");
        buf
    })
    .clone()
}

pub fn log_text(log: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&log.lock().unwrap()).into_owned()
}
