//! cgroup v2 per worker: where steward may create cgroups (root with a
//! writable cgroup2 hierarchy, or a delegated subtree as under systemd
//! `Delegate=yes`), each worker runs in its own, `steward-<pid>/<account>`
//! under steward's own cgroup, and its stop ends with `cgroup.kill`, which
//! no descendant escapes however it detaches (setsid, double fork, a
//! cleared environment).
//!
//! steward itself stays where it is: the "no internal processes" rule of
//! cgroup v2 only concerns cgroups that hand domain controllers to their
//! children, and `steward-<pid>` enables none; it only needs `cgroup.kill`.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Where the cgroup2 hierarchy is mounted, from a `/proc/self/mountinfo` text.
fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        let mount_point = left.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(unescape(mount_point)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// This process's cgroup v2 path, from a `/proc/self/cgroup` text (`0::/path`).
fn own_path(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// Steward's own cgroup directory, if it can create cgroups below it; else
/// why not, in a few words.
pub fn usable_dir() -> Result<PathBuf, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let mount = cgroup2_mount(&mountinfo).ok_or("no cgroup2 hierarchy mounted")?;
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let own = own_path(&cgroup).ok_or("steward is in no cgroup2 cgroup")?;
    let own = own.trim().trim_start_matches('/');
    let dir = if own.is_empty() {
        mount.clone()
    } else {
        mount.join(own)
    };
    // The root cgroup has no cgroup.kill of its own; its children do.
    if dir != mount && !dir.join("cgroup.kill").exists() {
        return Err(format!(
            "{} has no cgroup.kill (kernel older than 5.14)",
            dir.display()
        ));
    }
    rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).map_err(|_| {
        format!(
            "{} is not writable (not root, no delegation)",
            dir.display()
        )
    })?;
    Ok(dir)
}

/// `steward-<pid>` under steward's cgroup: the parent of its workers' cgroups.
#[derive(Debug)]
pub struct CgroupRoot {
    dir: PathBuf,
}

impl CgroupRoot {
    /// Creates `steward-<pid>` in steward's cgroup, if cgroups can be used.
    pub fn create() -> Result<CgroupRoot, String> {
        let parent = usable_dir()?;
        let dir = parent.join(format!("steward-{}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
        if !dir.join("cgroup.kill").exists() {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!("{} has no cgroup.kill", dir.display()));
        }
        Ok(CgroupRoot { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The cgroup for one worker of `account` (created, or reused when a
    /// previous worker's is still there, empty). Its `cgroup.procs` is opened
    /// here, so the child only has to write to it before exec.
    pub fn worker(&self, account: &str) -> std::io::Result<WorkerCgroup> {
        let dir = self.dir.join(account);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))?;
        Ok(WorkerCgroup {
            dir,
            procs: procs.into(),
        })
    }

    /// Removes the account cgroups that are empty, then `steward-<pid>`
    /// itself (fails quietly while one is still populated).
    pub fn remove(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Removes the empty `steward-<pid>` cgroups beside `own` left by stewards
/// that died (their pid is gone or no longer a steward). Returns how many.
pub fn remove_stale_roots(own: &CgroupRoot) -> usize {
    let Some(parent) = own.dir.parent() else {
        return 0;
    };
    let mut removed = 0;
    for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("steward-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let live_steward = super::stat::read_stat(pid).is_ok_and(|st| st.comm == "steward");
        if pid == std::process::id() as i32 || live_steward {
            continue;
        }
        let root = CgroupRoot { dir: e.path() };
        root.remove();
        if !root.dir.exists() {
            removed += 1;
        }
    }
    removed
}

/// Pids of the processes in the cgroup at `dir`.
pub fn pids_in(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Ends what a dead steward left in its `steward-<pid>` cgroup at `dir`
/// (processes no signal reached: no environment to know them by): each
/// account cgroup still populated gets `cgroup.kill`, then every empty one
/// and `dir` are removed. Nothing is done to a dir that is not a
/// `steward-<pid>` cgroup, or whose steward pid is a live steward (a
/// number handed to another one). Blocks up to `KILL_GRACE` per account.
/// Returns (account, line) per account cgroup that still had processes.
pub fn end_stale_root(dir: &Path) -> Vec<(String, String)> {
    let Some(pid) = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("steward-"))
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return Vec::new();
    };
    if !dir.join("cgroup.procs").exists()
        || pid == std::process::id() as i32
        || super::stat::read_stat(pid).is_ok_and(|st| st.comm == "steward")
    {
        return Vec::new();
    }
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let cg = e.path();
        let pids = pids_in(&cg);
        if !pids.is_empty() {
            let killed = std::fs::OpenOptions::new()
                .write(true)
                .open(cg.join("cgroup.kill"))
                .and_then(|mut f| f.write_all(b"1"));
            let end = std::time::Instant::now() + super::KILL_GRACE;
            while killed.is_ok() && !pids_in(&cg).is_empty() && std::time::Instant::now() < end {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let account = e.file_name().to_string_lossy().into_owned();
            let line = match killed {
                Ok(()) if pids_in(&cg).is_empty() => format!(
                    "killed processes {pids:?} of {account} left in the cgroup of a steward that died (cgroup.kill)"
                ),
                Ok(()) => format!(
                    "processes {:?} of {account} left in the cgroup of a steward that died survived cgroup.kill (stuck in the kernel?)",
                    pids_in(&cg)
                ),
                Err(err) => format!(
                    "cannot kill processes {pids:?} of {account} left in the cgroup of a steward that died: {err}"
                ),
            };
            lines.push((account, line));
        }
        let _ = std::fs::remove_dir(&cg);
    }
    let _ = std::fs::remove_dir(dir);
    lines
}

/// One worker's cgroup.
#[derive(Debug)]
pub struct WorkerCgroup {
    dir: PathBuf,
    procs: OwnedFd,
}

impl WorkerCgroup {
    /// The open `cgroup.procs`: a child writes `0` to it to move itself in.
    pub fn procs_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }

    /// Moves the calling process into the cgroup; for `pre_exec` (one
    /// `write`, async-signal-safe).
    pub fn enter_in_child(fd: RawFd) -> std::io::Result<()> {
        // SAFETY: `fd` is the parent's open cgroup.procs, inherited by the
        // forked child and valid until its exec.
        #[allow(unsafe_code)]
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        rustix::io::write(fd, b"0")?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Pids of the processes in it.
    pub fn pids(&self) -> Vec<i32> {
        pids_in(&self.dir)
    }

    /// Whether any live process is in it (`populated 1` in `cgroup.events`;
    /// exited processes leave their cgroup before they are reaped).
    pub fn populated(&self) -> bool {
        std::fs::read_to_string(self.dir.join("cgroup.events"))
            .map(|t| t.lines().any(|l| l.trim() == "populated 1"))
            .unwrap_or(false)
    }

    /// SIGKILL to everything in it, atomically: nothing forks its way out.
    pub fn kill(&self) -> std::io::Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.kill"))?
            .write_all(b"1")
    }

    /// Removes the (empty) cgroup.
    pub fn remove(self) -> std::io::Result<()> {
        drop(self.procs);
        std::fs::remove_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup2_mount_and_own_path_are_read() {
        let hybrid = "24 31 0:21 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let escaped = "41 31 0:38 / /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(escaped), Some(PathBuf::from("/mnt/my cg")));
        assert_eq!(cgroup2_mount("1 2 0:3 / /proc rw - proc proc rw\n"), None);
        assert_eq!(
            own_path("1:cpu:/\n0::/system.slice/steward.service\n").as_deref(),
            Some("/system.slice/steward.service")
        );
        assert_eq!(own_path("1:cpu:/\n"), None);
    }

    /// With a usable hierarchy (root here), a child moved in by its
    /// `pre_exec` is in the cgroup, and `cgroup.kill` ends it and the
    /// setsid'd process it started.
    #[test]
    fn a_worker_cgroup_holds_its_children_and_kill_ends_them_all() {
        let Ok(parent) = usable_dir() else {
            eprintln!("skipped: no usable cgroup v2 hierarchy here");
            return;
        };
        let root = CgroupRoot {
            dir: parent.join(format!("steward-test-{}", std::process::id())),
        };
        std::fs::create_dir_all(&root.dir).unwrap();
        let cg = root.worker("alice").unwrap();
        let fd = cg.procs_fd();
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "setsid sleep 300 & exec sleep 301"]);
        // SAFETY: one write(2) before exec.
        #[allow(unsafe_code)]
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                WorkerCgroup::enter_in_child(fd)
            });
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while cg.pids().len() < 2 {
            assert!(std::time::Instant::now() < deadline, "{:?}", cg.pids());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(cg.pids().contains(&(child.id() as i32)));
        assert!(cg.populated());
        cg.kill().unwrap();
        let _ = child.wait();
        while cg.populated() {
            assert!(std::time::Instant::now() < deadline, "{:?}", cg.pids());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        cg.remove().unwrap();
        root.remove();
        assert!(!root.dir.exists());
    }
}
