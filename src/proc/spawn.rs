//! Starting a worker at a cost that does not grow with the fleet: a
//! `clone(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD)` with the few
//! steps a worker needs between clone and exec (its own process group,
//! inherited lock descriptors, its cgroup, the open-file limit steward was
//! started with), and a [`Child`] waited for through its pidfd.
//!
//! std's `Command` (so tokio's) falls back to a plain `fork` as soon as one
//! `pre_exec` step is set. A fork copies steward's page tables (unmapped
//! again at exec) and its descriptor table, about five descriptors per
//! running worker, each closed again at exec: with thousands of workers,
//! that was most of a fleet's start-up (issue 14).
//!
//! Here the child borrows steward's memory until its exec (everything it
//! needs is prepared before the clone, so it only makes system calls), and
//! it shares steward's descriptor table only until its first step,
//! `close_range(SLOTS_END, ~0, CLOSE_RANGE_UNSHARE)`: the kernel gives it a
//! private table holding only the descriptors below the first slot's end,
//! without touching the thousands above. What the child needs (its pipes,
//! the lock descriptors it inherits) is put into a few low descriptor
//! numbers reserved at the first spawn (the slots), one spawn at a time,
//! and the slots are put back to `/dev/null` right after. So no worker ever
//! holds, even for a moment, another account's lock description.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use rustix::process::{WaitId, WaitIdOptions};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Where a child gets its environment and inherited descriptors from: std's
/// `Command` (for one-off children) or a [`Launch`], so a caller such as the
/// temp registry prepares either the same way.
pub trait HandDown {
    fn set_env(&mut self, key: &str, value: &OsStr);
    /// The child gets the open file description of `fd` (a flock on it is
    /// then held by the child too), under the number that its environment
    /// variable `env` names. The caller keeps `fd` open until the spawn
    /// returned.
    fn hand_down_fd(&mut self, fd: RawFd, env: &str);
}

impl HandDown for std::process::Command {
    fn set_env(&mut self, key: &str, value: &OsStr) {
        self.env(key, value);
    }

    fn hand_down_fd(&mut self, fd: RawFd, env: &str) {
        self.env(env, fd.to_string());
        super::inherit_across_exec(self, fd);
    }
}

/// A child to start: program, arguments, changes to steward's environment,
/// descriptors handed down. It always gets `/dev/null` for stdin, a pipe for
/// stdout and one for stderr, and leads a process group of its own.
pub struct Launch {
    program: OsString,
    args: Vec<OsString>,
    /// Changes to steward's environment, in order: `None` removes.
    env: Vec<(OsString, Option<OsString>)>,
    /// Descriptors handed down, each with the variable naming its number.
    inherit: Vec<(RawFd, String)>,
    cgroup_procs: Option<RawFd>,
}

impl HandDown for Launch {
    fn set_env(&mut self, key: &str, value: &OsStr) {
        self.env(key, value);
    }

    fn hand_down_fd(&mut self, fd: RawFd, env: &str) {
        self.inherit.push((fd, env.to_string()));
    }
}

/// A started child and the read ends of its output pipes.
pub struct Spawned {
    pub child: Child,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

impl Launch {
    pub fn new(program: impl AsRef<OsStr>) -> Launch {
        Launch {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            inherit: Vec::new(),
            cgroup_procs: None,
        }
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Launch {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Launch {
        let value = Some(value.as_ref().to_owned());
        self.env.push((key.as_ref().to_owned(), value));
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Launch {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// The child moves itself into the cgroup whose open `cgroup.procs` is
    /// `fd` before exec; a refusal leaves it where steward is (the caller
    /// checks). The caller keeps `fd` open until the spawn returned.
    pub fn enter_cgroup(&mut self, fd: RawFd) -> &mut Launch {
        self.cgroup_procs = Some(fd);
        self
    }

    /// The program's path: as given if it holds a `/`, else the first
    /// executable of that name along the child's `PATH` (as `execvp` looks,
    /// but done before the clone: the child must not allocate).
    fn resolve(&self, env: &[CString]) -> io::Result<CString> {
        let name = self.program.as_bytes();
        if name.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        if name.contains(&b'/') {
            return c_string(name.to_vec());
        }
        let path = env
            .iter()
            .find_map(|kv| kv.as_bytes().strip_prefix(b"PATH="))
            .unwrap_or(b"/bin:/usr/bin");
        let mut denied = false;
        for dir in path.split(|&b| b == b':') {
            let dir = if dir.is_empty() { &b"."[..] } else { dir };
            let mut candidate = dir.to_vec();
            candidate.push(b'/');
            candidate.extend_from_slice(name);
            let candidate = std::path::PathBuf::from(OsStr::from_bytes(&candidate));
            if !candidate.is_file() {
                continue;
            }
            match rustix::fs::access(&candidate, rustix::fs::Access::EXEC_OK) {
                Ok(()) => return c_string(candidate.into_os_string().into_encoded_bytes()),
                Err(_) => denied = true,
            }
        }
        let errno = if denied { libc::EACCES } else { libc::ENOENT };
        Err(io::Error::from_raw_os_error(errno))
    }

    /// Starts the child. Returns once it has exec'd (or failed to: then the
    /// exec's error, the child already reaped). Call under
    /// [`super::spawning`] and register the pid, like any long-lived child.
    pub fn spawn(&self) -> io::Result<Spawned> {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let mut slots = Slots::take()?;
        let stdout = slots.put(out_w.as_fd())?;
        let stderr = slots.put(err_w.as_fd())?;
        // The pipes' write ends now live in the slots (until `slots` drops):
        // steward keeps no copy that would hold off the reader's EOF.
        drop((out_w, err_w));
        let mut launch_env = self.env.clone();
        let mut inherit = Vec::with_capacity(self.inherit.len());
        for (fd, name) in &self.inherit {
            let slot = slots.put_raw(*fd)?;
            launch_env.push((name.into(), Some(slot.to_string().into())));
            inherit.push(slot);
        }
        let env = environment(&launch_env)?;
        let path = self.resolve(&env)?;
        let mut argv = vec![c_string(self.program.as_bytes().to_vec())?];
        for a in &self.args {
            argv.push(c_string(a.as_bytes().to_vec())?);
        }
        let argv_ptrs = null_terminated(&argv);
        let env_ptrs = null_terminated(&env);
        let plan = ChildPlan {
            path: path.as_ptr(),
            argv: argv_ptrs.as_ptr(),
            envp: env_ptrs.as_ptr(),
            keep_below: slots.end(),
            stdio: [slots.null(), stdout, stderr],
            inherit: &inherit,
            cgroup_procs: self.cgroup_procs.unwrap_or(-1),
            nofile: super::limits::started_with().map(|l| libc::rlimit {
                rlim_cur: l.current.unwrap_or(libc::RLIM_INFINITY),
                rlim_max: l.maximum.unwrap_or(libc::RLIM_INFINITY),
            }),
            errno: AtomicI32::new(0),
        };
        let (pid, pidfd) = clone_vfork(&plan)?;
        drop(slots);
        let failed = plan.errno.load(Ordering::Relaxed);
        if failed != 0 {
            // The child ended at `_exit` (the vfork returned then): take it.
            let _ = rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), WaitIdOptions::EXITED);
            return Err(io::Error::from_raw_os_error(failed));
        }
        Ok(Spawned {
            child: Child {
                pid,
                pidfd: Some(pidfd),
                watch: None,
                status: None,
            },
            stdout: out_r,
            stderr: err_r,
        })
    }
}

/// steward's environment with `changes` applied in order, as `KEY=VALUE`.
fn environment(changes: &[(OsString, Option<OsString>)]) -> io::Result<Vec<CString>> {
    let mut vars: std::collections::BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for (key, value) in changes {
        match value {
            Some(v) => vars.insert(key.clone(), v.clone()),
            None => vars.remove(key),
        };
    }
    vars.into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend_from_slice(v.as_encoded_bytes());
            c_string(kv)
        })
        .collect()
}

/// How many descriptors a spawn can put into slots: stdout, stderr and the
/// handed-down ones (a worker has two: its session lock, its TMPDIR lock).
const SLOT_COUNT: usize = 6;

/// Low descriptor numbers reserved for spawning, each open on `/dev/null`
/// (close-on-exec) between spawns; `null` stays so and is the child's stdin.
struct SlotTable {
    null: OwnedFd,
    slots: Vec<OwnedFd>,
}

static SLOT_TABLE: OnceLock<Result<Mutex<SlotTable>, i32>> = OnceLock::new();

/// The slot table, held for one spawn; puts every slot it filled back to
/// `/dev/null` when dropped, so that steward keeps no extra copy of a lock
/// description or a pipe end.
struct Slots {
    table: MutexGuard<'static, SlotTable>,
    used: usize,
}

/// Reserves the spawn slots now, while the lowest descriptor numbers are
/// free (`steward run` calls it first thing): a child then gets a copy of
/// steward's descriptors 0-2 and the slots only. Without it, the first spawn
/// reserves them, above whatever is open then (still a handful, all
/// close-on-exec). Idempotent.
pub fn reserve_slots() -> io::Result<()> {
    Slots::take().map(drop)
}

impl Slots {
    /// Reserves the slots at the first call: the lowest free numbers then.
    fn take() -> io::Result<Slots> {
        let table = SLOT_TABLE.get_or_init(|| {
            let open = || {
                rustix::fs::open(
                    "/dev/null",
                    rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
            };
            let reserve = || -> rustix::io::Result<SlotTable> {
                Ok(SlotTable {
                    null: open()?,
                    slots: (0..SLOT_COUNT).map(|_| open()).collect::<Result<_, _>>()?,
                })
            };
            reserve().map(Mutex::new).map_err(|e| e.raw_os_error())
        });
        match table {
            // Plain descriptors: a panic elsewhere mid-spawn leaves them usable.
            Ok(m) => Ok(Slots {
                table: m.lock().unwrap_or_else(|p| p.into_inner()),
                used: 0,
            }),
            Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
        }
    }

    /// Puts `fd`'s open file description into the next slot; returns its number.
    fn put(&mut self, fd: BorrowedFd<'_>) -> io::Result<RawFd> {
        let slot = self.table.slots.get_mut(self.used).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many descriptors to hand down",
            )
        })?;
        rustix::io::dup3(fd, slot, rustix::io::DupFlags::CLOEXEC)?;
        self.used += 1;
        Ok(slot.as_raw_fd())
    }

    fn put_raw(&mut self, fd: RawFd) -> io::Result<RawFd> {
        // SAFETY: the caller of `Launch::spawn` keeps `fd` open until it
        // returns (see `HandDown::hand_down_fd`); it is only dup'd here.
        #[allow(unsafe_code)]
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        self.put(fd)
    }

    fn null(&self) -> RawFd {
        self.table.null.as_raw_fd()
    }

    /// One past the highest number the child needs.
    fn end(&self) -> RawFd {
        let slots = self.table.slots.iter().map(AsRawFd::as_raw_fd);
        slots.chain([self.null()]).max().unwrap_or(2) + 1
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        let SlotTable { null, slots } = &mut *self.table;
        for slot in &mut slots[..self.used] {
            // dup3 onto an open descriptor cannot fail for want of a number;
            // if it failed anyway, the slot keeps a copy until the next spawn.
            let _ = rustix::io::dup3(&*null, slot, rustix::io::DupFlags::CLOEXEC);
        }
    }
}

fn c_string(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "nul byte"))
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is two ints for pipe2 to fill.
    #[allow(unsafe_code)]
    let (r, w) = unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(io::Error::last_os_error());
        }
        // Both are new descriptors that nothing else owns.
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    Ok((r, w))
}

/// The end of a failed child: its errno into the plan, then `_exit`.
///
/// # Safety
/// Only in the child of `clone_vfork`, with its plan.
#[allow(unsafe_code)]
unsafe fn fail(plan: &ChildPlan<'_>) -> ! {
    // SAFETY: errno of the calling thread; `_exit` ends the child at once.
    unsafe {
        let errno = *libc::__errno_location();
        let errno = if errno == 0 { libc::EINVAL } else { errno };
        plan.errno.store(errno, Ordering::Relaxed);
        libc::_exit(127)
    }
}

/// Everything the child needs between clone and exec, prepared beforehand:
/// it shares steward's memory and must not allocate or take a lock.
struct ChildPlan<'a> {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// Every descriptor the child needs is below this (0-2 and the slots).
    keep_below: RawFd,
    /// Onto 0, 1 and 2.
    stdio: [RawFd; 3],
    /// Slots whose close-on-exec flag the child clears.
    inherit: &'a [RawFd],
    /// An open `cgroup.procs`, or -1.
    cgroup_procs: RawFd,
    nofile: Option<libc::rlimit>,
    /// Set by the child when a step or the exec failed.
    errno: AtomicI32,
}

/// The child's stack: it makes a dozen system calls and returns nowhere.
const CHILD_STACK: usize = 64 * 1024;
/// Signal numbers are below this on Linux (`_NSIG`).
const NSIG: libc::c_int = 65;

/// clone(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD): returns in the parent once
/// the child has exec'd or exited, with the child's pid and pidfd.
fn clone_vfork(plan: &ChildPlan<'_>) -> io::Result<(i32, OwnedFd)> {
    let mut stack = vec![0u8; CHILD_STACK];
    // Stacks grow down on every Linux target Rust supports; 16-byte aligned.
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK) & !15;
    let mut pidfd: libc::c_int = -1;
    let flags =
        libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | libc::CLONE_PIDFD | libc::SIGCHLD;
    // SAFETY: every signal is blocked in this thread around the clone, so no
    // handler of steward's runs on the child's side of the shared memory
    // before the child reset them all to default. `plan`, the strings it
    // points to and `stack` live on this frame, and the parent stays
    // suspended (CLONE_VFORK) until the child has exec'd or exited, so the
    // child never sees them freed. `child_main` makes only system calls.
    #[allow(unsafe_code)]
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child_main,
            top as *mut libc::c_void,
            flags,
            plan as *const ChildPlan<'_> as *mut libc::c_void,
            &mut pidfd as *mut libc::c_int,
        );
        let err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(err);
        }
        pid
    };
    drop(stack);
    debug_assert!(pid > 0 && pidfd >= 0);
    // SAFETY: CLONE_PIDFD stored a new descriptor for the child in `pidfd`.
    #[allow(unsafe_code)]
    Ok((pid, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// The child between clone and exec, on its own stack in steward's memory:
/// into its cgroup (a write on steward's descriptor, which it still shares),
/// a private descriptor table of the low numbers only (before anything else
/// touches descriptors: until then the table is steward's own), signal
/// handlers back to default (SIGPIPE too, which Rust ignores), stdio,
/// the handed-down descriptors, its own process group, its cgroup, the
/// open-file limit, an empty signal mask (as std's `Command` leaves it),
/// exec. A failed step or exec leaves its errno in the plan.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildPlan` `clone_vfork` passed, alive while the
    // parent is suspended; everything below is a system call on values the
    // plan holds, async-signal-safe, with no allocation.
    #[allow(unsafe_code)]
    unsafe {
        let plan = &*(arg as *const ChildPlan<'_>);
        if plan.cgroup_procs >= 0 {
            // A refusal is seen by the parent (the child is not in the
            // cgroup) and the worker runs without one.
            let _ = libc::write(plan.cgroup_procs, b"0".as_ptr().cast(), 1);
        }
        if libc::close_range(
            plan.keep_below as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_UNSHARE as libc::c_int,
        ) != 0
        {
            fail(plan);
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        for sig in 1..NSIG {
            if libc::sigaction(sig, std::ptr::null(), &mut action) != 0 {
                continue;
            }
            let handler = action.sa_sigaction;
            if sig == libc::SIGPIPE || (handler != libc::SIG_IGN && handler != libc::SIG_DFL) {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &default, std::ptr::null_mut());
            }
        }
        for (target, &fd) in plan.stdio.iter().enumerate() {
            if libc::dup2(fd, target as libc::c_int) < 0 {
                fail(plan);
            }
        }
        for &fd in plan.inherit {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                fail(plan);
            }
        }
        if libc::setpgid(0, 0) != 0 {
            fail(plan);
        }
        if let Some(limit) = &plan.nofile
            && libc::setrlimit(libc::RLIMIT_NOFILE, limit) != 0
        {
            fail(plan);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(plan.path, plan.argv, plan.envp);
        fail(plan)
    }
}

/// A child started by [`Launch::spawn`]: its pid stays its own until
/// [`Child::wait`] reaps it.
pub struct Child {
    pid: i32,
    /// Until the first wait registers it with tokio.
    pidfd: Option<OwnedFd>,
    watch: Option<AsyncFd<OwnedFd>>,
    status: Option<ExitStatus>,
}

impl Child {
    /// The pid, while the child is not reaped (so the number is still its).
    pub fn id(&self) -> Option<u32> {
        match self.status {
            None => u32::try_from(self.pid).ok(),
            Some(_) => None,
        }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        match (&self.pidfd, &self.watch) {
            (Some(fd), _) => Some(fd.as_fd()),
            (None, Some(w)) => Some(w.get_ref().as_fd()),
            (None, None) => None,
        }
    }

    /// Reaps the child if it has exited; never blocks.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        let Some(fd) = self.fd() else {
            return Err(io::Error::from_raw_os_error(libc::ECHILD));
        };
        let status = reap(fd)?;
        self.status = status;
        Ok(status)
    }

    /// Waits for the child to exit and reaps it. Cancel-safe: dropped
    /// before it returns, nothing is lost. Must run inside the tokio runtime.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if let Some(fd) = self.pidfd.take() {
                // SAFETY: the `OwnedFd` owns the pidfd, and nothing replaces
                // or closes it while the `AsyncFd` holds it.
                #[allow(unsafe_code)]
                let watch = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
                self.watch = Some(watch);
            }
            let Some(watch) = &self.watch else {
                return Err(io::Error::from_raw_os_error(libc::ECHILD));
            };
            // A pidfd turns readable when its process exits, and stays so.
            let mut ready = watch.readable().await?;
            if reap_peek(watch.get_ref().as_fd())? {
                continue;
            }
            ready.clear_ready();
        }
    }
}

impl Drop for Child {
    /// A child dropped unreaped is reaped when it exits, so it never stays a
    /// zombie (registered children are not the subreaper's to reap).
    fn drop(&mut self) {
        if self.status.is_some() || matches!(self.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut rest = Child {
            pid: self.pid,
            pidfd: self.pidfd.take(),
            watch: self.watch.take(),
            status: None,
        };
        runtime.spawn(async move {
            let _ = rest.wait().await;
        });
    }
}

/// Whether the child behind `fd` has exited (without reaping it).
fn reap_peek(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    Ok(rustix::process::waitid(WaitId::PidFd(fd), options)?.is_some())
}

/// Reaps the child behind `fd` if it has exited.
fn reap(fd: BorrowedFd<'_>) -> io::Result<Option<ExitStatus>> {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    let Some(st) = rustix::process::waitid(WaitId::PidFd(fd), options)? else {
        return Ok(None);
    };
    // In the form `waitpid` reports, which `ExitStatus` wraps.
    let raw = match (st.exit_status(), st.terminating_signal()) {
        (Some(code), _) => (code & 0xff) << 8,
        (None, Some(sig)) => (sig & 0x7f) | if st.dumped() { 0x80 } else { 0 },
        (None, None) => 0,
    };
    Ok(Some(ExitStatus::from_raw(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn output(fd: OwnedFd) -> String {
        let mut s = String::new();
        std::fs::File::from(fd).read_to_string(&mut s).unwrap();
        s
    }

    #[tokio::test]
    async fn a_child_gets_its_args_env_group_and_pipes_and_is_reaped() {
        let file = tempfile::tempfile().unwrap();
        let fd = file.as_raw_fd();
        let mut launch = Launch::new("sh");
        launch
            .args([
                "-c",
                "echo \"$A $0\" ; echo err >&2; cut -d' ' -f5 /proc/$$/stat; \
                 [ -e /proc/self/fd/$FD ] && echo kept; echo ${B-unset}; exit 3",
            ])
            .env("A", "hello")
            .env("B", "x")
            .env_remove("B")
            .hand_down_fd(fd, "FD");
        let Spawned {
            mut child,
            stdout,
            stderr,
        } = launch.spawn().unwrap();
        let pid = child.id().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(child.id(), None);
        let out = output(stdout);
        assert_eq!(out, format!("hello sh\n{pid}\nkept\nunset\n"), "{out}");
        assert_eq!(output(stderr), "err\n");
    }

    /// A child gets none of the descriptors above the slots, even one
    /// without close-on-exec: only what was handed down.
    #[tokio::test]
    async fn a_child_holds_nothing_above_the_slots_but_what_was_handed_down() {
        reserve_slots().unwrap();
        let file = tempfile::tempfile().unwrap();
        let leaky = rustix::io::fcntl_dupfd_cloexec(&file, 200).unwrap();
        rustix::io::fcntl_setfd(&leaky, rustix::io::FdFlags::empty()).unwrap();
        let mut launch = Launch::new("sh");
        launch
            .args(["-c", "cd /proc/self/fd && echo * $FD"])
            .hand_down_fd(file.as_raw_fd(), "FD");
        let Spawned {
            mut child, stdout, ..
        } = launch.spawn().unwrap();
        child.wait().await.unwrap();
        let out = output(stdout);
        let mut words: Vec<&str> = out.split_whitespace().collect();
        let fd: RawFd = words.pop().unwrap().parse().unwrap();
        let end = Slots::take().unwrap().end();
        assert!(fd < end, "{out}");
        let above: Vec<RawFd> = words
            .iter()
            .map(|w| w.parse().unwrap())
            .filter(|&n| n >= end)
            .collect();
        // The shell's own look at the directory may hold one more.
        assert!(above.len() <= 1, "{out} (slots end at {end})");
        assert!(!above.contains(&leaky.as_raw_fd()), "{out}");
    }

    #[test]
    fn a_missing_program_fails_like_std_does() {
        let err = Launch::new("steward-no-such-program")
            .spawn()
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = Launch::new("/nonexistent/prog").spawn().err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        // An exec that fails in the child reports its errno too.
        let dir = tempfile::tempdir().unwrap();
        let err = Launch::new(dir.path()).spawn().err().unwrap();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
    }

    #[tokio::test]
    async fn a_signalled_child_reports_the_signal() {
        let mut child = Launch::new("sleep").args(["30"]).spawn().unwrap().child;
        let pid = child.id().unwrap() as i32;
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::Signal::KILL,
        )
        .unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9));
    }
}
