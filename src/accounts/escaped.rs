//! Descendants of a worker that left its process group (`setsid`, a double
//! fork, a daemonising library) and so are not reached by a signal to the
//! group: found among the orphans steward adopted as a subreaper, or, for a
//! crashed steward's, among all processes, by the environment steward gave
//! the worker (`STEWARD_ACCOUNT`, `STEWARD_SESSION_FILE`), which they inherit.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

use crate::proc::{self, Stat};

/// The account and session file a process's environment names, if any.
fn steward_env(pid: i32) -> Option<(String, Vec<u8>)> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let (mut account, mut session) = (None, None);
    for entry in bytes.split(|&b| b == 0) {
        if let Some(v) = entry.strip_prefix(b"STEWARD_ACCOUNT=") {
            account = Some(String::from_utf8_lossy(v).into_owned());
        } else if let Some(v) = entry.strip_prefix(b"STEWARD_SESSION_FILE=") {
            session = Some(v.to_vec());
        }
    }
    Some((account?, session?))
}

/// The adopted processes that descend from the worker whose session file is
/// `session_file` and are outside its group `pgid` (members of the group get
/// the group's signal), from a look at steward's children taken no earlier
/// than `since` (see `proc::adopted_since`).
pub fn of_worker(session_file: &Path, pgid: Option<i32>, since: Instant) -> Vec<Stat> {
    if !proc::is_subreaper() {
        return Vec::new();
    }
    let wanted = session_file.as_os_str().as_bytes();
    proc::adopted_since(since)
        .into_iter()
        .filter(|st| Some(st.pgrp) != pgid)
        .filter(|st| steward_env(st.pid).is_some_and(|(_, s)| s == wanted))
        .collect()
}

/// Every adopted process attributed to an account, by account: for the view.
pub fn adopted_by_account(sessions_dir: &Path) -> HashMap<String, Vec<i32>> {
    let mut out: HashMap<String, Vec<i32>> = HashMap::new();
    if !proc::is_subreaper() {
        return out;
    }
    for st in proc::adopted() {
        if let Some((account, session)) = steward_env(st.pid)
            && Path::new(std::ffi::OsStr::from_bytes(&session)).starts_with(sessions_dir)
        {
            out.entry(account).or_default().push(st.pid);
        }
    }
    out
}

/// Every process but this one whose environment names a session file under
/// `sessions_dir`: with the data dir's instance lock held and no worker of
/// this run started yet, all of them are left by a steward that died.
/// Members of a group whose leader is also found are left out (the group's
/// signal reaches them). Returns (account, process) pairs.
pub fn leftovers_under(sessions_dir: &Path) -> Vec<(String, Stat)> {
    let me = std::process::id() as i32;
    let found: Vec<(String, Stat)> = proc::list_processes()
        .into_iter()
        .filter(|st| st.pid != me && !st.is_zombie())
        .filter_map(|st| {
            let (account, session) = steward_env(st.pid)?;
            Path::new(std::ffi::OsStr::from_bytes(&session))
                .starts_with(sessions_dir)
                .then_some((account, st))
        })
        .collect();
    let leaders: std::collections::HashSet<i32> = found
        .iter()
        .filter(|(_, st)| st.pgrp == st.pid)
        .map(|(_, st)| st.pid)
        .collect();
    found
        .into_iter()
        .filter(|(_, st)| st.pgrp == st.pid || !leaders.contains(&st.pgrp))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_process_is_attributed_by_the_environment_it_inherited() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = dir.path().join("sessions");
        let file = sessions.join("alice.session");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("STEWARD_ACCOUNT", "alice")
            .env("STEWARD_SESSION_FILE", &file)
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // A vfork-style spawn returns while execve is still laying out the
        // new environment: /proc/PID/environ reads empty for a moment.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while steward_env(pid).is_none() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(
            steward_env(pid),
            Some(("alice".to_string(), file.as_os_str().as_bytes().to_vec()))
        );
        let found = leftovers_under(&sessions);
        assert!(
            found.iter().any(|(a, st)| a == "alice" && st.pid == pid),
            "{found:?}"
        );
        // Another data dir's processes are not ours.
        let other = tempfile::tempdir().unwrap();
        assert!(
            !leftovers_under(other.path())
                .iter()
                .any(|(_, st)| st.pid == pid)
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
