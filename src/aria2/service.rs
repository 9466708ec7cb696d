//! `Aria2Service`: the supervisor task that owns the one aria2c of a data dir.
//!
//! ```text
//!            ┌──────────── restart / crash (backoff) ───────────┐
//!            v                                                  │
//! start ─> [stop leftovers, list foreign] ─> spawn ─> starting ─> running ─> stopping ─> stopped
//!            │ binary missing ─> not installed (idle; `restart` or PATH re-check)
//!            │ port taken ─> new port, at once (a few times, then backoff)
//! ```
//!
//! Running means: spawned by us in its own process group, identity (pid + start
//! time) recorded in the store, and it answered `getVersion` + `getSessionInfo`
//! with our secret. While running it is polled (one `system.multicall`) every
//! second while something is active, slower when idle; a poll that keeps failing
//! counts as a hang and restarts it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;

use super::args::{LaunchSpec, filter_extra_args};
use super::binary;
use super::error::Aria2Error;
use super::handle::{Aria2Handle, Ctl};
use super::owners::OwnerCache;
use super::poll::poll;
use super::rpc::Aria2Rpc;
use super::scan::{classify, scan};
use super::secret::{RpcSecret, write_private};
use super::spawn::{ExitInfo, Spawned, free_port, spawn};
use super::store::{
    InstanceRecord, SharedStore, audit, clear_instance, load_instance, save_instance,
};
use super::terminate::{KILL_WAIT, terminate};
use crate::config::Aria2Config;
use crate::model::{Aria2Exit, Aria2State, Aria2View};
use crate::paths::DataDir;
use crate::proc::Target;
use crate::proc::{Group, ProcId, Sig, SignalError, group_alive, signal_group};
use crate::time::now_ms;

/// Knobs with sensible defaults; tests shorten some of them.
#[derive(Debug, Clone)]
pub struct Aria2Options {
    /// `--stop-with-process`: aria2c halts by itself once this pid is gone. Default: steward's pid.
    pub stop_with_pid: u32,
    /// The port tried first (then whatever is free). Default: any free port.
    pub preferred_port: Option<u16>,
    /// `--save-session-interval`, seconds.
    pub save_session_interval: u32,
    /// SIGTERM → SIGKILL grace when restarting or stopping on cancel.
    pub stop_deadline: Duration,
    /// How long a fresh aria2c may take to answer RPC.
    pub start_timeout: Duration,
    /// First restart delay after a crash; doubles up to `restart_backoff_max`.
    pub backoff_initial: Duration,
    /// A run at least this long resets the backoff.
    pub stable_after: Duration,
    /// Poll period while something is active or waiting.
    pub poll_active: Duration,
    /// Poll period while idle.
    pub poll_idle: Duration,
    /// How often foreign aria2c processes are listed again.
    pub rescan_every: Duration,
    /// RPC failing this long while the process lives = hung: it is restarted.
    pub unresponsive_after: Duration,
    /// While `not installed`, how often PATH is checked again.
    pub recheck_binary_every: Duration,
}

impl Default for Aria2Options {
    fn default() -> Self {
        Aria2Options {
            stop_with_pid: std::process::id(),
            preferred_port: None,
            save_session_interval: 5,
            stop_deadline: Duration::from_secs(3),
            start_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            stable_after: Duration::from_secs(30),
            poll_active: Duration::from_secs(1),
            poll_idle: Duration::from_secs(5),
            rescan_every: Duration::from_secs(10),
            unresponsive_after: Duration::from_secs(15),
            recheck_binary_every: Duration::from_secs(30),
        }
    }
}

/// Where the aria2 subsystem keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aria2Paths {
    pub dir: PathBuf,
    pub session_file: PathBuf,
    pub secret_file: PathBuf,
    pub conf_file: PathBuf,
    pub download_dir: PathBuf,
}

impl Aria2Paths {
    pub fn new(data_dir: &DataDir, config: &Aria2Config) -> Self {
        let dir = data_dir.aria2_dir();
        Aria2Paths {
            session_file: dir.join("session"),
            secret_file: dir.join("rpc-secret"),
            conf_file: dir.join("aria2.conf"),
            download_dir: config
                .download_dir
                .clone()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or_else(|| data_dir.downloads_dir()),
            dir,
        }
    }
}

/// The aria2 subsystem's entry point.
pub struct Aria2Service;

impl Aria2Service {
    /// Starts the supervisor task (it stops leftovers, then starts aria2c) and
    /// returns at once. When `cancel` fires, aria2c is stopped (session saved,
    /// SIGTERM, deadline, SIGKILL) and the task ends: `Aria2Handle::join`.
    pub fn start(
        config: Aria2Config,
        data_dir: DataDir,
        store: SharedStore,
        cancel: CancellationToken,
    ) -> Aria2Handle {
        Self::start_with(config, data_dir, store, cancel, Aria2Options::default())
    }

    pub fn start_with(
        config: Aria2Config,
        data_dir: DataDir,
        store: SharedStore,
        cancel: CancellationToken,
        options: Aria2Options,
    ) -> Aria2Handle {
        let paths = Aria2Paths::new(&data_dir, &config);
        let (ctl_tx, ctl_rx) = mpsc::channel(64);
        let (view_tx, view_rx) = watch::channel(Aria2View {
            state: if config.enabled {
                Aria2State::Starting
            } else {
                Aria2State::Disabled
            },
            download_dir: Some(paths.download_dir.clone()),
            ..Aria2View::default()
        });
        let (rpc_tx, rpc_rx) = watch::channel(None);
        let (done_tx, done_rx) = watch::channel(false);
        let (extra, dropped) = filter_extra_args(&config.extra_args);
        let mut last_error = None;
        if !dropped.is_empty() {
            let line = format!(
                "[aria2] extra_args {dropped:?} ignored: steward sets these itself (RPC, secret, session, no daemon)"
            );
            tracing::warn!("{line}");
            last_error = Some(line);
        }
        let comms = {
            let mut c = vec!["aria2c".to_owned()];
            let own = binary::comm_of(std::path::Path::new(&config.binary));
            if !own.is_empty() && !c.contains(&own) {
                c.push(own);
            }
            c
        };
        let supervisor = Supervisor {
            port: options.preferred_port,
            config,
            extra,
            paths: paths.clone(),
            store: store.clone(),
            opts: options,
            cancel,
            ctl: ctl_rx,
            ctl_open: true,
            view: view_tx,
            rpc: rpc_tx,
            secret: None,
            owners: OwnerCache::default(),
            pending: Vec::new(),
            failures: 0,
            port_conflicts: 0,
            comms,
            last_error,
        };
        tokio::spawn(async move {
            supervisor.run().await;
            let _ = done_tx.send(true);
        });
        let held = std::sync::Arc::new(tokio::sync::Mutex::new(super::store::load_held(&store)));
        Aria2Handle {
            ctl: ctl_tx,
            view: view_rx,
            rpc: rpc_rx,
            done: done_rx,
            store,
            download_dir: paths.download_dir,
            held,
        }
    }
}

/// What the supervisor does next.
enum Next {
    Start,
    Backoff(String),
    Idle,
    Exit,
}

/// Why a launch did not reach `running`.
enum LaunchFailure {
    NotInstalled,
    PortTaken(u16),
    Failed(String),
    Cancelled,
}

/// Our current aria2c.
struct Instance {
    child: Spawned,
    id: Option<ProcId>,
    rpc: Aria2Rpc,
    started: Instant,
}

struct Supervisor {
    config: Aria2Config,
    extra: Vec<String>,
    paths: Aria2Paths,
    store: SharedStore,
    opts: Aria2Options,
    cancel: CancellationToken,
    ctl: mpsc::Receiver<Ctl>,
    ctl_open: bool,
    view: watch::Sender<Aria2View>,
    rpc: watch::Sender<Option<Aria2Rpc>>,
    /// Generated once per run: workers keep a valid secret across restarts.
    secret: Option<RpcSecret>,
    /// The port to try next (the last one used, so workers' URL stays valid).
    port: Option<u16>,
    owners: OwnerCache,
    /// `restart` callers waiting for the outcome of the next start.
    pending: Vec<oneshot::Sender<Result<(), Aria2Error>>>,
    /// Consecutive failed starts / early crashes (the backoff exponent).
    failures: u32,
    port_conflicts: u32,
    comms: Vec<String>,
    last_error: Option<String>,
}

impl Supervisor {
    async fn run(mut self) {
        if !self.config.enabled {
            self.set_state(Aria2State::Disabled);
            self.idle_disabled().await;
            return;
        }
        let mut next = Next::Start;
        loop {
            next = match next {
                Next::Start => self.start_once().await,
                Next::Backoff(reason) => self.backoff(reason).await,
                Next::Idle => self.idle().await,
                Next::Exit => break,
            };
        }
        self.answer_pending(|| Err(Aria2Error::Gone));
        if !matches!(self.view.borrow().state, Aria2State::NotInstalled { .. }) {
            self.set_state(Aria2State::Stopped);
        }
    }

    // ---- publishing ----------------------------------------------------------

    fn set_state(&mut self, state: Aria2State) {
        let last_error = self.last_error.clone();
        self.view.send_modify(|v| {
            v.state = state;
            v.last_error = last_error;
        });
    }

    fn note_error(&mut self, line: String) {
        tracing::warn!("aria2: {line}");
        self.last_error = Some(line);
    }

    fn answer_pending(&mut self, result: impl Fn() -> Result<(), Aria2Error>) {
        for reply in self.pending.drain(..) {
            let _ = reply.send(result());
        }
    }

    // ---- idle states ---------------------------------------------------------

    async fn idle_disabled(&mut self) {
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                msg = self.ctl.recv(), if self.ctl_open => match msg {
                    Some(Ctl::Restart(reply)) => { let _ = reply.send(Err(Aria2Error::Disabled)); }
                    Some(Ctl::Stop { reply, .. }) => { let _ = reply.send(Ok(())); }
                    Some(Ctl::Poke | Ctl::Owner { .. }) => {}
                    None => self.ctl_open = false,
                },
            }
        }
    }

    /// Stopped, not installed or failed: wait for `restart`, cancel, or (not installed) the binary to appear.
    async fn idle(&mut self) -> Next {
        let not_installed = matches!(self.view.borrow().state, Aria2State::NotInstalled { .. });
        let mut recheck = tokio::time::interval(self.opts.recheck_binary_every);
        recheck.tick().await;
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return Next::Exit,
                msg = self.ctl.recv(), if self.ctl_open => match msg {
                    Some(Ctl::Restart(reply)) => {
                        self.pending.push(reply);
                        self.failures = 0;
                        return Next::Start;
                    }
                    Some(Ctl::Stop { reply, .. }) => { let _ = reply.send(Ok(())); }
                    Some(Ctl::Owner { gid, account }) => self.owners.insert(&gid, &account),
                    Some(Ctl::Poke) => {}
                    None => self.ctl_open = false,
                },
                _ = recheck.tick(), if not_installed => {
                    if binary::resolve(&self.config.binary).is_some() {
                        tracing::info!("aria2: {} is now installed; starting it", self.config.binary);
                        return Next::Start;
                    }
                }
            }
        }
    }

    async fn backoff(&mut self, reason: String) -> Next {
        let delay = backoff_delay(
            self.opts.backoff_initial,
            self.failures,
            self.config.restart_backoff_max,
        );
        let until = crate::time::Later::later(tokio::time::Instant::now(), delay);
        let until_ms = crate::time::ms_after(now_ms(), delay);
        tracing::info!("aria2: restarting in {delay:?} ({reason})");
        self.set_state(Aria2State::Restarting { until_ms, reason });
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return Next::Exit,
                _ = sleep_until(until) => return Next::Start,
                msg = self.ctl.recv(), if self.ctl_open => match msg {
                    Some(Ctl::Restart(reply)) => {
                        self.pending.push(reply);
                        return Next::Start;
                    }
                    Some(Ctl::Stop { reply, .. }) => {
                        self.set_state(Aria2State::Stopped);
                        self.answer_pending(|| Err(Aria2Error::NotRunning { state: "stopped".into() }));
                        let _ = reply.send(Ok(()));
                        return Next::Idle;
                    }
                    Some(Ctl::Owner { gid, account }) => self.owners.insert(&gid, &account),
                    Some(Ctl::Poke) => {}
                    None => self.ctl_open = false,
                },
            }
        }
    }

    // ---- starting ------------------------------------------------------------

    async fn start_once(&mut self) -> Next {
        match self.launch().await {
            Ok(instance) => {
                // `failures` is not reset here: an instance that starts and soon
                // crashes must back off further each time (see `crashed`).
                self.port_conflicts = 0;
                self.answer_pending(|| Ok(()));
                self.supervise(instance).await
            }
            Err(LaunchFailure::Cancelled) => Next::Exit,
            Err(LaunchFailure::NotInstalled) => {
                let binary = self.config.binary.clone();
                let hint = binary::not_found_hint(&binary);
                self.note_error(format!(
                    "aria2c not installed ({hint}); downloads are unavailable"
                ));
                self.set_state(Aria2State::NotInstalled {
                    binary: binary.clone(),
                    hint,
                });
                self.answer_pending(|| {
                    Err(Aria2Error::NotInstalled {
                        binary: binary.clone(),
                    })
                });
                Next::Idle
            }
            Err(LaunchFailure::PortTaken(port)) => {
                self.port = None;
                self.port_conflicts += 1;
                self.note_error(format!(
                    "RPC port {port} on 127.0.0.1 is taken by another process; starting on a new port"
                ));
                if self.port_conflicts < 5 {
                    Next::Start
                } else {
                    self.failures += 1;
                    Next::Backoff(format!("port {port} taken"))
                }
            }
            Err(LaunchFailure::Failed(reason)) => {
                self.failures += 1;
                self.note_error(reason.clone());
                let reply = reason.clone();
                self.answer_pending(|| {
                    Err(Aria2Error::NotRunning {
                        state: reply.clone(),
                    })
                });
                Next::Backoff(reason)
            }
        }
    }

    /// Creates the dirs and the empty session file (aria2c refuses a missing `--input-file`).
    fn prepare_dirs(&self) -> Result<(), Aria2Error> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let p = &self.paths;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&p.dir)
            .map_err(|e| Aria2Error::io("creating", &p.dir, e))?;
        // Made private when steward makes it; an operator's own download dir
        // elsewhere keeps the modes it was given.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&p.download_dir)
            .map_err(|e| Aria2Error::io("creating", &p.download_dir, e))?;
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&p.session_file)
            .map_err(|e| Aria2Error::io("creating", &p.session_file, e))?;
        Ok(())
    }

    /// Stops every leftover aria2c of this data dir; lists the foreign ones.
    async fn clean_leftovers(&mut self) {
        let recorded = match load_instance(&self.store) {
            Ok(rec) => rec,
            Err(e) => {
                self.note_error(format!("reading the recorded aria2c: {e}"));
                None
            }
        };
        let found = scan(
            &self.comms,
            &self.paths.session_file,
            recorded.as_ref().map(|r| r.proc),
            None,
        );
        self.view.send_modify(|v| v.foreign = found.foreign.clone());
        for f in &found.foreign {
            tracing::info!(pid = f.pid, port = ?f.port, "aria2: foreign aria2c left alone");
        }
        // The secret file still holds the secret the leftovers were started with.
        let old_secret = RpcSecret::read_file(&self.paths.secret_file).ok();
        for leftover in found.ours {
            let pid = leftover.stat.pid;
            tracing::warn!(
                pid,
                "aria2: stopping leftover aria2c of this data dir: {}",
                leftover.why
            );
            if let (Some(port), Some(secret)) = (leftover.port(), old_secret.clone()) {
                let rpc = Aria2Rpc::new(port, secret).with_timeout(Duration::from_secs(2));
                match rpc.save_session().await {
                    Ok(()) => tracing::info!(pid, "aria2: leftover saved its session"),
                    Err(e) => tracing::info!(
                        pid,
                        "aria2: leftover's session not saved over RPC ({e}); SIGTERM saves it too"
                    ),
                }
            }
            let ended = terminate(Target::of(&leftover.stat), self.opts.stop_deadline).await;
            let result = if ended.is_gone() {
                format!("ok: {ended}")
            } else {
                self.note_error(format!(
                    "leftover aria2c pid {pid} would not exit ({ended})"
                ));
                format!("failed: {ended}")
            };
            audit(
                &self.store,
                "aria2.stop_leftover",
                &format!("pid {pid}"),
                leftover.why,
                &result,
            );
        }
        if let Some(rec) = recorded
            && !rec.proc.is_alive()
            && let Err(e) = clear_instance(&self.store, rec.proc)
        {
            tracing::warn!("aria2: clearing the stale record: {e}");
        }
    }

    async fn launch(&mut self) -> Result<Instance, LaunchFailure> {
        self.view.send_modify(|v| {
            v.pid = None;
            v.version = None;
        });
        self.set_state(Aria2State::Starting);
        if let Err(e) = self.prepare_dirs() {
            return Err(LaunchFailure::Failed(e.to_string()));
        }
        let Some(binary) = binary::resolve(&self.config.binary) else {
            self.clean_leftovers().await;
            return Err(LaunchFailure::NotInstalled);
        };
        self.clean_leftovers().await;
        if self.cancel.is_cancelled() {
            return Err(LaunchFailure::Cancelled);
        }

        let secret = match &self.secret {
            Some(s) => s.clone(),
            None => match RpcSecret::generate() {
                Ok(s) => {
                    self.secret = Some(s.clone());
                    s
                }
                Err(e) => return Err(LaunchFailure::Failed(e.to_string())),
            },
        };
        let write = write_private(&self.paths.secret_file, &format!("{}\n", secret.expose()))
            .and_then(|()| {
                write_private(&self.paths.conf_file, &LaunchSpec::conf_contents(&secret))
            });
        if let Err(e) = write {
            return Err(LaunchFailure::Failed(e.to_string()));
        }
        let port = match self.port {
            Some(p) => p,
            None => free_port().map_err(|e| {
                LaunchFailure::Failed(format!("finding a free port on 127.0.0.1: {e}"))
            })?,
        };
        self.port = Some(port);
        let spec = LaunchSpec {
            binary,
            port,
            conf_file: self.paths.conf_file.clone(),
            session_file: self.paths.session_file.clone(),
            download_dir: self.paths.download_dir.clone(),
            max_concurrent: self.config.max_concurrent,
            stop_with_pid: self.opts.stop_with_pid,
            save_session_interval: self.opts.save_session_interval,
            extra_args: self.extra.clone(),
        };
        let mut child = match spawn(&spec, &self.paths.dir, &secret) {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LaunchFailure::NotInstalled);
            }
            Err(e) => {
                return Err(LaunchFailure::Failed(format!(
                    "starting {}: {e}",
                    spec.binary.display()
                )));
            }
        };
        let pid = child.pid;
        // Read while the child is unreaped (a zombie at worst), so this is its identity.
        let id = ProcId::of(pid).ok();
        if let Some(id) = id {
            let rec = InstanceRecord {
                proc: id,
                pgid: pid,
                port,
                secret_file: self.paths.secret_file.clone(),
                session_file: self.paths.session_file.clone(),
                download_dir: self.paths.download_dir.clone(),
                steward_pid: self.opts.stop_with_pid,
                started_ms: now_ms(),
            };
            if let Err(e) = save_instance(&self.store, &rec) {
                self.note_error(format!("recording aria2c pid {pid}: {e}"));
            }
        }
        self.view.send_modify(|v| {
            v.pid = Some(pid);
            v.port = Some(port);
        });
        tracing::info!(pid, port, "aria2: spawned {}", spec.binary.display());

        let rpc = Aria2Rpc::new(port, secret);
        match self.verify(&mut child, &rpc).await {
            Ok(version) => {
                tracing::info!(pid, port, version, "aria2: running");
                // The client first: whoever sees `running` can use it.
                let _ = self.rpc.send(Some(rpc.clone()));
                // `last_error` stays: it tells why the port changed, or why the last one crashed.
                self.view.send_modify(|v| {
                    v.version = Some(version);
                    v.started_ms = Some(now_ms());
                    v.state = Aria2State::Running;
                });
                Ok(Instance {
                    child,
                    id,
                    rpc,
                    started: Instant::now(),
                })
            }
            Err(failure) => {
                // Not running: make sure it is gone before anything else starts.
                self.kill_child(&mut child, id).await;
                if let Err(e) = id.map_or(Ok(()), |id| clear_instance(&self.store, id)) {
                    tracing::warn!("aria2: clearing the record: {e}");
                }
                Err(failure)
            }
        }
    }

    /// Waits for the fresh aria2c to answer as our instance.
    async fn verify(
        &mut self,
        child: &mut Spawned,
        rpc: &Aria2Rpc,
    ) -> Result<String, LaunchFailure> {
        let deadline = Instant::now() + self.opts.start_timeout;
        let probe = rpc.clone().with_timeout(Duration::from_secs(1));
        loop {
            if let Some(exit) = child.exited() {
                return Err(if child.output.says_port_taken() {
                    LaunchFailure::PortTaken(rpc.port())
                } else {
                    self.record_exit(child, exit);
                    LaunchFailure::Failed(format!("aria2c exited at start ({exit})"))
                });
            }
            match probe.identify().await {
                Ok((version, _session)) => return Ok(version.version),
                // Someone else answers on our port with another secret: ours cannot bind it.
                Err(Aria2Error::Unauthorized { .. }) => {
                    return Err(LaunchFailure::PortTaken(rpc.port()));
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(LaunchFailure::Failed(format!(
                        "aria2c did not answer RPC within {:?}: {e}",
                        self.opts.start_timeout
                    )));
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(LaunchFailure::Cancelled),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = child.wait() => {}
            }
        }
    }

    fn record_exit(&mut self, child: &Spawned, exit: ExitInfo) {
        let tail = child.output.lines();
        self.view.send_modify(|v| {
            v.last_exit = Some(Aria2Exit {
                pid: child.pid,
                code: exit.code,
                signal: exit.signal,
                at_ms: now_ms(),
                stderr_tail: tail,
            });
        });
    }

    // ---- running -------------------------------------------------------------

    async fn supervise(&mut self, mut inst: Instance) -> Next {
        let mut next_poll = tokio::time::Instant::now();
        let mut idle_gap =
            crate::time::QuietBackoff::new(self.opts.poll_idle, self.opts.poll_idle * 6);
        // A process scan reads every process's name: while it finds the same
        // aria2c processes, look less and less often (up to 8x rescan_every).
        let mut rescan_gap =
            crate::time::QuietBackoff::new(self.opts.rescan_every, self.opts.rescan_every * 8);
        // The launch scanned just now (`clean_leftovers`): that was a look, and
        // one finding nothing new lets the next wait the quiet gap.
        let mut next_rescan = tokio::time::Instant::now() + rescan_gap.next(false);
        let mut last_ok = Instant::now();
        // Remembers the processes that are not aria2c between rescans.
        let mut comm_watch = crate::proc::CommWatch::default();
        // Other aria2c using our session file, already reported.
        let mut intruders: Vec<i32> = Vec::new();
        loop {
            let rescan_due = next_rescan;
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => {
                    self.stop_child(&mut inst, self.opts.stop_deadline).await;
                    return Next::Exit;
                }
                exit = inst.child.wait() => {
                    return self.crashed(&inst, exit, "crashed".into());
                }
                msg = self.ctl.recv(), if self.ctl_open => match msg {
                    Some(Ctl::Restart(reply)) => {
                        self.pending.push(reply);
                        // Merge restarts already queued behind this one.
                        let mut stop = None;
                        while let Ok(more) = self.ctl.try_recv() {
                            match more {
                                Ctl::Restart(r) => self.pending.push(r),
                                Ctl::Stop { reply, .. } => stop = Some(reply),
                                Ctl::Owner { gid, account } => self.owners.insert(&gid, &account),
                                Ctl::Poke => {}
                            }
                        }
                        tracing::info!(pid = inst.child.pid, "aria2: restart requested");
                        self.failures = 0;
                        self.stop_child(&mut inst, self.opts.stop_deadline).await;
                        audit(&self.store, "aria2.restart", &format!("pid {}", inst.child.pid), "restart command", "ok");
                        self.view.send_modify(|v| v.restarts += 1);
                        if let Some(reply) = stop {
                            self.set_state(Aria2State::Stopped);
                            self.answer_pending(|| Err(Aria2Error::NotRunning { state: "stopped".into() }));
                            let _ = reply.send(Ok(()));
                            return Next::Idle;
                        }
                        return Next::Start;
                    }
                    Some(Ctl::Stop { deadline, reply }) => {
                        self.stop_child(&mut inst, deadline).await;
                        self.set_state(Aria2State::Stopped);
                        let _ = reply.send(Ok(()));
                        return Next::Idle;
                    }
                    Some(Ctl::Owner { gid, account }) => self.owners.insert(&gid, &account),
                    Some(Ctl::Poke) => next_poll = tokio::time::Instant::now(),
                    None => self.ctl_open = false,
                },
                _ = sleep_until(next_poll) => {
                    match poll(&inst.rpc).await {
                        Ok(mut p) => {
                            last_ok = Instant::now();
                            self.owners.resolve(&self.store, &mut p.downloads);
                            let busy = p.global.num_active + p.global.num_waiting > 0;
                            let changed = self.view.send_if_modified(|v| {
                                let changed = v.global.as_ref() != Some(&p.global) || v.downloads != p.downloads;
                                v.global = Some(p.global);
                                v.downloads = p.downloads;
                                v.polled_ms = Some(now_ms());
                                changed
                            });
                            // Idle and unchanged: look less and less often (a
                            // download added through steward pokes a poll at once).
                            let idle = idle_gap.next(changed);
                            let period = if busy { self.opts.poll_active } else { idle };
                            next_poll = tokio::time::Instant::now() + period;
                        }
                        Err(e) => {
                            if inst.child.exited().is_some() {
                                continue;
                            }
                            tracing::debug!("aria2: poll failed: {e}");
                            if last_ok.elapsed() >= self.opts.unresponsive_after {
                                self.note_error(format!(
                                    "aria2c pid {} has not answered RPC for {} ({e}); restarting it",
                                    inst.child.pid,
                                    crate::time::human(last_ok.elapsed())
                                ));
                                self.stop_child(&mut inst, self.opts.stop_deadline).await;
                                if inst.started.elapsed() >= self.opts.stable_after {
                                    self.failures = 0;
                                }
                                self.failures += 1;
                                self.view.send_modify(|v| v.restarts += 1);
                                return Next::Backoff("not answering RPC".into());
                            }
                            next_poll = tokio::time::Instant::now() + self.opts.poll_active;
                        }
                    }
                }
                _ = sleep_until(rescan_due) => {
                    let named = comm_watch.find(&self.comms);
                    let found = classify(named, &self.paths.session_file, None, Some(inst.child.pid));
                    let pids: Vec<i32> = found.ours.iter().map(|l| l.stat.pid).collect();
                    if !pids.is_empty() && pids != intruders {
                        self.note_error(format!(
                            "another aria2c uses this data dir's session file (pids {pids:?}); it is stopped at the next restart"
                        ));
                    }
                    let news = pids != intruders;
                    intruders = pids;
                    let news = self.view.send_if_modified(|v| {
                        let changed = v.foreign != found.foreign;
                        v.foreign = found.foreign;
                        changed
                    }) || news;
                    next_rescan = tokio::time::Instant::now() + rescan_gap.next(news);
                }
            }
        }
    }

    fn crashed(&mut self, inst: &Instance, exit: ExitInfo, what: String) -> Next {
        let tail = inst.child.output.lines();
        self.record_exit(&inst.child, exit);
        let _ = self.rpc.send(None);
        if let Some(id) = inst.id
            && let Err(e) = clear_instance(&self.store, id)
        {
            tracing::warn!("aria2: clearing the record: {e}");
        }
        if inst.started.elapsed() >= self.opts.stable_after {
            self.failures = 0;
        }
        self.failures += 1;
        let reason = format!("{what}: {exit}");
        self.note_error(format!(
            "aria2c pid {} {reason}; last output: {}",
            inst.child.pid,
            tail.last().map(String::as_str).unwrap_or("(none)")
        ));
        audit(
            &self.store,
            "aria2.crash",
            &format!("pid {}", inst.child.pid),
            &reason,
            "restarting",
        );
        self.view.send_modify(|v| {
            v.pid = None;
            v.restarts += 1;
        });
        self.set_state(Aria2State::Crashed {
            code: exit.code,
            signal: exit.signal,
            stderr_tail: tail,
        });
        Next::Backoff(reason)
    }

    /// saveSession, SIGTERM to the group, wait up to `deadline`, SIGKILL, wait; clear the record.
    async fn stop_child(&mut self, inst: &mut Instance, deadline: Duration) {
        let _ = self.rpc.send(None);
        self.set_state(Aria2State::Stopping {
            deadline_ms: now_ms() + i64::try_from(deadline.as_millis()).unwrap_or(0),
        });
        let began = Instant::now();
        if inst.child.exited().is_none() {
            // At most half the deadline: SIGTERM saves the session too, and the
            // wait for the exit needs the rest (a hung aria2c answers neither).
            let save = inst
                .rpc
                .clone()
                .with_timeout((deadline / 2).min(Duration::from_secs(2)));
            if let Err(e) = save.save_session().await {
                tracing::warn!(
                    pid = inst.child.pid,
                    "aria2: saveSession before stopping: {e} (SIGTERM saves it too)"
                );
            }
        }
        let left = deadline.saturating_sub(began.elapsed());
        self.terminate_child(&mut inst.child, inst.id, Some(&inst.rpc), left)
            .await;
        if let Some(id) = inst.id
            && let Err(e) = clear_instance(&self.store, id)
        {
            tracing::warn!("aria2: clearing the record: {e}");
        }
        self.view.send_modify(|v| v.pid = None);
    }

    /// Stops a child that never got to `running` (no session worth saving).
    async fn kill_child(&mut self, child: &mut Spawned, id: Option<ProcId>) {
        self.terminate_child(child, id, None, Duration::from_millis(500))
            .await;
    }

    async fn terminate_child(
        &mut self,
        child: &mut Spawned,
        id: Option<ProcId>,
        rpc: Option<&Aria2Rpc>,
        deadline: Duration,
    ) {
        let pid = child.pid;
        let Some(id) = id else {
            // Its identity could not be read: it had already exited. Just reap it.
            let _ = child.wait_timeout(KILL_WAIT).await;
            return;
        };
        let group = Group::of_leader(id);
        if child.exited().is_none() {
            send_group(&group, Sig::Term);
            if let Some(rpc) = rpc {
                rpc.wake().await;
            }
            if child.wait_timeout(deadline).await.is_none() {
                tracing::warn!(
                    pid,
                    "aria2: still running {deadline:?} after SIGTERM: SIGKILL"
                );
                send_group(&group, Sig::Kill);
                audit(
                    &self.store,
                    "aria2.kill",
                    &format!("pid {pid}"),
                    "no exit after SIGTERM",
                    "SIGKILL sent",
                );
                if child.wait_timeout(KILL_WAIT).await.is_none() {
                    self.note_error(format!("aria2c pid {pid} did not exit even after SIGKILL"));
                    return;
                }
            }
        }
        // aria2c does not fork, but anything left in its group goes too.
        if group_alive(group.pgid) {
            send_group(&group, Sig::Kill);
        }
    }
}

/// `initial` doubled for each failure after the first, capped at `max` (never below `initial`).
pub fn backoff_delay(initial: Duration, failures: u32, max: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    initial.saturating_mul(1u32 << exp).min(max.max(initial))
}

fn send_group(group: &Group, sig: Sig) {
    match signal_group(group, sig) {
        Ok(_) | Err(SignalError::Gone) => {}
        Err(e) => tracing::warn!(pgid = group.pgid, "aria2: SIG{}: {e}", sig.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let ms = Duration::from_millis;
        let max = Duration::from_secs(30);
        let got: Vec<Duration> = (0..10).map(|n| backoff_delay(ms(500), n, max)).collect();
        assert_eq!(got[..5], [ms(500), ms(500), ms(1000), ms(2000), ms(4000)]);
        assert_eq!(got[9], max);
        assert_eq!(backoff_delay(ms(500), u32::MAX, max), max);
        assert_eq!(backoff_delay(ms(500), 3, ms(0)), ms(500));
    }

    #[test]
    fn paths_default_to_the_data_dir() {
        let data = DataDir::new("/srv/steward");
        let p = Aria2Paths::new(&data, &Aria2Config::default());
        assert_eq!(p.session_file, PathBuf::from("/srv/steward/aria2/session"));
        assert_eq!(p.download_dir, PathBuf::from("/srv/steward/downloads"));
        let custom = Aria2Config {
            download_dir: Some("/mnt/dl".into()),
            ..Aria2Config::default()
        };
        assert_eq!(
            Aria2Paths::new(&data, &custom).download_dir,
            PathBuf::from("/mnt/dl")
        );
    }
}
