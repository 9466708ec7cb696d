//! [`FilesInUse`]: every file some process has open, locked or as its working
//! directory, read once from `/proc` so a sweep can look up each file it is
//! about to remove by `(st_dev, st_ino)` instead of asking `/proc` per file.

use std::collections::HashMap;

use rustix::fs::{AtFlags, Mode, OFlags};

use super::holders::parse_lock_line;
use super::list::proc_pids;

/// A snapshot of the files in use on the machine, keyed by `(dev, inode)`,
/// each with one pid that uses it. Processes whose `/proc/PID/fd` steward may
/// not read (another user's, without privilege) are missed: complete for
/// steward's own user and for root.
#[derive(Debug, Default)]
pub struct FilesInUse {
    by_file: HashMap<(u64, u64), i32>,
}

impl FilesInUse {
    /// Reads `/proc/*/fd`, `/proc/*/cwd` and `/proc/locks`, leaving out the
    /// process `except` (the sweeper itself: its own descriptors are the
    /// walk's). About one `stat` per open descriptor on the machine.
    pub fn read(except: i32) -> FilesInUse {
        let mut by_file = HashMap::new();
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        for pid in proc_pids().filter(|&pid| pid != except) {
            let base = format!("/proc/{pid}");
            // A working directory is in use as much as an open file.
            if let Ok(st) = rustix::fs::stat(format!("{base}/cwd").as_str()) {
                by_file.entry((st.st_dev, st.st_ino)).or_insert(pid);
            }
            let Ok(fds) = rustix::fs::open(format!("{base}/fd").as_str(), dir_flags, Mode::empty())
            else {
                continue;
            };
            let Ok(dir) = rustix::fs::Dir::read_from(&fds) else {
                continue;
            };
            for entry in dir.flatten() {
                let name = entry.file_name();
                if name.to_bytes().starts_with(b".") {
                    continue;
                }
                // Following the magic link gives the open file's own stat.
                if let Ok(st) = rustix::fs::statat(&fds, name, AtFlags::empty()) {
                    by_file.entry((st.st_dev, st.st_ino)).or_insert(pid);
                }
            }
        }
        // A lock outlives the descriptors of the process that took it when a
        // child inherited it, and can be held through a mapping alone.
        if let Ok(text) = std::fs::read_to_string("/proc/locks") {
            for line in text.lines().filter_map(parse_lock_line) {
                let dev = rustix::fs::makedev(line.major, line.minor);
                by_file.entry((dev, line.inode)).or_insert(line.pid);
            }
        }
        FilesInUse { by_file }
    }

    /// A pid using the file `(dev, inode)`, if any (for a lock seen only in
    /// `/proc/locks`, the pid that took it, which may be gone or -1).
    pub fn holder(&self, dev: u64, inode: u64) -> Option<i32> {
        self.by_file.get(&(dev, inode)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::testutil::{Spawned, wait_until};
    use std::fs::File;
    use std::os::unix::fs::MetadataExt;
    use std::process::Stdio;

    fn key(path: &std::path::Path) -> (u64, u64) {
        let m = std::fs::metadata(path).unwrap();
        (m.dev(), m.ino())
    }

    #[test]
    fn sees_open_files_locked_files_and_working_directories() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        let locked = dir.path().join("locked");
        let cwd = dir.path().join("cwd");
        File::create(&open).unwrap();
        File::create(&locked).unwrap();
        std::fs::create_dir(&cwd).unwrap();
        let me = std::process::id() as i32;
        let holder = Spawned::group_with(&["sleep", "30"], Stdio::from(File::open(&open).unwrap()));
        let flocker = Spawned::group(&["flock", locked.to_str().unwrap(), "sleep", "30"]);
        let script = format!("cd '{}' && exec sleep 30", cwd.display());
        let in_cwd = Spawned::group(&["sh", "-c", &script]);
        wait_until("all three in use", || {
            let seen = FilesInUse::read(me);
            let (o, l, c) = (key(&open), key(&locked), key(&cwd));
            seen.holder(o.0, o.1) == Some(holder.pid())
                && seen.holder(l.0, l.1).is_some()
                && seen.holder(c.0, c.1) == Some(in_cwd.pid())
        });
        // The sweeper's own descriptors are left out.
        let mine = File::open(dir.path().join("open")).unwrap();
        drop(holder);
        wait_until("only our own descriptor left", || {
            let (o0, o1) = key(&open);
            FilesInUse::read(me).holder(o0, o1).is_none()
        });
        drop(mine);
        drop((flocker, in_cwd));
    }
}
