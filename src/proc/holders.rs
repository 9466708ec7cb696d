//! Which processes hold a file: flock holders from `/proc/locks` resolved to
//! the live processes that have the locked description (`/proc/*/fdinfo`),
//! open-file holders from `/proc/*/fd`.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::list::proc_pids;

/// One lock line of `/proc/locks` (waiters excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LockLine {
    pub kind: String,
    pub pid: i32,
    pub major: u32,
    pub minor: u32,
    pub inode: u64,
}

/// Parses one `/proc/locks` line, e.g. `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`.
/// The kernel prints the file as `%02x:%02x:%lu` (hex major and minor of the superblock's
/// device, decimal inode). Waiters (`1: -> FLOCK ...`) and malformed lines are `None`.
pub(super) fn parse_lock_line(line: &str) -> Option<LockLine> {
    let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
    if tokens.contains(&"->") {
        return None;
    }
    let kind = tokens.get(1)?;
    let dev_at = tokens.iter().position(|t| t.matches(':').count() == 2)?;
    let mut parts = tokens[dev_at].splitn(3, ':');
    let major = u32::from_str_radix(parts.next()?, 16).ok()?;
    let minor = u32::from_str_radix(parts.next()?, 16).ok()?;
    let inode = parts.next()?.parse().ok()?;
    let pid = tokens.get(dev_at.checked_sub(1)?)?.parse().ok()?;
    Some(LockLine {
        kind: kind.to_string(),
        pid,
        major,
        minor,
        inode,
    })
}

fn lock_holders(path: &Path, kind: Option<&str>) -> Vec<i32> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let (major, minor) = (rustix::fs::major(meta.dev()), rustix::fs::minor(meta.dev()));
    let lines: Vec<LockLine> = text
        .lines()
        .filter_map(parse_lock_line)
        .filter(|l| l.inode == meta.ino() && l.pid > 0)
        .filter(|l| kind.is_none_or(|k| l.kind == k))
        .collect();
    let mut pids: Vec<i32> = lines
        .iter()
        .filter(|l| l.major == major && l.minor == minor)
        .map(|l| l.pid)
        .collect();
    if pids.is_empty() {
        // On btrfs subvolumes and overlayfs, stat's st_dev differs from the superblock device
        // /proc/locks prints. Accept an inode-only match when that process has the file open.
        if let Ok(canonical) = path.canonicalize() {
            pids = lines
                .iter()
                .map(|l| l.pid)
                .filter(|&pid| has_open(pid, &canonical))
                .collect();
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// The pids that *took* a BSD `flock` on `path`, as `/proc/locks` prints
/// them: a lock handed down to children over fork/exec still shows its taker,
/// alive or not. For "who holds it" use [`flock_holders`]; this is for a
/// process asking whether a lock it sees is its own.
pub fn flock_takers(path: &Path) -> Vec<i32> {
    lock_holders(path, Some("FLOCK"))
}

/// The live processes holding a BSD `flock` on `path`: every process with a
/// descriptor of a locked description (see [`flock_holders_of`]).
pub fn flock_holders(path: &Path) -> Vec<i32> {
    flock_holders_of(&[path.to_path_buf()])
        .remove(path)
        .unwrap_or_default()
}

/// The live holders of the flocks on many files, in one read of
/// `/proc/locks` and, only when one of them is locked, one pass over
/// `/proc/*/fd`. `/proc/locks` names the process that took a lock, which
/// may have handed it to a child and died (a steward killed after spawning
/// a worker); the kernel lists the lock in `/proc/PID/fdinfo/FD` of every
/// descriptor of the locked description, so those processes are the
/// holders. Where no such descriptor can be read (another user's process,
/// without privilege), the taker is reported if it is alive; a dead pid
/// never is. Files nobody locks are left out.
pub fn flock_holders_of(paths: &[PathBuf]) -> HashMap<PathBuf, Vec<i32>> {
    let mut out = HashMap::new();
    let Ok(text) = std::fs::read_to_string("/proc/locks") else {
        return out;
    };
    let mut takers: HashMap<u64, Vec<LockLine>> = HashMap::new();
    for line in text.lines().filter_map(parse_lock_line) {
        if line.kind == "FLOCK" {
            takers.entry(line.inode).or_default().push(line);
        }
    }
    // The locked files among `paths`, by the canonical path their
    // descriptors' /proc links show.
    let mut locked: HashMap<PathBuf, (&PathBuf, u64, Vec<i32>)> = HashMap::new();
    for path in paths {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        let (major, minor) = (rustix::fs::major(meta.dev()), rustix::fs::minor(meta.dev()));
        let Some(lines) = takers.get(&meta.ino()) else {
            continue;
        };
        let same_dev: Vec<&LockLine> = lines
            .iter()
            .filter(|l| l.major == major && l.minor == minor)
            .collect();
        // On btrfs subvolumes and overlayfs st_dev differs from the device
        // /proc/locks prints: an inode match then stands, confirmed below
        // by the descriptors that show the lock.
        let chosen: Vec<i32> = if same_dev.is_empty() {
            lines.iter().map(|l| l.pid).collect()
        } else {
            same_dev.iter().map(|l| l.pid).collect()
        };
        if let Ok(canonical) = path.canonicalize() {
            locked.insert(canonical, (path, meta.ino(), chosen));
        }
    }
    if locked.is_empty() {
        return out;
    }
    let mut found: HashMap<&PathBuf, Vec<i32>> = HashMap::new();
    for pid in proc_pids() {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in dir.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some((path, inode, _)) = locked.get(&target) else {
                continue;
            };
            let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
            if fdinfo_shows_flock(&info, *inode) {
                found.entry(*path).or_default().push(pid);
            }
        }
    }
    for (path, _, taker_pids) in locked.values() {
        let mut pids = found.remove(path).unwrap_or_default();
        if pids.is_empty() {
            pids = taker_pids
                .iter()
                .copied()
                .filter(|&pid| pid > 0 && live(pid))
                .collect();
        }
        pids.sort_unstable();
        pids.dedup();
        if !pids.is_empty() {
            out.insert((*path).clone(), pids);
        }
    }
    out
}

/// True if the fdinfo file lists a flock on `inode` for its descriptor.
fn fdinfo_shows_flock(fdinfo: &str, inode: u64) -> bool {
    let Ok(text) = std::fs::read_to_string(fdinfo) else {
        return false;
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("lock:"))
        .filter_map(parse_lock_line)
        .any(|l| l.kind == "FLOCK" && l.inode == inode)
}

fn live(pid: i32) -> bool {
    super::read_stat(pid).is_ok_and(|st| !st.is_zombie())
}

/// The pids holding any kind of lock on `path` (flock, POSIX record locks such as SQLite's,
/// open file description locks, leases). OFD locks show no pid and are left out.
pub fn any_lock_holders(path: &Path) -> Vec<i32> {
    lock_holders(path, None)
}

fn has_open(pid: i32, canonical: &Path) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    dir.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == canonical))
}

/// The pids that have `path` open (a `/proc/*/fd/*` link resolving to its canonical path).
/// Processes whose fds we may not read (other users' without privilege) are skipped, so this is
/// complete only for steward's own user (or root).
pub fn open_file_holders(path: &Path) -> Vec<i32> {
    let Ok(canonical): Result<PathBuf, _> = path.canonicalize() else {
        return Vec::new();
    };
    proc_pids()
        .filter(|&pid| has_open(pid, &canonical))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::testutil::{Spawned, wait_until};
    use std::fs::File;
    use std::process::Stdio;

    #[test]
    fn parses_lock_lines() {
        let l = parse_lock_line("1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF").unwrap();
        assert_eq!(
            l,
            LockLine {
                kind: "FLOCK".into(),
                pid: 1234,
                major: 8,
                minor: 1,
                inode: 5678
            }
        );
        let l = parse_lock_line("12: POSIX  ADVISORY  READ 99 fd:0a:131 128 128").unwrap();
        assert_eq!(
            (l.kind.as_str(), l.pid, l.major, l.minor, l.inode),
            ("POSIX", 99, 0xfd, 0x0a, 131)
        );
        let l = parse_lock_line("3: OFDLCK ADVISORY  WRITE -1 00:2a:77 0 EOF").unwrap();
        assert_eq!((l.pid, l.major, l.minor), (-1, 0, 0x2a));
        assert_eq!(
            parse_lock_line("1: -> FLOCK  ADVISORY  WRITE 555 08:01:5678 0 EOF"),
            None
        );
        assert_eq!(
            parse_lock_line(" 1: -> FLOCK  ADVISORY  WRITE 555 08:01:5678 0 EOF"),
            None
        );
        assert_eq!(parse_lock_line("garbage"), None);
        assert_eq!(parse_lock_line(""), None);
    }

    #[test]
    fn finds_flock_holder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("session.lock");
        File::create(&file).unwrap();
        assert!(flock_holders(&file).is_empty());
        let s = Spawned::group(&["flock", file.to_str().unwrap(), "sleep", "30"]);
        wait_until("flock taken", || flock_holders(&file).contains(&s.pid()));
        assert!(any_lock_holders(&file).contains(&s.pid()));
        // Our own lock attempt agrees that it is held.
        let ours = File::open(&file).unwrap();
        assert!(ours.try_lock().is_err());
        let many = flock_holders_of(&[file.clone(), dir.path().join("missing")]);
        assert_eq!(many.len(), 1);
        assert!(many[&file].contains(&s.pid()));
        drop(s);
        wait_until("flock released", || flock_holders(&file).is_empty());
    }

    /// The process that took the lock is gone; the child it handed the
    /// description to holds it. `/proc/locks` still names the dead taker:
    /// the holder reported is the child, never the dead pid.
    #[test]
    fn a_lock_whose_taker_died_is_held_by_the_child_that_inherited_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.lock");
        File::create(&file).unwrap();
        let out = std::process::Command::new("flock")
            .arg(&file)
            .args(["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"])
            .output()
            .unwrap();
        let child: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let taker_gone = || flock_takers(&file).iter().all(|&p| !live(p));
        wait_until("the taker to be gone", taker_gone);
        assert!(
            !flock_takers(&file).is_empty(),
            "/proc/locks lists the lock"
        );
        assert_eq!(flock_holders(&file), vec![child]);
        assert_eq!(
            flock_holders_of(std::slice::from_ref(&file))[&file],
            vec![child]
        );
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(child).unwrap(),
            rustix::process::Signal::KILL,
        );
        wait_until("the lock to be free", || flock_holders(&file).is_empty());
    }

    #[test]
    fn finds_open_file_holder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("held");
        File::create(&file).unwrap();
        // A symlink to the file still resolves to the same file.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let s = Spawned::group_with(&["sleep", "30"], Stdio::from(File::open(&file).unwrap()));
        // `contains`, not equality: a parallel test's fork may briefly copy our fds before exec.
        let holders = open_file_holders(&file);
        assert!(holders.contains(&s.pid()), "{holders:?}");
        assert!(!holders.contains(&(std::process::id() as i32)));
        assert!(open_file_holders(&link).contains(&s.pid()));
        assert!(open_file_holders(&dir.path().join("missing")).is_empty());
    }
}
