//! One account's supervisor: an actor that owns the account's worker process
//! group and session lock (a flock on `sessions/ID.lock`). Every start / stop / restart / replace / remove
//! of the account goes through its queue, so they never overlap; different
//! accounts have different actors and proceed in parallel.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::escaped;
use super::handover::Handover;
use super::output;
use super::spec::WorkerSpec;
use crate::config::RestartPolicy;
use crate::lock::{LockError, SessionLock};
use crate::model::{ExitView, RestartRecord, TaskKind, WorkerState, WorkerView};
use crate::proc::spawn::{Child, HandDown, Launch, Spawned};
use crate::proc::{self, Group, ProcId, Sig};
use crate::redact::SecretMask;
use crate::store::{SharedStore, WorkerRow};
use crate::tasks::{TaskTable, TaskTicket};
use crate::temp::{TempGuard, TempRegistry};
use crate::time::now_ms;

/// Log lines kept per worker for the details view.
const LOG_TAIL: usize = 20;
/// Restart records kept per worker.
const HISTORY: usize = 10;
/// How long a session lock held only by a fork's copy of steward's own
/// description is retried (the copy closes at the child's exec: microseconds).
const OWN_COPY_WAIT: Duration = Duration::from_millis(50);
/// How often a group with no leader is re-checked for remaining members.
const GROUP_POLL: Duration = Duration::from_millis(20);

/// What can be asked of a supervisor.
#[derive(Debug)]
pub enum Op {
    /// Start the worker if it is not running (clears any backoff).
    Start,
    /// Stop the worker to the end (every process of its group gone). With
    /// `asked`, the stop timeout counts from then rather than from when this
    /// actor gets to the op: a shutdown stopping hundreds of workers at once
    /// gives them all the same deadline, however long the queue of stops.
    Stop {
        done: Option<oneshot::Sender<()>>,
        asked: Option<Instant>,
    },
    /// Stop, then start again.
    Restart,
    /// New spec (secret, command, ...): stop the old worker to the end, then
    /// start the new one if the worker was meant to run.
    Replace(Box<WorkerSpec>),
    /// Stop, release the session lock, end the actor. Replies once all is down.
    Remove { done: oneshot::Sender<()> },
}

/// Shared by every supervisor of one manager.
#[derive(Clone)]
pub struct SupervisorContext {
    pub store: SharedStore,
    pub tasks: TaskTable,
    /// Fired whenever a view changes, for the snapshot publisher.
    pub changed: Arc<Notify>,
    /// Fired when a worker started: its lock holders and usage are read at
    /// once, not at the next sample.
    pub started: Arc<Notify>,
    /// Cancelled when every stop should skip its wait and SIGKILL now.
    pub force: CancellationToken,
    /// This steward's identity, recorded beside each worker it starts.
    pub owner: ProcId,
    /// Where each worker's own registered `TMPDIR` comes from.
    pub temp: TempRegistry,
    /// During a shutdown, takes stopped workers' dirs and records so the
    /// plan cleans them up in bulk.
    pub handover: Handover,
    /// Every secret in force (all accounts', aria2's), masked out of worker
    /// output before it reaches the log, the Logs pane or the view.
    pub mask: SecretMask,
    /// Where each worker's own cgroup is made, when cgroup v2 is in use.
    pub cgroups: Option<Arc<proc::cgroup::CgroupRoot>>,
    /// Holds a second read end of every worker's output, so that a steward
    /// crash does not break the workers' pipes.
    pub keeper: Arc<super::keeper::Keeper>,
}

/// The client side of a supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    pub ops: mpsc::Sender<Op>,
    pub view: watch::Receiver<WorkerView>,
}

impl SupervisorHandle {
    /// Asks the worker to stop, its stop timeout counting from `asked`; what
    /// this returns resolves once the whole group is gone. The request is
    /// queued before this returns (a full queue gets a task to wait for
    /// room), so a fleet's stops go out in one loop, not a task per worker.
    /// Must run inside the tokio runtime.
    pub fn request_stop(&self, asked: Instant) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let op = Op::Stop {
            done: Some(tx),
            asked: Some(asked),
        };
        match self.ops.try_send(op) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(op)) => {
                let ops = self.ops.clone();
                tokio::spawn(async move { ops.send(op).await });
            }
            // The actor is gone: dropping the op drops `tx`, and `rx` ends at once.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
        rx
    }

    /// Stops the worker, releases its lock and ends the supervisor.
    pub async fn remove(&self) {
        let (tx, rx) = oneshot::channel();
        if self.ops.send(Op::Remove { done: tx }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts the actor for one account; with `start` the worker starts at once.
pub fn spawn_supervisor(spec: WorkerSpec, ctx: SupervisorContext, start: bool) -> SupervisorHandle {
    let (ops_tx, ops_rx) = mpsc::channel(16);
    let view = WorkerView {
        session_file: spec.session_file.clone(),
        command: spec.command.clone(),
        env_names: spec.env_names(),
        ..Default::default()
    };
    let (view_tx, view_rx) = watch::channel(view);
    let actor = Supervisor {
        spec,
        ctx,
        ops: ops_rx,
        view: view_tx,
        failures: 0,
        ticket: None,
        held: None,
    };
    tokio::spawn(actor.run(start));
    SupervisorHandle {
        ops: ops_tx,
        view: view_rx,
    }
}

struct Supervisor {
    spec: WorkerSpec,
    ctx: SupervisorContext,
    ops: mpsc::Receiver<Op>,
    view: watch::Sender<WorkerView>,
    /// Consecutive quick failures, for the backoff.
    failures: u32,
    /// The task-table entry of the current supervision run (start → final stop).
    ticket: Option<TaskTicket>,
    /// An op taken off the queue while coalescing, to be applied next.
    held: Option<Op>,
}

/// A running worker: its group, its identity, and steward's copy of the lock.
struct LiveWorker {
    child: Child,
    group: Group,
    started: Instant,
    /// Steward's copy of the session lock (on `ID.lock`): dropped only once
    /// the group is gone.
    lock: SessionLock,
    /// The worker's registered temp dir (flock-held like the session file).
    tmp: TempGuard,
    /// The leader's exit status, once reaped.
    exit: Option<ExitStatus>,
    /// The worker's own cgroup (cgroup v2 mode): a stop ends with its
    /// `cgroup.kill`.
    cgroup: Option<proc::cgroup::WorkerCgroup>,
}

/// Where the actor is between ops.
enum Phase {
    Idle,
    Running(Box<LiveWorker>),
    Backoff(Instant),
}

/// Why a worker did not start. `retry` is false when only the operator can
/// fix it (a symlinked session path): backing off would repeat it forever,
/// so the account shows the reason as failed instead.
struct StartFailure {
    reason: String,
    retry: bool,
}

impl From<String> for StartFailure {
    fn from(reason: String) -> Self {
        StartFailure {
            reason,
            retry: true,
        }
    }
}

impl From<&str> for StartFailure {
    fn from(reason: &str) -> Self {
        reason.to_string().into()
    }
}

/// Why a wait on a worker ended.
enum Woke {
    Exited(ExitStatus),
    Op(Option<Op>),
    Cancelled,
    BackoffOver,
}

impl Supervisor {
    async fn run(mut self, start: bool) {
        let mut phase = if start {
            self.start_worker()
        } else {
            Phase::Idle
        };
        loop {
            let woke = match &mut phase {
                Phase::Idle => Woke::Op(self.next_op().await),
                Phase::Running(w) => {
                    let cancel = self.ticket_cancel();
                    tokio::select! {
                        status = w.child.wait() => match status {
                            Ok(status) => Woke::Exited(status),
                            // wait() fails only if the child was already reaped: treat as exit.
                            Err(_) => Woke::Exited(ExitStatus::default()),
                        },
                        op = self.next_op() => Woke::Op(op),
                        _ = cancel.cancelled() => Woke::Cancelled,
                    }
                }
                Phase::Backoff(until) => {
                    let until = *until;
                    let cancel = self.ticket_cancel();
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => Woke::BackoffOver,
                        op = self.next_op() => Woke::Op(op),
                        _ = cancel.cancelled() => Woke::Cancelled,
                    }
                }
            };
            // The rare paths (exit, stop, ops) are boxed: their futures are
            // the largest states of this one, which otherwise every idle
            // supervisor would carry (about 1.4 KB each of 1.9).
            phase = match (woke, phase) {
                (Woke::Exited(status), Phase::Running(mut w)) => {
                    w.exit = Some(status);
                    Box::pin(self.after_exit(*w)).await
                }
                (Woke::BackoffOver, _) => self.start_worker(),
                (Woke::Cancelled, phase) => {
                    Box::pin(self.stop(phase, None)).await;
                    self.finish_ticket();
                    Phase::Idle
                }
                (Woke::Op(None), phase) => {
                    // Every handle is gone: the manager ended without a stop.
                    // Stop anyway so no worker outlives its supervisor.
                    Box::pin(self.stop(phase, None)).await;
                    self.finish_ticket();
                    return;
                }
                (Woke::Op(Some(op)), phase) => match Box::pin(self.apply(op, phase)).await {
                    Some(next) => next,
                    None => return,
                },
                // Exited only arrives while running; keep the phase otherwise.
                (Woke::Exited(_), phase) => phase,
            };
        }
    }

    fn ticket_cancel(&self) -> CancellationToken {
        self.ticket
            .as_ref()
            .map(|t| t.cancel.clone())
            // No ticket: a token nobody cancels, so the branch never fires.
            .unwrap_or_default()
    }

    fn ticket_force(&self) -> CancellationToken {
        self.ticket
            .as_ref()
            .map(|t| t.force.clone())
            .unwrap_or_default()
    }

    async fn apply(&mut self, op: Op, phase: Phase) -> Option<Phase> {
        match op {
            Op::Start => Some(match phase {
                Phase::Idle | Phase::Backoff(_) => {
                    self.failures = 0;
                    self.start_worker()
                }
                running => running,
            }),
            Op::Stop { done, asked } => {
                // Only an operator's stop (a disable) is coalesced with what
                // queued behind it; a shutdown's stop is final.
                let plain = done.is_none() && asked.is_none();
                self.stop(phase, asked).await;
                self.finish_ticket();
                if let Some(done) = done {
                    let _ = done.send(());
                }
                if plain && self.coalesce(false) {
                    self.failures = 0;
                    return Some(self.start_worker());
                }
                Some(Phase::Idle)
            }
            Op::Restart => {
                let was = matches!(phase, Phase::Running(_));
                self.stop(phase, None).await;
                if !self.coalesce(true) {
                    self.finish_ticket();
                    return Some(Phase::Idle);
                }
                self.failures = 0;
                if was {
                    self.record_restart("restart requested");
                }
                Some(self.start_worker())
            }
            Op::Replace(spec) => {
                let wanted = !matches!(phase, Phase::Idle);
                self.stop(phase, None).await;
                self.spec = *spec;
                self.view.send_modify(|v| {
                    v.command = self.spec.command.clone();
                    v.env_names = self.spec.env_names();
                });
                if wanted {
                    self.failures = 0;
                    self.record_restart("replaced (new settings)");
                    Some(self.start_worker())
                } else {
                    Some(Phase::Idle)
                }
            }
            Op::Remove { done } => {
                self.stop(phase, None).await;
                self.finish_ticket();
                let _ = done.send(());
                None
            }
        }
    }

    /// The op the actor applies next: one held back by `coalesce` first.
    async fn next_op(&mut self) -> Option<Op> {
        match self.held.take() {
            Some(op) => Some(op),
            None => self.ops.recv().await,
        }
    }

    /// Folds the starts, restarts and disables that queued up while a stop
    /// ran into one outcome (the last request decides), so eight quick
    /// restarts cost one stop and one start, not eight of each; says so in
    /// the log. `run`: whether the worker should run after the stop so far.
    /// The first other op is held for the next turn.
    fn coalesce(&mut self, mut run: bool) -> bool {
        let (mut restarts, mut others) = (u32::from(run), u32::from(!run));
        while let Ok(op) = self.ops.try_recv() {
            match op {
                Op::Restart => {
                    run = true;
                    restarts += 1;
                }
                Op::Start => {
                    run = true;
                    others += 1;
                }
                Op::Stop {
                    done: None,
                    asked: None,
                } => {
                    run = false;
                    others += 1;
                }
                other => {
                    self.held = Some(other);
                    break;
                }
            }
        }
        if restarts + others > 1 {
            let what = if others == 0 {
                "restart"
            } else {
                "start/stop/restart"
            };
            info!(
                account = %self.spec.account,
                "{} {what} requests coalesced",
                restarts + others
            );
        }
        run
    }

    fn set_state(&self, state: WorkerState) {
        self.view.send_modify(|v| v.state = state);
        self.ctx.changed.notify_one();
    }

    fn record_restart(&self, reason: &str) {
        self.view.send_modify(|v| {
            v.restarts += 1;
            v.restart_history.push(RestartRecord {
                at_ms: now_ms(),
                reason: reason.to_string(),
            });
            if v.restart_history.len() > HISTORY {
                v.restart_history.remove(0);
            }
        });
        if let Some(t) = &self.ticket {
            t.restarted();
        }
    }

    fn finish_ticket(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            ticket.finish();
        }
    }

    /// Spawns the worker; on failure goes to backoff (or stays failed).
    fn start_worker(&mut self) -> Phase {
        if self.ticket.is_none() {
            let never = CancellationToken::new();
            self.ticket = Some(self.ctx.tasks.register(
                TaskKind::Worker,
                format!("worker {}", self.spec.account),
                Some(self.spec.account.clone()),
                &never,
            ));
        }
        self.set_state(WorkerState::Starting);
        match self.spawn() {
            Ok(worker) => {
                let pid = worker.group.leader.pid;
                self.view.send_modify(|v| {
                    v.pid = Some(pid);
                    v.pgid = Some(worker.group.pgid);
                    v.started_ms = Some(now_ms());
                });
                self.set_state(WorkerState::Running);
                self.ctx.started.notify_one();
                info!(account = %self.spec.account, pid, "worker started");
                Phase::Running(Box::new(worker))
            }
            Err(StartFailure { reason, retry }) => {
                warn!(account = %self.spec.account, %reason, "worker failed to start");
                self.failures += 1;
                if self.spec.restart == RestartPolicy::Never || !retry {
                    self.set_state(WorkerState::Failed { reason });
                    self.finish_ticket();
                    return Phase::Idle;
                }
                let delay = self.spec.backoff.delay(self.failures);
                self.view.send_modify(|v| {
                    v.last_exit = None;
                    v.restart_history.push(RestartRecord {
                        at_ms: now_ms(),
                        reason: format!("failed to start: {reason}"),
                    });
                    if v.restart_history.len() > HISTORY {
                        v.restart_history.remove(0);
                    }
                });
                self.set_state(WorkerState::Backoff {
                    until_ms: crate::time::ms_after(now_ms(), delay),
                });
                Phase::Backoff(crate::time::Later::later(Instant::now(), delay))
            }
        }
    }

    fn spawn(&mut self) -> Result<LiveWorker, StartFailure> {
        let spec = &self.spec;
        if let Some(dir) = spec.session_file.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        // The session file is the worker library's: steward only refuses a
        // planted link there and never creates it (Pyrogram's storage takes
        // an existing file for a database with its tables in place).
        crate::lock::check_session_path(&spec.session_file).map_err(|e| StartFailure {
            // Only the operator can fix a planted link; an I/O error may pass.
            retry: !matches!(e, LockError::Symlink { .. } | LockError::NotRegular { .. }),
            reason: e.to_string(),
        })?;
        let lock_path = crate::paths::session_lock_of(&spec.session_file);
        let lock = acquire_session_lock(&lock_path, self.ctx.owner.pid)?;
        let tmp = self
            .ctx
            .temp
            .worker_dir(&spec.account)
            .map_err(|e| format!("cannot create the worker's temp dir: {e}"))?;
        let lock_fd = lock.file().as_raw_fd();
        let cgroup = self.ctx.cgroups.as_ref().and_then(|root| {
            root.worker(&spec.account)
                .map_err(|e| warn!(account = %spec.account, error = %e, "cannot create the worker's cgroup: it runs without"))
                .ok()
        });
        let cgroup_fd = cgroup.as_ref().map(|c| c.procs_fd());
        let (program, args) = spec
            .command
            .split_first()
            .ok_or_else(|| "empty worker command".to_string())?;
        let mut cmd = Launch::new(program);
        cmd.args(args);
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        cmd.env("STEWARD_ACCOUNT", &spec.account)
            .env("STEWARD_SESSION_FILE", &spec.session_file);
        match &spec.secret {
            Some(secret) => cmd.env("STEWARD_SECRET", secret.expose()),
            None => cmd.env_remove("STEWARD_SECRET"),
        };
        // Hand the worker the very same open file description, so the flock
        // lives as long as any process of the worker holds it. `lock_fd` and
        // `cgroup_fd` stay open for the whole spawn: `lock` and `cgroup` live
        // on this frame.
        cmd.hand_down_fd(lock_fd, "STEWARD_SESSION_LOCK_FD");
        if let Some(fd) = cgroup_fd {
            cmd.enter_cgroup(fd);
        }
        tmp.apply_to(&mut cmd);
        // Registered while the reaper is held off: the supervisor reaps this
        // child through its pidfd.
        let mut spawning = proc::spawning();
        let Spawned {
            child,
            stdout,
            stderr,
        } = cmd.spawn().map_err(|e| format!("{program}: {e}"))?;
        // The child is not reaped yet, so its /proc entry exists.
        let pid = child.id().ok_or("worker exited before it was seen")? as i32;
        spawning.register(pid);
        drop(spawning);
        let leader =
            ProcId::of(pid).map_err(|e| format!("cannot identify worker pid {pid}: {e}"))?;
        let group = Group { pgid: pid, leader };
        let cgroup = cgroup.filter(|c| {
            let inside = c.pids().contains(&pid);
            if !inside {
                warn!(account = %self.spec.account, cgroup = %c.path().display(), "the worker could not enter its cgroup: it runs without");
            }
            inside
        });
        self.record_worker(&group);
        if let Err(e) = tmp.reassign(leader) {
            warn!(account = %self.spec.account, error = %e, "cannot hand the temp dir to the worker");
        }
        let stdout = Some(("stdout", Ok(stdout)));
        let stderr = Some(("stderr", Ok(stderr)));
        let redactor = self.ctx.mask.current();
        let (out, err) = (pipe_fd(&stdout), pipe_fd(&stderr));
        (self.ctx.keeper).hand_over(&self.spec.account, pid, out, err, &redactor);
        self.forward_output([stdout, stderr]);
        Ok(LiveWorker {
            child,
            group,
            started: Instant::now(),
            lock,
            tmp,
            exit: None,
            cgroup,
        })
    }

    fn record_worker(&self, group: &Group) {
        let row = WorkerRow {
            account: self.spec.account.clone(),
            pid: group.leader.pid,
            start_time: group.leader.start_time,
            pgid: group.pgid,
            owner_pid: self.ctx.owner.pid,
            owner_start_time: self.ctx.owner.start_time,
            started_ms: now_ms(),
        };
        let store = self.ctx.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = store.record_worker(&row) {
            warn!(account = %self.spec.account, error = %e, "cannot record worker identity");
        }
    }

    fn clear_worker_record(&self) {
        let store = self.ctx.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = store.clear_worker(&self.spec.account) {
            warn!(account = %self.spec.account, error = %e, "cannot clear worker identity");
        }
    }

    /// Copies a worker's output into tracing and the view's log tail, with
    /// every secret steward knows masked in case the worker prints it (its
    /// environment holds its own and aria2's). Lines are whole before they
    /// are masked (`output` assembles them across reads), so a secret split
    /// between two reads is still found. One task reads both streams.
    fn forward_output(&self, pipes: [Option<(&'static str, std::io::Result<OwnedFd>)>; 2]) {
        let view = self.view.clone();
        let changed = self.ctx.changed.clone();
        let account = self.spec.account.clone();
        let mask = self.ctx.mask.clone();
        let streams = pipes.map(|pipe| {
            let (name, fd) = pipe?;
            match fd.and_then(|fd| output::Stream::new(name, fd)) {
                Ok(stream) => Some(stream),
                Err(e) => {
                    // The pipe is dropped: the worker gets EPIPE, not a hang.
                    warn!(account = %account, stream = name, error = %e, "cannot read worker output");
                    None
                }
            }
        });
        let cut_mask = mask.clone();
        let cut = move |buf: &[u8], at| cut_mask.current().safe_cut(buf, at);
        tokio::spawn(output::forward(streams, cut, move |name, line| {
            let line = match mask.current().mask(&line) {
                std::borrow::Cow::Borrowed(_) => line,
                std::borrow::Cow::Owned(masked) => masked,
            };
            info!(target: "worker", account = %account, stream = name, "{line}");
            view.send_modify(|v| {
                v.recent_logs.push(line);
                if v.recent_logs.len() > LOG_TAIL {
                    v.recent_logs.remove(0);
                }
            });
            changed.notify_one();
        }));
    }

    /// The leader exited on its own: finish off its group, then restart or rest.
    async fn after_exit(&mut self, mut w: LiveWorker) -> Phase {
        let status = w.exit.unwrap_or_default();
        let uptime = w.started.elapsed();
        // The leader is reaped: its orphans were adopted before, so a look
        // from now on lists them.
        let escaped = escaped::of_worker(
            &self.spec.session_file,
            Some(w.group.pgid),
            std::time::Instant::now(),
        );
        let in_cgroup = w.cgroup.as_ref().is_some_and(|c| c.populated());
        if !proc::group_gone(w.group.pgid, std::time::Instant::now())
            || !escaped.is_empty()
            || in_cgroup
        {
            // Leftover children would keep the session lock and race the next
            // worker; descendants that left the group would leak one per run.
            self.stop_group(
                &mut w,
                false,
                crate::time::Later::later(Instant::now(), self.spec.stop_timeout),
            )
            .await;
        }
        self.release(w);
        let exit = ExitView {
            code: status.code(),
            signal: std::os::unix::process::ExitStatusExt::signal(&status),
            at_ms: now_ms(),
        };
        info!(account = %self.spec.account, code = ?exit.code, signal = ?exit.signal, "worker exited");
        let failed = !status.success();
        self.view.send_modify(|v| {
            v.last_exit = Some(exit.clone());
            v.pid = None;
            v.pgid = None;
        });
        let restart = match self.spec.restart {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => failed,
            RestartPolicy::Never => false,
        };
        if !restart {
            self.set_state(WorkerState::Exited {
                code: exit.code,
                signal: exit.signal,
            });
            self.finish_ticket();
            return Phase::Idle;
        }
        if uptime >= self.spec.backoff.reset_after {
            self.failures = 0;
        }
        self.failures += 1;
        let delay = self.spec.backoff.delay(self.failures);
        self.record_restart(&match (exit.code, exit.signal) {
            (Some(code), _) => format!("exited with code {code}"),
            (_, Some(sig)) => format!("killed by signal {sig}"),
            _ => "exited".to_string(),
        });
        self.set_state(WorkerState::Backoff {
            until_ms: crate::time::ms_after(now_ms(), delay),
        });
        Phase::Backoff(crate::time::Later::later(Instant::now(), delay))
    }

    /// Stops whatever runs in `phase` to the end and reports `stopped`; the
    /// stop timeout counts from `asked` (default: now).
    async fn stop(&mut self, phase: Phase, asked: Option<Instant>) {
        if let Phase::Running(mut w) = phase {
            let force = self.ticket_force().is_cancelled() || self.ctx.force.is_cancelled();
            let deadline = crate::time::Later::later(
                asked.unwrap_or_else(Instant::now),
                self.spec.stop_timeout,
            );
            let killed = self.stop_group(&mut w, force, deadline).await;
            self.view.send_modify(|v| v.stop_forced = killed);
            self.release(*w);
            if asked.is_some() {
                // One of a fleet stop: the shutdown report counts them, and a
                // line per worker would cost the stop phase a log write each.
                debug!(account = %self.spec.account, "worker stopped");
            } else {
                info!(account = %self.spec.account, "worker stopped");
            }
        } else {
            // A SIGKILL of an earlier stop (a force-cancel) is not this
            // stop's: a later shutdown would count it as killed again.
            self.view.send_modify(|v| v.stop_forced = false);
        }
        self.view.send_modify(|v| {
            v.pid = None;
            v.pgid = None;
        });
        self.set_state(WorkerState::Stopped);
    }

    /// Drops steward's lock copy, removes the worker's temp dir (off the
    /// async threads: a big tree takes a while) and the identity record: the
    /// group is gone. During a shutdown the dir and the record are handed to
    /// the plan instead, which removes all of them at once.
    fn release(&self, w: LiveWorker) {
        drop(w.lock);
        if let Some(cg) = w.cgroup {
            // Off the async threads: a cgroup's removal waits on the kernel,
            // and a fleet's stop removes hundreds.
            let account = self.spec.account.clone();
            tokio::task::spawn_blocking(move || {
                let path = cg.path().to_path_buf();
                if let Err(e) = cg.remove() {
                    warn!(account = %account, cgroup = %path.display(), error = %e, "cannot remove the worker's cgroup");
                }
            });
        }
        let tmp = match self
            .ctx
            .handover
            .offer(&self.spec.account, w.group.leader, w.tmp)
        {
            Ok(()) => return,
            Err(tmp) => tmp,
        };
        let (account, registry) = (self.spec.account.clone(), self.ctx.temp.clone());
        tokio::task::spawn_blocking(move || {
            let path = tmp.path().to_path_buf();
            // The guard's own release first, then the registry's by path.
            let mut tmp = Some(tmp);
            // The same fork-copy window as for the session lock: a child
            // steward forks (the output keeper, aria2c: workers never copy
            // steward's descriptors, see `proc::spawn`) may hold a copy of
            // this dir's lock description until its exec. Only then is the
            // release retried.
            let me = std::process::id() as i32;
            let result = crate::retry::within(
                OWN_COPY_WAIT,
                Duration::from_millis(1),
                || match tmp.take() {
                    Some(guard) => guard.release(),
                    None => registry.release(&path),
                },
                |e| matches!(e, crate::temp::TempError::Held { pids, .. } if pids.iter().all(|&p| p == me)),
            );
            if let Err(e) = result {
                warn!(account = %account, error = %e, "worker temp dir left for the sweep");
            }
        });
        self.clear_worker_record();
    }

    /// stop_signal to the group, wait until `deadline` (or not at all when
    /// forced), SIGKILL what is left, and return only once every process of
    /// the group is gone and the leader is reaped.
    async fn stop_group(&mut self, w: &mut LiveWorker, force: bool, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        self.set_state(WorkerState::Stopping {
            deadline_ms: crate::time::ms_after(now_ms(), left),
        });
        let forced = self.ticket_force();
        let global = self.ctx.force.clone();
        // Say why a SIGKILL goes out: the operator's force-cancel and a
        // forced shutdown are not a worker that ignored its stop signal.
        let why_kill = |forced: &CancellationToken, global: &CancellationToken| {
            if forced.is_cancelled() {
                "worker force-cancelled by the operator: SIGKILL"
            } else if global.is_cancelled() {
                "worker stop forced by the shutdown: SIGKILL"
            } else {
                "worker did not stop in time: SIGKILL"
            }
        };
        let first = if force || forced.is_cancelled() || global.is_cancelled() {
            // Said before the signal: a group that dies at once must not
            // leave the reason unsaid (the wait below may then win the race).
            warn!(account = %self.spec.account, pgid = w.group.pgid, "{}", why_kill(&forced, &global));
            Sig::Kill
        } else {
            self.spec.stop_signal
        };
        self.signal(w, first);
        let cgroup_dir = w.cgroup.as_ref().map(|c| c.path().to_path_buf());
        let mut escapees = Escapees::new(
            &self.spec.account,
            &self.spec.session_file,
            w.group.pgid,
            cgroup_dir.as_deref(),
        );
        // Already adopted ones are in any recent look; the rest are looked
        // for again once the group is gone.
        escapees.signal_new(first, proc::any_recent_look());
        let gone = tokio::select! {
            gone = wait_all_gone(w, &mut escapees, first, deadline) => gone,
            _ = forced.cancelled() => false,
            _ = global.cancelled() => false,
        };
        if !gone {
            if first != Sig::Kill {
                warn!(account = %self.spec.account, pgid = w.group.pgid, "{}", why_kill(&forced, &global));
            }
            self.signal(w, Sig::Kill);
            escapees.signal_new(Sig::Kill, std::time::Instant::now());
            if !wait_all_gone(
                w,
                &mut escapees,
                Sig::Kill,
                Instant::now() + proc::KILL_GRACE,
            )
            .await
            {
                warn!(account = %self.spec.account, pgid = w.group.pgid, "worker group survived SIGKILL (stuck in the kernel?)");
            }
        }
        self.kill_cgroup(w).await;
        force || !gone
    }

    /// The end of every stop in cgroup mode: whatever is still in the
    /// worker's cgroup (a descendant no signal above reached: no steward
    /// environment, not adopted yet) gets `cgroup.kill`, which nothing
    /// escapes; returns once the cgroup is empty or `KILL_GRACE` passed.
    async fn kill_cgroup(&self, w: &LiveWorker) {
        let Some(cg) = &w.cgroup else { return };
        if !cg.populated() {
            return;
        }
        info!(account = %self.spec.account, pids = ?cg.pids(), "cgroup.kill for what is left in the worker's cgroup");
        if let Err(e) = cg.kill() {
            warn!(account = %self.spec.account, error = %e, "cannot write cgroup.kill");
            return;
        }
        let end = Instant::now() + proc::KILL_GRACE;
        while cg.populated() {
            if Instant::now() >= end {
                warn!(account = %self.spec.account, pids = ?cg.pids(), "worker cgroup not empty after cgroup.kill (stuck in the kernel?)");
                return;
            }
            tokio::time::sleep(GROUP_POLL).await;
        }
    }

    fn signal(&self, w: &LiveWorker, sig: Sig) {
        let group = &w.group;
        // `Child::id` is `Some` until the leader is reaped: until
        // then its pid, and so the group's number, cannot be reused.
        let result = if w.child.id() == u32::try_from(group.pgid).ok() {
            proc::signal_unreaped_group(group, sig)
        } else {
            proc::signal_group(group, sig)
        };
        match result {
            Ok(_) | Err(proc::SignalError::Gone) => {}
            Err(e) => {
                warn!(account = %self.spec.account, pgid = group.pgid, error = %e, "cannot signal worker group")
            }
        }
    }
}

/// A pipe taken from a spawned child, borrowed, if it was taken.
fn pipe_fd<'a>(pipe: &'a Option<(&str, std::io::Result<OwnedFd>)>) -> Option<BorrowedFd<'a>> {
    pipe.as_ref()
        .and_then(|(_, r)| r.as_ref().ok())
        .map(AsFd::as_fd)
}

/// Takes the account's lock on its lock file `path`. A lock this very process
/// took (per `/proc/locks`) can still be held for a moment after steward dropped it: a
/// child steward forks with std's `Command` (the output keeper, aria2c;
/// workers are started without a copy of steward's descriptors, see
/// `proc::spawn`) holds copies of every open file description until its
/// exec. Only in that case is the
/// lock tried again, for at most `OWN_COPY_WAIT`; a lock another process
/// holds fails at once, naming it.
fn acquire_session_lock(path: &std::path::Path, me: i32) -> Result<SessionLock, StartFailure> {
    let result = crate::retry::within(
        OWN_COPY_WAIT,
        Duration::from_millis(1),
        || SessionLock::try_acquire(path),
        |e| {
            if matches!(e, LockError::Symlink { .. } | LockError::NotRegular { .. }) {
                return false;
            }
            // The taker tells whether it is our own description.
            let takers = proc::flock_takers(path);
            !takers.is_empty() && takers.iter().all(|&p| p == me)
        },
    );
    match result {
        Ok(lock) => Ok(lock),
        Err(e @ (LockError::Symlink { .. } | LockError::NotRegular { .. })) => Err(StartFailure {
            reason: e.to_string(),
            retry: false,
        }),
        Err(e) => {
            // The live holders are whom to name (a taker may be a dead steward).
            let holders = proc::flock_holders(path);
            Err(if holders.is_empty() {
                e.to_string()
            } else {
                format!("session lock {} held by pid {holders:?}", path.display())
            }
            .into())
        }
    }
}

/// A worker's descendants outside its group (see `escaped`), each signalled
/// by identity: what a stop signalled, so that each gets every signal once.
struct Escapees<'a> {
    account: &'a str,
    session_file: &'a std::path::Path,
    pgid: i32,
    /// The worker's cgroup, when it has one: its members outside the group
    /// are escapees too, whatever their environment.
    cgroup: Option<&'a std::path::Path>,
    signalled: Vec<(proc::Target, Sig)>,
}

impl<'a> Escapees<'a> {
    fn new(
        account: &'a str,
        session_file: &'a std::path::Path,
        pgid: i32,
        cgroup: Option<&'a std::path::Path>,
    ) -> Self {
        Escapees {
            account,
            session_file,
            pgid,
            cgroup,
            signalled: Vec::new(),
        }
    }

    /// Looks for escaped descendants again (an escapee whose parent just
    /// died has only now been adopted), in a look at steward's children
    /// taken no earlier than `since`, and sends `sig` to those that have not
    /// had it yet. Returns whether any is still alive.
    fn signal_new(&mut self, sig: Sig, since: std::time::Instant) -> bool {
        let mut found = escaped::of_worker(self.session_file, Some(self.pgid), since);
        for pid in self.cgroup.map(proc::cgroup::pids_in).unwrap_or_default() {
            if let Ok(st) = proc::read_stat(pid)
                && st.pgrp != self.pgid
                && !st.is_zombie()
                && !found.iter().any(|f| f.pid == st.pid)
            {
                found.push(st);
            }
        }
        for st in &found {
            let target = proc::Target::of(st);
            if self
                .signalled
                .iter()
                .any(|(t, s)| *t == target && *s == sig)
            {
                continue;
            }
            info!(account = %self.account, pid = st.pid, signal = sig.name(), "stopping a descendant that left the worker's process group");
            if let Err(e) = target.send(sig) {
                debug!(account = %self.account, pid = st.pid, error = %e, "descendant not signalled");
            }
            self.signalled.push((target, sig));
        }
        !found.is_empty()
    }
}

/// `wait_group_gone`, then until no escaped descendant is left either, each
/// newly adopted one getting `sig` (the stop's signal, same deadline).
async fn wait_all_gone(
    w: &mut LiveWorker,
    escapees: &mut Escapees<'_>,
    sig: Sig,
    deadline: Instant,
) -> bool {
    if !wait_group_gone(w, deadline).await {
        return false;
    }
    // Every escapee whose parent was in the group was adopted before the
    // group was seen gone: any look from now on lists it.
    let since = std::time::Instant::now();
    loop {
        if !escapees.signal_new(sig, since) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL.min(deadline - Instant::now())).await;
    }
}

/// Waits until the leader is reaped and no process of the group is left, or
/// `deadline` passes (returns false then).
async fn wait_group_gone(w: &mut LiveWorker, deadline: Instant) -> bool {
    if w.exit.is_none() {
        tokio::select! {
            status = w.child.wait() => w.exit = Some(status.unwrap_or_default()),
            _ = tokio::time::sleep_until(deadline) => return false,
        }
    }
    let since = std::time::Instant::now();
    // The leader is reaped; the rest of the group has no pidfd to wait on, so
    // poll until no living member is left.
    loop {
        if proc::group_gone(w.group.pgid, since) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL.min(deadline - Instant::now())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_held_by_our_own_description_is_retried_briefly_then_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.lock");
        let me = std::process::id() as i32;
        let held = SessionLock::try_acquire(&path).unwrap();
        let started = std::time::Instant::now();
        let err = acquire_session_lock(&path, me).err().unwrap().reason;
        assert!(started.elapsed() >= OWN_COPY_WAIT, "not retried");
        assert!(err.contains(&me.to_string()), "{err}");
        drop(held);
        assert!(acquire_session_lock(&path, me).is_ok());
    }

    #[test]
    fn a_lock_held_by_another_process_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.lock");
        std::fs::write(&path, "").unwrap();
        let mut holder = std::process::Command::new("flock")
            .arg(&path)
            .args(["sleep", "30"])
            .spawn()
            .unwrap();
        let pid = holder.id() as i32;
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while !proc::flock_holders(&path).contains(&pid) {
            assert!(std::time::Instant::now() < end, "flock never took the lock");
            std::thread::sleep(Duration::from_millis(5));
        }
        let err = acquire_session_lock(&path, std::process::id() as i32)
            .err()
            .unwrap()
            .reason;
        assert!(err.contains(&pid.to_string()), "{err}");
        let _ = holder.kill();
        let _ = holder.wait();
    }
}
