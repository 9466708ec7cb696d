//! steward's side of the output keeper: starts it, hands it a duplicate of
//! each worker's stdout and stderr read ends (and the secrets to mask), and
//! restarts it if it died. See `keeper_process` for the keeper itself.
//!
//! Why: worker output is a pipe read by steward. Were steward the only
//! reader, its crash would leave each worker's next write failing with EPIPE
//! (a Python worker dies of `BrokenPipeError`, mid-transaction). The keeper
//! holds a second read end in a process that outlives steward, and drains the
//! pipes into `logs/accounts/<id>.log` until the next steward has stopped
//! those workers in order.
//!
//! If the keeper dies while steward runs, it is logged once and started anew
//! at once (its socket end turns readable: the keeper never writes): workers
//! started after that hand their pipes to the new keeper; the pipes of
//! workers already running are not kept (a steward crash from then on would
//! break their pipes as before).
//!
//! The keeper holds no lock, no store and no other pipe; its environment is
//! empty (no `STEWARD_ACCOUNT`: the next steward never takes it for a leftover
//! worker) and it ends by itself, so nobody ever needs to stop it.

use std::collections::HashSet;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::redact::Redactor;

/// A secret to mask: the message is the tag and the secret's bytes.
pub(super) const MSG_SECRET: u8 = b'K';
/// A worker's pipes: tag, pid (4 bytes LE), which streams (bit 0 stdout,
/// bit 1 stderr, in that order in the SCM_RIGHTS), the account id.
pub(super) const MSG_PIPES: u8 = b'P';
/// Largest message the keeper reads (a secret is far shorter).
pub(super) const MSG_MAX: usize = 64 * 1024;
/// How long a hand-over waits for room in the socket's queue.
const SEND_WAIT: Duration = Duration::from_millis(100);
/// A keeper that dies sooner than this after its start, twice in a row, is
/// not restarted before `RETRY_GAP` has passed. Once is not enough: a keeper
/// killed by hand (or by the OOM killer) soon after its start is replaced at
/// once; a binary that cannot run one dies again just as fast.
const QUICK_DEATH: Duration = Duration::from_secs(1);
const RETRY_GAP: Duration = Duration::from_secs(10);
/// How long a clean exit waits for the keeper to notice and exit.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// The keeper as steward sees it. Shared by every supervisor.
pub struct Keeper {
    exe: PathBuf,
    data_dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    link: Option<Link>,
    /// The secrets the current keeper has: each is sent once.
    sent: HashSet<String>,
    /// A keeper death or start failure is logged once, not per worker.
    trouble_logged: bool,
    /// After `close`: no keeper is started any more.
    closed: bool,
    /// Counts keepers started, so a watcher of an old one does nothing.
    generation: u64,
    /// No keeper is started before then: the last one could not start, or
    /// died at once twice in a row (a replaced binary?), and must not be
    /// retried in a loop.
    retry_after: Option<Instant>,
    /// Keepers in a row that died sooner than `QUICK_DEATH` after their start.
    quick_deaths: u32,
}

struct Link {
    socket: OwnedFd,
    child: Child,
    started: Instant,
    /// Ends the watcher, which holds a duplicate of `socket`: the keeper
    /// sees EOF only once both are closed.
    unwatch: CancellationToken,
}

impl Link {
    /// Closes steward's end (the keeper reads EOF) and hands back the child.
    fn close(self) -> Child {
        self.unwatch.cancel();
        drop(self.socket);
        self.child
    }
}

impl Keeper {
    /// Starts the keeper (`exe output-keeper`); a failure is logged, and
    /// retried at the next worker spawn. Inside a tokio runtime, a keeper's
    /// death is noticed (and it is replaced) at once.
    pub fn start(exe: &Path, data_dir: &Path) -> Arc<Keeper> {
        let keeper = Arc::new(Keeper {
            exe: exe.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            inner: Mutex::new(Inner::default()),
        });
        {
            let mut inner = keeper.lock();
            keeper.ensure(&mut inner);
        }
        keeper
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The keeper's pid, while one runs.
    pub fn pid(&self) -> Option<u32> {
        self.lock().link.as_ref().map(|l| l.child.id())
    }

    /// Hands the keeper duplicates of a worker's output pipes (read ends),
    /// after every secret in `secrets` it does not have yet: a worker can only
    /// print secrets that were in force when it started. Waits at most
    /// `SEND_WAIT` for room: a keeper too busy to take the message by then
    /// leaves this worker's pipes unkept (logged).
    pub fn hand_over(
        self: &Arc<Self>,
        account: &str,
        pid: i32,
        stdout: Option<BorrowedFd<'_>>,
        stderr: Option<BorrowedFd<'_>>,
        secrets: &Redactor,
    ) {
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        // Twice at most: once on the keeper there is, once on a new one if
        // that one turned out dead.
        for _ in 0..2 {
            if !self.ensure(&mut inner) {
                return;
            }
            match send_all(&mut inner, account, pid, stdout, stderr, secrets) {
                Ok(()) => return,
                Err(rustix::io::Errno::PIPE | rustix::io::Errno::CONNRESET) => {
                    // Dead before its watcher told: replaced just below.
                    forget_dead(&mut inner);
                }
                Err(e) => {
                    warn!(account, error = %e, "cannot hand the worker's output to the keeper");
                    return;
                }
            }
        }
    }

    /// A clean exit: every worker has stopped, so the keeper has nothing to
    /// drain. Closing the socket ends it; waits (bounded) so steward's exit
    /// leaves no keeper behind.
    pub fn close(&self) {
        let link = {
            let mut inner = self.lock();
            inner.closed = true;
            inner.link.take()
        };
        let Some(link) = link else {
            return;
        };
        let mut child = link.close();
        // Reaped, or reaped by someone else (a subreaper's loop): an error.
        let gone = || !matches!(child.try_wait(), Ok(None));
        if !crate::retry::until(EXIT_WAIT, Duration::from_millis(5), gone) {
            warn!(
                pid = child.id(),
                "the output keeper did not exit yet: left to end by itself"
            );
        }
    }

    /// Makes sure a keeper runs; false if none could be started.
    fn ensure(self: &Arc<Self>, inner: &mut Inner) -> bool {
        if inner.link.is_some() {
            return true;
        }
        if inner.retry_after.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        match spawn(&self.exe, &self.data_dir) {
            Ok(link) => {
                info!(pid = link.child.id(), "output keeper started");
                inner.generation += 1;
                watch(Arc::downgrade(self), &link, inner.generation);
                inner.link = Some(link);
                inner.sent.clear();
                true
            }
            Err(e) => {
                inner.retry_after = Some(Instant::now() + RETRY_GAP);
                if !inner.trouble_logged {
                    inner.trouble_logged = true;
                    warn!(error = %e, "cannot start the output keeper: a steward crash would break workers' output pipes");
                }
                false
            }
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // Not waited for here; closing the socket is what ends it.
        let inner = self.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(link) = inner.link.take() {
            reap_in_background(link.close());
        }
    }
}

/// The current keeper is dead: logged (once per steward run), dropped and
/// reaped; the caller starts the next one.
fn forget_dead(inner: &mut Inner) {
    if !inner.trouble_logged {
        inner.trouble_logged = true;
        warn!(
            "the output keeper is gone: starting a new one (workers already running lose their crash protection)"
        );
    }
    if let Some(link) = inner.link.take() {
        if link.started.elapsed() < QUICK_DEATH {
            inner.quick_deaths += 1;
            if inner.quick_deaths >= 2 {
                inner.retry_after = Some(Instant::now() + RETRY_GAP);
            }
        } else {
            inner.quick_deaths = 0;
        }
        reap_in_background(link.close());
    }
}

/// Watches the keeper of `generation` for its death: the keeper never
/// writes, so steward's end turning readable means the keeper's end closed.
/// Then a new keeper is started at once. Outside a tokio runtime nothing
/// watches, and the death is found at the next hand-over.
fn watch(keeper: Weak<Keeper>, link: &Link, generation: u64) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let Ok(socket) = link.socket.try_clone() else {
        return;
    };
    let unwatch = link.unwatch.clone();
    runtime.spawn(async move {
        // SAFETY: the AsyncFd owns `socket`, an OwnedFd: it stays open and the
        // same description until the AsyncFd is dropped.
        #[allow(unsafe_code)]
        let Ok(socket) = (unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) })
        else {
            return;
        };
        tokio::select! {
            () = unwatch.cancelled() => return,
            _ = socket.readable() => {}
        }
        // The duplicate goes before anything else: a new keeper needs none of it.
        drop(socket);
        let Some(keeper) = keeper.upgrade() else {
            return;
        };
        let mut inner = keeper.lock();
        if inner.closed || inner.generation != generation || inner.link.is_none() {
            return;
        }
        forget_dead(&mut inner);
        keeper.ensure(&mut inner);
    });
}

fn spawn(exe: &Path, data_dir: &Path) -> std::io::Result<Link> {
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let fd = theirs.as_raw_fd();
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .arg("output-keeper")
        .arg("--socket-fd")
        .arg(fd.to_string())
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of steward's group: a terminal's SIGINT/SIGHUP to steward's
        // group must not end the keeper with it.
        .process_group(0);
    // `theirs` lives on this frame until after spawn.
    crate::proc::inherit_across_exec(&mut cmd, fd);
    // Under `steward run` the subreaper reaps every child nobody registered:
    // the keeper is waited for by pid here, so it is registered while spawning.
    let mut spawning = crate::proc::spawning();
    let child = cmd.spawn()?;
    spawning.register(child.id() as i32);
    drop(spawning);
    drop(theirs);
    Ok(Link {
        socket: ours,
        child,
        started: Instant::now(),
        unwatch: CancellationToken::new(),
    })
}

/// Sends the secrets the keeper lacks, then the pipes.
fn send_all(
    inner: &mut Inner,
    account: &str,
    pid: i32,
    stdout: Option<BorrowedFd<'_>>,
    stderr: Option<BorrowedFd<'_>>,
    secrets: &Redactor,
) -> Result<(), rustix::io::Errno> {
    let Some(link) = &inner.link else {
        return Ok(());
    };
    for secret in secrets.secrets() {
        if inner.sent.contains(secret) {
            continue;
        }
        let msg = [&[MSG_SECRET][..], secret.as_bytes()].concat();
        send(&link.socket, &msg, &[])?;
        inner.sent.insert(secret.to_string());
    }
    let fds: Vec<BorrowedFd<'_>> = [stdout, stderr].into_iter().flatten().collect();
    if fds.is_empty() {
        return Ok(());
    }
    let which = u8::from(stdout.is_some()) | (u8::from(stderr.is_some()) << 1);
    let mut msg = vec![MSG_PIPES];
    msg.extend_from_slice(&pid.to_le_bytes());
    msg.push(which);
    msg.extend_from_slice(account.as_bytes());
    send(&link.socket, &msg, &fds)
}

/// One message, with `fds` attached. The keeper takes messages as fast as
/// they come, but a burst of spawns can fill the socket's queue for a
/// moment: then the send waits for room, at most `SEND_WAIT`, never longer
/// (a keeper stuck for good must not hold back the spawns).
fn send(socket: &OwnedFd, msg: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), rustix::io::Errno> {
    let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
    let deadline = Instant::now() + SEND_WAIT;
    loop {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() {
            control.push(SendAncillaryMessage::ScmRights(fds));
        }
        match rustix::net::sendmsg(socket, &[IoSlice::new(msg)], &mut control, flags) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(rustix::io::Errno::AGAIN);
                }
                let mut poll = [PollFd::new(socket, PollFlags::OUT)];
                let timeout = Timespec::try_from(left).unwrap_or(Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                });
                let _ = rustix::event::poll(&mut poll, Some(&timeout));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A dead keeper is reaped off the caller's thread (it may take a moment
/// to finish exiting; a zombie otherwise waits for steward's exit).
fn reap_in_background(mut child: Child) {
    let _ = std::thread::Builder::new()
        .name("keeper-reap".into())
        .spawn(move || child.wait());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_keeper_that_dies_at_once_is_not_restarted_in_a_loop() {
        let dir = tempfile::tempdir().unwrap();
        // `true` ignores the arguments and exits at once, like a binary
        // replaced by one that has no keeper.
        let keeper = Keeper::start(Path::new("true"), dir.path());
        let end = Instant::now() + Duration::from_secs(20);
        while keeper.lock().retry_after.is_none() {
            assert!(Instant::now() < end, "the deaths were never noticed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // A window in which a loop would have started dozens.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (r, _w) = std::io::pipe().unwrap();
        let redactor = Redactor::default();
        keeper.hand_over("alice", 1, Some(r.as_fd()), None, &redactor);
        let inner = keeper.lock();
        // The first quick death is replaced at once (it may have been
        // killed); the replacement dying as fast stops the restarts.
        assert_eq!(inner.generation, 2, "restarted within the retry gap");
        assert!(inner.link.is_none());
        assert!(inner.retry_after.is_some());
    }
}
