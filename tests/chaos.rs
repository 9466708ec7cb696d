//! Crash chaos (issue 7): SIGKILL a headless steward at random moments and
//! check, after every restart, that it put the world back in order.
//!
//! One data dir for the whole run: 20 accounts on the built-in demo worker
//! (it writes into its TMPDIR), aria2 on with one throttled local download
//! that spans many iterations, and a `steward temp-churn` process per
//! iteration (killed with steward) for dead owners' temp entries. Each
//! iteration:
//!
//! 1. waits a random time — sometimes only a few hundred ms after the start,
//!    so the kill lands during reconciliation and startup — and SIGKILLs
//!    steward (and the churn);
//! 2. checks that the store passes `PRAGMA integrity_check` and that
//!    aria2c is gone by itself within 5 s (`--stop-with-process`);
//! 3. starts steward again and waits until the invariants hold: exactly one
//!    aria2c for this data dir, exactly one worker per enabled account, no
//!    process of an earlier run alive, only live owners' entries under the
//!    temp root. While waiting, an account with two workers at once fails
//!    at once.
//!
//! At the end the download must be complete with the right sha256.
//!
//! `STEWARD_CHAOS_ITERATIONS` (default 30) sets the number of kills,
//! `STEWARD_CHAOS_SEED` replays a run; every failure names the seed and the
//! iteration. Every process of the run is SIGKILLed on exit, panics included.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{FileServer, pattern, sha256_bytes, sha256_file};
use common::{TestDir, aria2c_available, steward_bin};
use steward::aria2::Aria2Paths;
use steward::aria2::scan::names_session;
use steward::config::Aria2Config;
use steward::paths::DataDir;
use steward::proc::{ProcId, cmdline, list_processes};
use steward::store::Store;

const ACCOUNTS: usize = 20;
/// The download: big enough, and slow enough, to span many iterations.
const FILE_LEN: usize = 192 * 1024;
const RATE: u64 = 12 * 1024;
/// How long the invariants may take to hold after a start.
const SETTLE: Duration = Duration::from_secs(20);

use steward::temp::churn::Rng;

/// The seed and the iteration, for every failure message.
#[derive(Clone, Copy)]
struct Ctx {
    seed: u64,
    iteration: usize,
}

impl Ctx {
    fn fail(&self, what: impl std::fmt::Display) -> ! {
        panic!(
            "chaos violation at iteration {} (replay: STEWARD_CHAOS_SEED={}): {what}",
            self.iteration, self.seed
        )
    }
}

/// SIGKILLs, on drop, every process group one of whose members names the
/// data dir in its environment or command line (steward, workers, aria2c,
/// churn), then reaps our own children.
struct Reaper {
    marker: Vec<u8>,
    children: Vec<Child>,
}

impl Reaper {
    fn kill_marked(&self) {
        let me = std::process::id() as i32;
        for st in list_processes() {
            if st.pid == me {
                continue;
            }
            let env = std::fs::read(format!("/proc/{}/environ", st.pid)).unwrap_or_default();
            let cmd = std::fs::read(format!("/proc/{}/cmdline", st.pid)).unwrap_or_default();
            let named = |hay: &[u8]| hay.windows(self.marker.len()).any(|w| w == self.marker);
            if named(&env) || named(&cmd) {
                let target = if st.pgrp > 1 && st.pgrp != own_pgrp() {
                    format!("-{}", st.pgrp)
                } else {
                    st.pid.to_string()
                };
                let _ = Command::new("kill")
                    .args(["-9", "--", &target])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

fn own_pgrp() -> i32 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            rest.split_whitespace().nth(2)?.parse().ok()
        })
        .unwrap_or(0)
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
        }
        self.kill_marked();
        for c in &mut self.children {
            let _ = c.wait();
        }
    }
}

struct Chaos {
    /// First, so it kills everything before `dir` is removed.
    reaper: Reaper,
    dir: TestDir,
    data: DataDir,
    aria2_session: PathBuf,
    accounts: Vec<String>,
    /// Identities of every process of earlier runs (steward, workers, aria2c, churn).
    old: Vec<(String, ProcId)>,
}

impl Chaos {
    fn start_steward(&mut self) -> Child {
        let mut cmd = self.dir.cmd(&["run", "--headless"]);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        // stderr to a file: a pipe nobody reads could fill and block steward.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_file())
            .expect("open stderr file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn steward")
    }

    fn stderr_file(&self) -> PathBuf {
        self.dir.path().join("headless.stderr")
    }

    fn start_churn(&mut self, seed: u64) -> Option<Child> {
        Command::new(steward_bin())
            .arg("--data-dir")
            .arg(self.dir.path())
            .args([
                "temp-churn",
                "--seed",
                &seed.to_string(),
                "--iterations",
                "300",
            ])
            .env_remove("STEWARD_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    }

    /// Live aria2c processes started for this data dir.
    fn aria2c(&self) -> Vec<i32> {
        list_processes()
            .into_iter()
            .filter(|st| st.comm == "aria2c" && !st.is_zombie())
            .filter(|st| cmdline(st.pid).is_some_and(|c| names_session(&c, &self.aria2_session)))
            .map(|st| st.pid)
            .collect()
    }

    /// Worker pids per account (environment `STEWARD_ACCOUNT` plus this
    /// data dir's session file), in one pass over /proc.
    fn workers(&self) -> HashMap<String, Vec<i32>> {
        let mut out: HashMap<String, Vec<i32>> = HashMap::new();
        let sessions = self.data.sessions_dir();
        for st in list_processes() {
            if st.is_zombie() {
                continue;
            }
            let Ok(env) = std::fs::read(format!("/proc/{}/environ", st.pid)) else {
                continue;
            };
            let mut account = None;
            let mut file = None;
            for var in env.split(|b| *b == 0) {
                let var = String::from_utf8_lossy(var);
                if let Some(a) = var.strip_prefix("STEWARD_ACCOUNT=") {
                    account = Some(a.to_owned());
                } else if let Some(f) = var.strip_prefix("STEWARD_SESSION_FILE=") {
                    file = Some(PathBuf::from(f));
                }
            }
            if let (Some(account), Some(file)) = (account, file)
                && file == sessions.join(format!("{account}.session"))
            {
                out.entry(account).or_default().push(st.pid);
            }
        }
        out
    }

    /// What is wrong right now, or `None` when every invariant holds.
    fn violation(&self) -> Option<String> {
        let aria = self.aria2c();
        if aria.len() != 1 {
            return Some(format!("{} aria2c for this data dir: {aria:?}", aria.len()));
        }
        let workers = self.workers();
        for acc in &self.accounts {
            let n = workers.get(acc).map_or(0, Vec::len);
            if n != 1 {
                return Some(format!(
                    "account {acc} has {n} workers: {:?}",
                    workers.get(acc)
                ));
            }
        }
        let alive: Vec<String> = self
            .old
            .iter()
            .filter(|(_, id)| id.is_alive())
            .map(|(what, id)| format!("{what} {id}"))
            .collect();
        if !alive.is_empty() {
            return Some(format!("processes of an earlier run alive: {alive:?}"));
        }
        self.temp_violation()
    }

    /// Every path directly under the temp root must have a row whose owner lives.
    fn temp_violation(&self) -> Option<String> {
        let root = self.data.tmp_dir();
        let Ok(read) = std::fs::read_dir(&root) else {
            return None;
        };
        let paths: Vec<PathBuf> = read.flatten().map(|e| e.path()).collect();
        let rows = match Store::open(&self.data.db_file()).and_then(|s| s.temp_entries()) {
            Ok(rows) => rows,
            Err(e) => return Some(format!("cannot read temp rows: {e}")),
        };
        let by_path: HashMap<&Path, ProcId> = rows
            .iter()
            .map(|r| {
                (
                    r.path.as_path(),
                    ProcId {
                        pid: r.owner_pid,
                        start_time: r.owner_start_time,
                    },
                )
            })
            .collect();
        for path in paths {
            // Released between the listing and the rows (path first, then row).
            if std::fs::symlink_metadata(&path).is_err() {
                continue;
            }
            match by_path.get(path.as_path()) {
                None => return Some(format!("temp path without a row: {}", path.display())),
                Some(owner) if !owner.is_alive() => {
                    return Some(format!(
                        "temp path of a dead owner {owner} still there: {}",
                        path.display()
                    ));
                }
                Some(_) => {}
            }
        }
        None
    }

    /// Waits until every invariant holds; fails at once if an account ever
    /// has two workers, or after `SETTLE`.
    fn settle(&self, ctx: Ctx, steward: &mut Child) {
        let end = Instant::now() + SETTLE;
        let mut last;
        loop {
            if let Ok(Some(status)) = steward.try_wait() {
                let err = std::fs::read_to_string(self.stderr_file()).unwrap_or_default();
                ctx.fail(format!("steward exited during recovery ({status}): {err}"));
            }
            for (acc, pids) in self.workers() {
                // Two live workers of one account at the same instant.
                let live: HashSet<i32> = pids.into_iter().collect();
                if live.len() > 1 {
                    ctx.fail(format!("account {acc} has two workers at once: {live:?}"));
                }
            }
            last = self.violation();
            if last.is_none() {
                return;
            }
            if Instant::now() >= end {
                ctx.fail(format!(
                    "not recovered after {SETTLE:?}: {}",
                    last.unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Records the identities of this run's processes before it is killed.
    fn remember(&mut self, steward: &Child, churn: Option<&Child>) {
        let mut ids = Vec::new();
        if let Ok(id) = ProcId::of(steward.id() as i32) {
            ids.push(("steward".to_owned(), id));
        }
        if let Some(c) = churn
            && let Ok(id) = ProcId::of(c.id() as i32)
        {
            ids.push(("temp-churn".to_owned(), id));
        }
        for (acc, pids) in self.workers() {
            for pid in pids {
                if let Ok(id) = ProcId::of(pid) {
                    ids.push((format!("worker of {acc}"), id));
                }
            }
        }
        for pid in self.aria2c() {
            if let Ok(id) = ProcId::of(pid) {
                ids.push(("aria2c".to_owned(), id));
            }
        }
        self.old.extend(ids);
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn sigkill_at_random_moments_and_recover() {
    if !aria2c_available() {
        return;
    }
    let seed = env_u64("STEWARD_CHAOS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let iterations = env_u64("STEWARD_CHAOS_ITERATIONS").unwrap_or(30) as usize;
    eprintln!("chaos: seed {seed}, {iterations} iterations (replay: STEWARD_CHAOS_SEED={seed})");
    let mut rng = Rng(seed | 1);
    let mut ctx = Ctx { seed, iteration: 0 };

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let body = pattern(FILE_LEN, seed);
    let want_sha = sha256_bytes(&body);
    let server = rt.block_on(FileServer::start(vec![("/chaos.bin", body)], Some(RATE)));

    let dir = TestDir::new();
    dir.write_config(
        "[worker]\nstop_timeout = \"3s\"\nbackoff_initial = \"200ms\"\n\
         [aria2]\nenabled = true\n[temp]\nstats_interval = \"1s\"\n",
    );
    let data = dir.data_dir();
    let accounts: Vec<String> = (0..ACCOUNTS).map(|i| format!("c{i:02}")).collect();
    for acc in &accounts {
        let out = dir.run(&["account", "add", acc]);
        assert!(
            out.status.success(),
            "account add: {}",
            common::stderr(&out)
        );
    }
    let aria2_session = Aria2Paths::new(&data, &Aria2Config::default()).session_file;
    let marker = dir.path().as_os_str().as_encoded_bytes().to_vec();
    let mut chaos = Chaos {
        data,
        aria2_session,
        accounts,
        reaper: Reaper {
            marker,
            children: Vec::new(),
        },
        old: Vec::new(),
        dir,
    };

    let mut steward = chaos.start_steward();
    chaos.settle(ctx, &mut steward);
    let out = chaos
        .dir
        .run(&["download", "add", &server.url("/chaos.bin")]);
    if !out.status.success() {
        ctx.fail(format!("download add: {}", common::stderr(&out)));
    }
    let started = Instant::now();

    for i in 0..iterations {
        ctx.iteration = i + 1;
        let churn = chaos.start_churn(rng.next_u64());
        // One kill in three lands early: during reconciliation and startup.
        let early = rng.below(3) == 0;
        if !early {
            chaos.settle(ctx, &mut steward);
        }
        let delay = if early {
            rng.below(400)
        } else {
            rng.below(1200)
        };
        std::thread::sleep(Duration::from_millis(delay));
        chaos.remember(&steward, churn.as_ref());
        let _ = steward.kill();
        let _ = steward.wait();
        if let Some(mut c) = churn {
            let _ = c.kill();
            let _ = c.wait();
        }
        match Store::open(&chaos.data.db_file()).and_then(|s| s.integrity_check()) {
            Ok(true) => {}
            Ok(false) => ctx.fail("the store fails PRAGMA integrity_check"),
            Err(e) => ctx.fail(format!("cannot check the store: {e}")),
        }
        let gone = common::wait_for(Duration::from_secs(5), || {
            chaos.aria2c().is_empty().then_some(())
        });
        if gone.is_none() {
            ctx.fail(format!(
                "aria2c still running 5 s after steward died: {:?}",
                chaos.aria2c()
            ));
        }
        steward = chaos.start_steward();
    }
    ctx.iteration = iterations + 1;
    chaos.settle(ctx, &mut steward);
    eprintln!(
        "chaos: {iterations} kills survived in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The download resumed across the kills and completes intact.
    let file = chaos.data.downloads_dir().join("chaos.bin");
    let control = chaos.data.downloads_dir().join("chaos.bin.aria2");
    let left = Duration::from_secs(FILE_LEN as u64 / RATE + 30);
    let done = common::wait_for(left, || {
        (file.exists() && !control.exists() && sha256_file(&file) == want_sha).then_some(())
    });
    if done.is_none() {
        let size = std::fs::metadata(&file).map(|m| m.len()).ok();
        ctx.fail(format!(
            "download not complete with the right sha256 (size {size:?} of {FILE_LEN}, control file {})",
            control.exists()
        ));
    }
    match Store::open(&chaos.data.db_file()).and_then(|s| s.integrity_check()) {
        Ok(true) => {}
        other => ctx.fail(format!("final integrity check: {other:?}")),
    }
    let _ = steward.kill();
    let _ = steward.wait();
    chaos.reaper.children.push(steward);
    drop(server);
}
