//! Parsing `/proc/PID/stat` (`Stat`, `read_stat`, `parse_stat`) and reading `/proc/PID/cmdline`.

use std::io::Read;

use super::error::{ProcError, proc_io_error};

/// The fields of `/proc/PID/stat` steward uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Field 1.
    pub pid: i32,
    /// Field 2 without the parentheses. Up to 15 bytes, any bytes but NUL (lossily decoded).
    pub comm: String,
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `T`, `t`, `X`, `I`, ...
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Field 5: process group id.
    pub pgrp: i32,
    /// Field 6: session id.
    pub session: i32,
    /// Field 22: start time in clock ticks since boot.
    pub start_time: u64,
    /// Fields 14 + 15: user and system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Field 24: resident set size, in pages.
    pub rss_pages: u64,
}

impl Stat {
    /// Exited but not yet reaped (`Z`), or dead (`X`).
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Reads and parses `/proc/PID/stat`. A missing or vanished process is `ProcError::NotFound`.
pub fn read_stat(pid: i32) -> Result<Stat, ProcError> {
    let mut buf = Vec::with_capacity(512);
    read_stat_into(pid, &mut buf)
}

/// `read_stat` with a caller-provided buffer, so a loop over all processes allocates once.
pub(crate) fn read_stat_into(pid: i32, buf: &mut Vec<u8>) -> Result<Stat, ProcError> {
    if pid <= 0 {
        return Err(ProcError::NotFound(pid));
    }
    buf.clear();
    let path = format!("/proc/{pid}/stat");
    std::fs::File::open(&path)
        .and_then(|mut f| read_all(&mut f, buf))
        .map_err(|e| proc_io_error(pid, e))?;
    // comm may hold any byte (prctl PR_SET_NAME): decode lossily rather than fail.
    parse_stat(&String::from_utf8_lossy(buf))
}

/// `read_to_end` without its `fstat` and `lseek` for a size hint (a /proc
/// file has no size): open, read, read (EOF), close. Over 1,000 workers a
/// sample round makes a third fewer system calls.
fn read_all(file: &mut std::fs::File, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn field<T: std::str::FromStr>(fields: &[&str], index: usize, name: &str) -> Result<T, ProcError> {
    let raw = fields
        .get(index)
        .ok_or_else(|| ProcError::Parse(format!("stat: missing field {name}")))?;
    raw.parse()
        .map_err(|_| ProcError::Parse(format!("stat: bad {name} {raw:?}")))
}

/// Parses the text of `/proc/PID/stat`. The comm is everything between the first `(` and the
/// *last* `)`, since it may itself contain spaces and parentheses; the numeric fields are read
/// after the last `)`.
pub fn parse_stat(text: &str) -> Result<Stat, ProcError> {
    let open = text
        .find('(')
        .ok_or_else(|| ProcError::Parse("stat: no '('".into()))?;
    let close = text
        .rfind(')')
        .filter(|&c| c > open)
        .ok_or_else(|| ProcError::Parse("stat: no ')' after '('".into()))?;
    let pid_text = text[..open].trim();
    let pid = pid_text
        .parse()
        .map_err(|_| ProcError::Parse(format!("stat: bad pid {pid_text:?}")))?;
    let comm = text[open + 1..close].to_string();
    // After ')' the fields start at field 3 (state), so field N is at index N - 3.
    let rest: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    let state: char = field(&rest, 0, "state")?;
    Ok(Stat {
        pid,
        comm,
        state,
        ppid: field(&rest, 1, "ppid")?,
        pgrp: field(&rest, 2, "pgrp")?,
        session: field(&rest, 3, "session")?,
        start_time: field(&rest, 19, "starttime")?,
        cpu_ticks: field::<u64>(&rest, 11, "utime")? + field::<u64>(&rest, 12, "stime")?,
        rss_pages: field(&rest, 21, "rss")?,
    })
}

/// The argument vector from `/proc/PID/cmdline`, split on NUL. `None` if the process is gone or
/// unreadable; an empty vector for kernel threads and zombies.
/// The value of `name` in a process's initial environment
/// (`/proc/PID/environ`: what it was exec'd with), as raw bytes. `None` when
/// unset or unreadable (gone, or another user's without privilege).
pub fn environ_var(pid: i32, name: &str) -> Option<Vec<u8>> {
    if pid <= 0 {
        return None;
    }
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    bytes.split(|&b| b == 0).find_map(|entry| {
        let value = entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(value.to_vec())
    })
}

pub fn cmdline(pid: i32) -> Option<Vec<String>> {
    if pid <= 0 {
        return None;
    }
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(&bytes);
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    Some(
        bytes
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_variable_of_a_processs_environment() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("STEWARD_TEST_VAR", "a=b c")
            .env("STEWARD_TEST_VAR_LONGER", "no")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // Until its exec, the child's environ is a copy of ours.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while environ_var(pid, "STEWARD_TEST_VAR").is_none() {
            assert!(std::time::Instant::now() < deadline, "never exec'd");
            std::thread::yield_now();
        }
        assert_eq!(
            environ_var(pid, "STEWARD_TEST_VAR").as_deref(),
            Some(&b"a=b c"[..])
        );
        assert_eq!(environ_var(pid, "STEWARD_TEST"), None);
        assert_eq!(environ_var(-1, "PATH"), None);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn line(comm: &str) -> String {
        format!(
            "4242 ({comm}) S 1 4240 4239 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 5000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
        )
    }

    #[test]
    fn parses_plain_and_tricky_comms() {
        for comm in [
            "sleep",
            "a) b (c",
            "x)",
            "((",
            ") S 9 9 9",
            "with space",
            "",
        ] {
            let st = parse_stat(&line(comm)).unwrap();
            assert_eq!(st.comm, comm);
            assert_eq!(st.pid, 4242);
            assert_eq!(st.state, 'S');
            assert_eq!(st.ppid, 1);
            assert_eq!(st.pgrp, 4240);
            assert_eq!(st.session, 4239);
            assert_eq!(st.start_time, 987654);
        }
    }

    #[test]
    fn parses_trailing_newline_and_zombie() {
        let text = "7 (z) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0\n";
        let st = parse_stat(text).unwrap();
        assert!(st.is_zombie());
        assert_eq!(st.start_time, 55);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "12 sleep S 1",
            "12 (x) S 1 2",
            "x (a) S 1 2 3",
            "1 (a) SS 1 1 1 0",
        ] {
            assert!(
                matches!(parse_stat(bad), Err(ProcError::Parse(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reads_own_stat_and_cmdline() {
        let me = std::process::id() as i32;
        let st = read_stat(me).unwrap();
        assert_eq!(st.pid, me);
        assert!(!st.is_zombie());
        let args = cmdline(me).unwrap();
        assert!(!args.is_empty());
        assert!(matches!(read_stat(0), Err(ProcError::NotFound(0))));
        assert!(matches!(read_stat(i32::MAX), Err(ProcError::NotFound(_))));
        assert_eq!(cmdline(i32::MAX), None);
    }
}
