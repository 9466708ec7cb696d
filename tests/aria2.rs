//! The aria2 subsystem against a real aria2c and a real HTTP server on
//! 127.0.0.1: one instance per data dir through restarts and crashes, foreign
//! instances left alone, degraded states, downloads that complete and resume.
//! Without aria2c these print `skipped: aria2c not installed` (and fail under `CI=true`).
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::aria2c_available;
use common::http::{FileServer, pattern, sha256_bytes, sha256_file};
use steward::aria2::args::LaunchSpec;
use steward::aria2::scan::names_session;
use steward::aria2::store::{InstanceRecord, load_instance, save_instance};
use steward::aria2::{
    Aria2Error, Aria2Handle, Aria2Options, Aria2Paths, Aria2Service, stop_foreign,
};
use steward::config::Aria2Config;
use steward::model::{Aria2State, Aria2View, DownloadStatus};
use steward::paths::DataDir;
use steward::proc::{ProcId, cmdline, list_processes, read_stat};
use steward::store::Store;
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(20);

/// Everything steward logs in this test binary (all tests share one subscriber).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("steward=trace"))
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

struct Env {
    _dir: tempfile::TempDir,
    data: DataDir,
    store: Arc<Mutex<Store>>,
    cancel: CancellationToken,
}

impl Env {
    fn new() -> Env {
        logs();
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        std::fs::create_dir_all(data.root()).unwrap();
        let store = Arc::new(Mutex::new(Store::open(&data.db_file()).unwrap()));
        Env {
            _dir: dir,
            data,
            store,
            cancel: CancellationToken::new(),
        }
    }

    fn start(&self, config: Aria2Config, opts: Aria2Options) -> Aria2Handle {
        Aria2Service::start_with(
            config,
            self.data.clone(),
            self.store.clone(),
            self.cancel.clone(),
            opts,
        )
    }

    fn session(&self) -> std::path::PathBuf {
        Aria2Paths::new(&self.data, &Aria2Config::default()).session_file
    }

    /// Live aria2c processes whose command line names this data dir's session file.
    fn ours(&self) -> Vec<i32> {
        let session = self.session();
        list_processes()
            .into_iter()
            .filter(|st| st.comm == "aria2c" && !st.is_zombie())
            .filter(|st| cmdline(st.pid).is_some_and(|c| names_session(&c, &session)))
            .map(|st| st.pid)
            .collect()
    }

    async fn shutdown(&self, handle: &Aria2Handle) {
        if std::env::var_os("STEWARD_TEST_LOGS").is_some() {
            eprintln!("{}", logged());
        }
        self.cancel.cancel();
        tokio::time::timeout(LONG, handle.join())
            .await
            .expect("supervisor ends after cancel");
        assert_eq!(self.ours(), Vec::<i32>::new(), "aria2c left after shutdown");
    }
}

fn fast() -> Aria2Options {
    Aria2Options {
        backoff_initial: Duration::from_millis(200),
        poll_active: Duration::from_millis(200),
        poll_idle: Duration::from_millis(500),
        rescan_every: Duration::from_millis(500),
        ..Aria2Options::default()
    }
}

async fn wait_view(handle: &Aria2Handle, what: &str, f: impl Fn(&Aria2View) -> bool) -> Aria2View {
    let mut rx = handle.view();
    let got = tokio::time::timeout(LONG, rx.wait_for(|v| f(v)))
        .await
        .map(|r| r.map(|v| v.clone()));
    match got {
        Ok(Ok(v)) => v,
        _ => panic!(
            "timed out waiting for {what}; last view: {:#?}",
            *handle.view().borrow()
        ),
    }
}

async fn running(handle: &Aria2Handle) -> Aria2View {
    wait_view(handle, "running", |v| {
        v.state == Aria2State::Running && v.pid.is_some()
    })
    .await
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + LONG;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn alive(pid: i32) -> bool {
    read_stat(pid).is_ok_and(|st| !st.is_zombie())
}

/// A foreign aria2c, started the way another program would.
struct Foreign {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Foreign {
    fn start() -> Foreign {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let port = steward::aria2::spawn::free_port().unwrap();
        let child = std::process::Command::new("aria2c")
            .args([
                "--enable-rpc",
                "--rpc-listen-all=false",
                "--disable-ipv6=true",
                &format!("--rpc-listen-port={port}"),
                "--rpc-secret=foreignsecret",
                "--no-conf",
                &format!("--stop-with-process={}", std::process::id()),
                &format!("--dir={}", dir.path().display()),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        Foreign { child, _dir: dir }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        // The test's own child: stopping it is the test's business, not steward's.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_through_start_restart_and_rapid_restarts() {
    if !aria2c_available() {
        return;
    }
    let env = Env::new();
    let handle = env.start(Aria2Config::default(), fast());
    let first = running(&handle).await;
    let pid1 = first.pid.unwrap();
    assert_eq!(env.ours(), vec![pid1]);
    assert!(first.version.is_some());
    let rec = load_instance(&env.store)
        .unwrap()
        .expect("identity recorded");
    assert_eq!(rec.proc, ProcId::of(pid1).unwrap());
    let info = handle.rpc_info().expect("rpc info while running");
    assert_eq!(
        info.url,
        format!("http://127.0.0.1:{}/jsonrpc", first.port.unwrap())
    );
    let secret_file = std::fs::read_to_string(&rec.secret_file).unwrap();
    assert_eq!(secret_file.trim(), info.secret.expose());
    // The secret is in no command line and in no store record.
    assert!(
        !cmdline(pid1)
            .unwrap()
            .join(" ")
            .contains(info.secret.expose())
    );
    let meta = env
        .store
        .lock()
        .unwrap()
        .get_meta("aria2.instance")
        .unwrap()
        .unwrap();
    assert!(!meta.contains(info.secret.expose()));

    handle.restart().await.unwrap();
    let second = running(&handle).await;
    let pid2 = second.pid.unwrap();
    assert_ne!(pid1, pid2);
    assert!(!alive(pid1), "old aria2c still there");
    assert_eq!(env.ours(), vec![pid2]);
    // Same port and secret across restarts: workers' environment stays valid.
    assert_eq!(second.port, first.port);
    assert_eq!(handle.rpc_info().unwrap().secret, info.secret);

    let mut calls = Vec::new();
    for _ in 0..20 {
        let h = handle.clone();
        calls.push(tokio::spawn(async move { h.restart().await }));
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let last = running(&handle).await;
    assert_eq!(env.ours(), vec![last.pid.unwrap()]);
    assert!(last.restarts >= 2, "{last:?}");

    env.shutdown(&handle).await;
    assert!(load_instance(&env.store).unwrap().is_none());
    let text = logged();
    assert!(text.contains("aria2: running"), "logs not captured");
    assert!(
        !text.contains(info.secret.expose()),
        "the secret reached the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_aria2c_is_replaced() {
    if !aria2c_available() {
        return;
    }
    let env = Env::new();
    let opts = Aria2Options {
        unresponsive_after: Duration::from_secs(1),
        stop_deadline: Duration::from_millis(500),
        poll_idle: Duration::from_millis(200),
        ..fast()
    };
    let handle = env.start(Aria2Config::default(), opts);
    let pid1 = running(&handle).await.pid.unwrap();
    // Frozen: alive, but never answers.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid1).unwrap(),
        rustix::process::Signal::STOP,
    )
    .unwrap();
    let view = wait_view(&handle, "a replacement", |v| {
        v.state == Aria2State::Running && v.pid.is_some_and(|p| p != pid1)
    })
    .await;
    assert!(!alive(pid1), "the hung aria2c is still there");
    assert_eq!(env.ours(), vec![view.pid.unwrap()]);
    let line = view.last_error.unwrap_or_default();
    assert!(line.contains("has not answered RPC"), "{line}");
    env.shutdown(&handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_brings_exactly_one_new_instance() {
    if !aria2c_available() {
        return;
    }
    let env = Env::new();
    let handle = env.start(Aria2Config::default(), fast());
    let pid1 = running(&handle).await.pid.unwrap();
    // The test plays the OOM killer; steward itself only signals through `proc`.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid1).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let view = wait_view(&handle, "a new instance", |v| {
        v.state == Aria2State::Running && v.pid.is_some_and(|p| p != pid1)
    })
    .await;
    let exit = view.last_exit.expect("the crash is kept");
    assert_eq!((exit.pid, exit.signal), (pid1, Some(9)));
    assert_eq!(env.ours(), vec![view.pid.unwrap()]);
    env.shutdown(&handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_aria2c_is_listed_and_never_touched() {
    if !aria2c_available() {
        return;
    }
    let foreign = Foreign::start();
    let fpid = foreign.pid();
    wait_until("foreign aria2c up", || {
        read_stat(fpid).is_ok_and(|s| s.comm == "aria2c")
    })
    .await;
    let env = Env::new();
    let handle = env.start(Aria2Config::default(), fast());
    let view = wait_view(&handle, "foreign listed", |v| {
        v.state == Aria2State::Running && v.foreign.iter().any(|f| f.pid == fpid)
    })
    .await;
    let shown = view.foreign.iter().find(|f| f.pid == fpid).unwrap();
    assert!(shown.port.is_some());
    let line = shown.cmdline.join(" ");
    assert!(!line.contains("foreignsecret"), "secret shown: {line}");
    assert!(line.contains("--rpc-secret=••••"));

    handle.restart().await.unwrap();
    running(&handle).await;
    assert!(alive(fpid), "foreign aria2c killed by restart");
    handle.stop(Duration::from_secs(3)).await.unwrap();
    wait_view(&handle, "stopped", |v| v.state == Aria2State::Stopped).await;
    assert!(env.ours().is_empty());
    assert!(alive(fpid), "foreign aria2c killed by stop");
    // Stopped stays stopped until asked; `restart` starts it again.
    handle.restart().await.unwrap();
    running(&handle).await;
    env.shutdown(&handle).await;
    assert!(alive(fpid), "foreign aria2c killed by shutdown");

    // Only an operator's confirmed kill stops it, and only the very process shown.
    let mut stale = shown.clone();
    stale.start_time += 1;
    assert!(stop_foreign(&stale, Duration::from_secs(10)).await.is_err());
    assert!(alive(fpid));
    // A generous deadline: SIGTERM is honoured at aria2c's next event-loop
    // turn, which a loaded machine can push past a second or two.
    let ended = stop_foreign(shown, Duration::from_secs(10)).await.unwrap();
    assert!(matches!(ended, steward::proc::Ended::Exited), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_are_stopped_and_unrelated_recorded_pids_are_not() {
    if !aria2c_available() {
        return;
    }
    let env = Env::new();
    // A leftover of an earlier run whose steward is gone: an aria2c using this
    // data dir's session file, with no supervisor.
    let paths = Aria2Paths::new(&env.data, &Aria2Config::default());
    std::fs::create_dir_all(&paths.dir).unwrap();
    std::fs::write(&paths.session_file, "").unwrap();
    let secret = steward::aria2::RpcSecret::new("earlier");
    std::fs::write(&paths.secret_file, "earlier\n").unwrap();
    std::fs::write(&paths.conf_file, LaunchSpec::conf_contents(&secret)).unwrap();
    let port = steward::aria2::spawn::free_port().unwrap();
    let spec = LaunchSpec {
        binary: "aria2c".into(),
        port,
        conf_file: paths.conf_file.clone(),
        session_file: paths.session_file.clone(),
        download_dir: paths.download_dir.clone(),
        max_concurrent: 1,
        stop_with_pid: std::process::id(),
        save_session_interval: 5,
        extra_args: vec![],
    };
    let leftover = steward::aria2::spawn::spawn(&spec, &paths.dir, &secret).unwrap();
    let old = leftover.pid;
    let rpc = steward::aria2::Aria2Rpc::new(port, secret);
    let until = Instant::now() + LONG;
    while rpc.get_version().await.is_err() {
        assert!(Instant::now() < until, "leftover never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Meanwhile the recorded identity names an unrelated process (pid reuse).
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let spid = sleeper.id() as i32;
    let rec = InstanceRecord {
        proc: ProcId::of(spid).unwrap(),
        pgid: spid,
        port,
        secret_file: paths.secret_file.clone(),
        session_file: paths.session_file.clone(),
        download_dir: paths.download_dir.clone(),
        steward_pid: 1,
        started_ms: 0,
    };
    save_instance(&env.store, &rec).unwrap();

    let cancel2 = CancellationToken::new();
    let handle = Aria2Service::start_with(
        Aria2Config::default(),
        env.data.clone(),
        env.store.clone(),
        cancel2.clone(),
        fast(),
    );
    let view = running(&handle).await;
    assert!(!alive(old), "leftover still running");
    assert_eq!(env.ours(), vec![view.pid.unwrap()]);
    let st = read_stat(spid).unwrap();
    assert!(matches!(st.state, 'S' | 'R'), "sleep was signalled: {st:?}");
    let rec: InstanceRecord = load_instance(&env.store).unwrap().unwrap();
    assert_eq!(rec.proc.pid, view.pid.unwrap());
    let events = env.store.lock().unwrap().recent_events(10).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "aria2.stop_leftover" && e.subject == format!("pid {old}"))
    );

    cancel2.cancel();
    handle.join().await;
    assert!(env.ours().is_empty());
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_binary_is_a_clear_degraded_state() {
    let env = Env::new();
    let config = Aria2Config {
        binary: "/nonexistent/aria2c".into(),
        ..Aria2Config::default()
    };
    let handle = env.start(config, fast());
    let view = wait_view(&handle, "not installed", |v| {
        matches!(v.state, Aria2State::NotInstalled { .. })
    })
    .await;
    assert!(
        view.label(0).contains("fix [aria2].binary"),
        "{}",
        view.label(0)
    );
    let err = handle.restart().await.unwrap_err();
    assert!(matches!(err, Aria2Error::NotInstalled { .. }), "{err}");
    let err = handle
        .add_download("http://127.0.0.1:1/x", None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Aria2Error::NotRunning { .. }), "{err}");
    // No busy loop: the state does not churn.
    let mut rx = handle.view();
    rx.mark_unchanged();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.changed())
            .await
            .is_err(),
        "view keeps changing: {:?}",
        *rx.borrow()
    );
    env.cancel.cancel();
    tokio::time::timeout(LONG, handle.join()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_reported_and_another_one_used() {
    if !aria2c_available() {
        return;
    }
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let env = Env::new();
    let opts = Aria2Options {
        preferred_port: Some(taken),
        ..fast()
    };
    let handle = env.start(Aria2Config::default(), opts);
    let view = running(&handle).await;
    assert_ne!(view.port, Some(taken));
    let line = view.last_error.unwrap_or_default();
    assert!(
        line.contains(&format!("port {taken}")) && line.contains("taken"),
        "{line}"
    );
    assert_eq!(env.ours(), vec![view.pid.unwrap()]);
    env.shutdown(&handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_complete_resume_after_restart_and_show_owners() {
    if !aria2c_available() {
        return;
    }
    let small = pattern(300 * 1024, 7);
    let big = pattern(6 * 1024 * 1024, 11);
    let (small_sum, big_sum) = (sha256_bytes(&small), sha256_bytes(&big));
    let server = FileServer::start(vec![("/small.bin", small), ("/big.bin", big)], None).await;
    let env = Env::new();
    let config = Aria2Config {
        extra_args: vec!["--max-download-limit=1M".into()],
        ..Aria2Config::default()
    };
    let handle = env.start(config, fast());
    running(&handle).await;

    let gid = handle
        .add_download(
            &server.url("/small.bin"),
            Some("alice".into()),
            Some("alice/docs".into()),
        )
        .await
        .unwrap();
    let view = wait_view(&handle, "small download complete", |v| {
        v.downloads
            .iter()
            .any(|d| d.gid == gid && d.status == DownloadStatus::Complete && d.account.is_some())
    })
    .await;
    let d = view.downloads.iter().find(|d| d.gid == gid).unwrap();
    assert_eq!(d.account.as_deref(), Some("alice"));
    let path = d.path.clone().unwrap();
    assert!(
        path.starts_with(env.data.downloads_dir().join("alice/docs")),
        "{path:?}"
    );
    assert_eq!(sha256_file(&path), small_sum);

    // Interrupted halfway by a restart, the big one resumes and completes.
    let gid = handle
        .add_download(&server.url("/big.bin"), Some("bob".into()), None)
        .await
        .unwrap();
    wait_view(&handle, "big download under way", |v| {
        v.downloads.iter().any(|d| {
            d.gid == gid && d.completed > 1024 * 1024 && d.status == DownloadStatus::Active
        })
    })
    .await;
    handle.restart().await.unwrap();
    let view = wait_view(&handle, "big download complete", |v| {
        v.downloads
            .iter()
            .any(|d| d.gid == gid && d.status == DownloadStatus::Complete)
    })
    .await;
    let d = view.downloads.iter().find(|d| d.gid == gid).unwrap();
    assert_eq!(d.account.as_deref(), Some("bob"));
    assert_eq!(sha256_file(d.path.as_deref().unwrap()), big_sum);
    let resumed = server
        .seen()
        .iter()
        .any(|s| s.path == "/big.bin" && s.range_start.is_some_and(|r| r > 0));
    assert!(
        resumed,
        "no ranged request after the restart: {:?}",
        server.seen()
    );
    assert!(view.global.is_some());

    // Removing a finished download forgets it.
    handle.remove(&gid).await.unwrap();
    wait_view(&handle, "download forgotten", |v| {
        !v.downloads.iter().any(|d| d.gid == gid)
    })
    .await;
    env.shutdown(&handle).await;
    assert!(Path::new(&env.session()).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aria2c_that_cannot_start_backs_off_with_its_output_shown() {
    if !aria2c_available() {
        return;
    }
    let env = Env::new();
    let config = Aria2Config {
        extra_args: vec!["--no-such-option=1".into()],
        ..Aria2Config::default()
    };
    let handle = env.start(config, fast());
    let view = wait_view(&handle, "a failed start", |v| {
        v.last_exit.is_some() && matches!(v.state, Aria2State::Restarting { .. })
    })
    .await;
    let exit = view.last_exit.clone().unwrap();
    assert_eq!(exit.code, Some(28));
    assert!(
        exit.stderr_tail
            .iter()
            .any(|l| l.contains("no-such-option")),
        "{:?}",
        exit.stderr_tail
    );
    assert!(view.label(0).starts_with("restarting"), "{}", view.label(0));
    // No busy loop: each retry waits longer than the one before.
    let mut rx = handle.view();
    let mut delays = Vec::new();
    let mut last_until = None;
    while delays.len() < 3 {
        let until = tokio::time::timeout(
            LONG,
            rx.wait_for(|v| match &v.state {
                Aria2State::Restarting { until_ms, .. } => Some(*until_ms) != last_until,
                _ => false,
            }),
        )
        .await
        .expect("another retry")
        .map(|v| match &v.state {
            Aria2State::Restarting { until_ms, .. } => *until_ms,
            _ => unreachable!(),
        })
        .unwrap();
        delays.push(until - steward::time::now_ms());
        last_until = Some(until);
    }
    assert!(
        delays[2] > delays[0] + 200,
        "delays do not grow: {delays:?}"
    );
    let crashes = env.store.lock().unwrap().recent_events(100).unwrap();
    assert!(
        crashes.is_empty(),
        "a failed start is no crash event: {crashes:?}"
    );
    assert!(env.ours().is_empty());
    env.shutdown(&handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_means_disabled() {
    let env = Env::new();
    let config = Aria2Config {
        enabled: false,
        ..Aria2Config::default()
    };
    let handle = env.start(config, fast());
    assert_eq!(handle.view().borrow().state, Aria2State::Disabled);
    let err = handle.restart().await.unwrap_err();
    assert!(matches!(err, Aria2Error::Disabled), "{err}");
    let err = handle.save_session().await.unwrap_err();
    assert!(matches!(err, Aria2Error::Disabled), "{err}");
    assert!(handle.rpc_info().is_none());
    env.cancel.cancel();
    tokio::time::timeout(LONG, handle.join()).await.unwrap();
    assert!(!env.data.aria2_dir().exists());
}

/// A foreign aria2c, and a manager (its own data dir) that lists it.
struct ForeignBeside {
    foreign: Foreign,
    listed: steward::model::ForeignAria2,
    manager: steward::manager::RunningManager,
    dir: tempfile::TempDir,
}

impl ForeignBeside {
    /// `None` where aria2c is not installed (the test then has nothing to do).
    async fn start() -> Option<ForeignBeside> {
        if !aria2c_available() {
            return None;
        }
        let foreign = Foreign::start();
        let fpid = foreign.pid();
        wait_until("foreign aria2c up", || {
            read_stat(fpid).is_ok_and(|s| s.comm == "aria2c")
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let manager = steward::manager::Manager::start(steward::manager::ManagerOptions {
            notifier: Default::default(),
            config: steward::config::Config::default(),
            data_dir: DataDir::new(dir.path()),
            self_exe: env!("CARGO_BIN_EXE_steward").into(),
        })
        .await
        .unwrap();
        let listed = until_snapshot(&manager, |snap| {
            snap.aria2
                .as_ref()
                .and_then(|a| a.foreign.iter().find(|f| f.pid == fpid).cloned())
        })
        .await;
        Some(ForeignBeside {
            foreign,
            listed,
            manager,
            dir,
        })
    }

    async fn send(&self, cmd: steward::model::Command) {
        self.manager.handle.commands.send(cmd).await.unwrap();
    }

    /// The operator's confirmed `K` on the foreign aria2c, naming it by
    /// `start_time` (its listed one, or a stale one).
    async fn ask_stop(&self, start_time: u64) {
        self.send(steward::model::Command::StopForeignAria2 {
            pid: self.foreign.pid(),
            start_time,
        })
        .await;
    }

    /// Shuts the manager down and returns its recent events from the store.
    async fn shut_down(self) -> (Foreign, Vec<steward::store::EventRow>) {
        self.send(steward::model::Command::Shutdown { force: false })
            .await;
        tokio::time::timeout(LONG, self.manager.done)
            .await
            .unwrap()
            .unwrap();
        let store = Store::open(&DataDir::new(self.dir.path()).db_file()).unwrap();
        (self.foreign, store.recent_events(20).unwrap())
    }
}

/// Waits for a snapshot where `f` finds something.
async fn until_snapshot<T>(
    m: &steward::manager::RunningManager,
    mut f: impl FnMut(&steward::model::Snapshot) -> Option<T>,
) -> T {
    let mut rx = m.handle.snapshots.clone();
    loop {
        if let Some(found) = f(&rx.borrow_and_update()) {
            return found;
        }
        tokio::time::timeout(LONG, rx.changed())
            .await
            .unwrap()
            .unwrap();
    }
}

fn stop_recorded(events: &[steward::store::EventRow]) -> bool {
    events
        .iter()
        .any(|e| e.kind == "aria2.stop_foreign" && e.result == "stopped")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manager_stops_a_foreign_aria2c_only_on_a_confirmed_exact_request() {
    let Some(t) = ForeignBeside::start().await else {
        return;
    };
    let fpid = t.foreign.pid();
    // A stale identity (same pid, other start time) is refused: nothing sent.
    t.ask_stop(t.listed.start_time + 1).await;
    let refused = until_snapshot(&t.manager, |snap| {
        snap.notices
            .iter()
            .find(|n| n.text.contains("not listed as foreign"))
            .map(|n| n.text.clone())
    })
    .await;
    assert!(refused.contains(&fpid.to_string()));
    assert!(alive(fpid));
    t.ask_stop(t.listed.start_time).await;
    // The notice is sent after the event is recorded: waiting on it (not on
    // the pid going away) keeps the shutdown below from racing the record.
    let stopped_text = format!("foreign aria2c pid {fpid} stopped");
    until_snapshot(&t.manager, |snap| {
        snap.notices
            .iter()
            .any(|n| n.text.contains(&stopped_text))
            .then_some(())
    })
    .await;
    assert!(!alive(fpid));
    let (_foreign, events) = t.shut_down().await;
    assert!(stop_recorded(&events), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_stop_under_way_at_shutdown_is_still_recorded() {
    let Some(t) = ForeignBeside::start().await else {
        return;
    };
    let fpid = t.foreign.pid();
    // The confirmed stop, and at once a shutdown: the manager ends only once
    // the operator's action has recorded its outcome (the process exits
    // right after, taking any task still under way with it).
    t.ask_stop(t.listed.start_time).await;
    let (_foreign, events) = t.shut_down().await;
    assert!(!alive(fpid));
    assert!(stop_recorded(&events), "{events:?}");
}
