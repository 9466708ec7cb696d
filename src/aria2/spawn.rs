//! Launching aria2c as a child in its own process group, capturing its output
//! (a tail kept for the `crashed` state, each line logged), and reaping it.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

use super::args::LaunchSpec;
use super::secret::RpcSecret;

/// Lines kept of aria2c's output.
const TAIL_LINES: usize = 20;

/// A free port on 127.0.0.1 right now (bound to port 0, read, released).
/// Someone may take it before aria2c binds it: the start-up handles that as "port taken".
pub fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(sig)) => write!(f, "signal {sig}"),
            (None, None) => write!(f, "unknown exit"),
        }
    }
}

/// The last lines aria2c printed, shared with the reader tasks.
#[derive(Debug, Clone, Default)]
pub struct OutputTail(Arc<Mutex<VecDeque<String>>>);

impl OutputTail {
    fn push(&self, line: String) {
        // A poisoned lock only means a reader panicked mid-push; the lines are still usable.
        let mut tail = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }

    pub fn lines(&self) -> Vec<String> {
        let tail = self.0.lock().unwrap_or_else(|p| p.into_inner());
        tail.iter().cloned().collect()
    }

    /// Whether aria2c said it could not bind its RPC port.
    pub fn says_port_taken(&self) -> bool {
        self.lines().iter().any(|l| {
            l.contains("failed to bind TCP port")
                || l.contains("Failed to setup RPC server")
                || l.contains("Address already in use")
        })
    }
}

/// A running (or just ended) aria2c child. Dropping it leaves the process alone
/// (`kill_on_drop(false)`); a background task reaps it and reports on `exit`.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    /// `Some` once the child has exited and been reaped (and its output drained).
    pub exit: watch::Receiver<Option<ExitInfo>>,
    pub output: OutputTail,
}

impl Spawned {
    /// How it ended, if it has.
    pub fn exited(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// Waits until the child has exited (immediately if it has).
    pub async fn wait(&mut self) -> ExitInfo {
        match self.exit.wait_for(Option::is_some).await {
            Ok(info) => info.unwrap_or(ExitInfo {
                code: None,
                signal: None,
            }),
            // The reaper task ended without reporting: it cannot wait any more either.
            Err(_) => ExitInfo {
                code: None,
                signal: None,
            },
        }
    }

    /// Waits up to `timeout` for the exit.
    pub async fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitInfo> {
        tokio::time::timeout(timeout, self.wait()).await.ok()
    }
}

/// Spawns `spec` in its own process group with `cwd` as working directory.
/// Output lines are logged with `mask` replaced (aria2c does not print the
/// secret, but a line never reaches the log with it either way).
pub fn spawn(spec: &LaunchSpec, cwd: &Path, mask: &RpcSecret) -> std::io::Result<Spawned> {
    let mut cmd = tokio::process::Command::new(&spec.binary);
    cmd.args(spec.args())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    // SAFETY: runs in the forked child before exec; one prlimit64 call and an
    // atomic load, both async-signal-safe.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(crate::proc::restore_open_files_in_child);
    }
    // Registered while the reaper is held off: tokio reaps this child.
    let mut spawning = crate::proc::spawning();
    let mut child = cmd.spawn()?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| std::io::Error::other("spawned aria2c has no pid"))?;
    spawning.register(pid);
    drop(spawning);
    let output = OutputTail::default();
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(read_lines(
            out,
            output.clone(),
            mask.clone(),
            pid,
        )));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(read_lines(
            err,
            output.clone(),
            mask.clone(),
            pid,
        )));
    }
    let (tx, exit) = watch::channel(None);
    tokio::spawn(async move {
        let info = match child.wait().await {
            Ok(status) => ExitInfo {
                code: status.code(),
                signal: status.signal(),
            },
            Err(e) => {
                tracing::error!(pid, "waiting for aria2c: {e}");
                ExitInfo {
                    code: None,
                    signal: None,
                }
            }
        };
        // Let the readers drain what it printed last, so the tail is complete.
        for reader in readers {
            let _ = tokio::time::timeout(Duration::from_millis(300), reader).await;
        }
        let _ = tx.send(Some(info));
    });
    Ok(Spawned { pid, exit, output })
}

async fn read_lines<R: AsyncRead + Unpin>(pipe: R, tail: OutputTail, mask: RpcSecret, pid: i32) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = clean_line(&String::from_utf8_lossy(&buf), mask.expose());
        if line.is_empty() {
            continue;
        }
        // "Failed to resume download. Download from scratch." is aria2's
        // NOTICE that a server refused to resume: the operator's why.
        if line.contains("ERROR")
            || line.contains("Exception")
            || line.contains("errorCode=")
            || line.contains("from scratch")
        {
            tracing::warn!(target: "steward::aria2c", pid, "{line}");
        } else {
            tracing::debug!(target: "steward::aria2c", pid, "{line}");
        }
        tail.push(line);
    }
}

/// Strips ANSI escapes and trailing whitespace; masks `secret`.
fn clean_line(raw: &str, secret: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters, then one final byte in @..~
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        if c.is_control() && c != '\t' {
            continue;
        }
        out.push(c);
    }
    let mut line = out.trim_end().to_owned();
    if !secret.is_empty() && line.contains(secret) {
        line = line.replace(secret, "••••");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_colours_and_secrets() {
        let raw = "11/22 00:49:54 [\u{1b}[1;31mERROR\u{1b}[0m] token abc123 bad\r\n";
        assert_eq!(
            clean_line(raw, "abc123"),
            "11/22 00:49:54 [ERROR] token •••• bad"
        );
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let tail = OutputTail::default();
        for i in 0..30 {
            tail.push(format!("line {i}"));
        }
        let lines = tail.lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines.last().map(String::as_str), Some("line 29"));
        assert!(!tail.says_port_taken());
        tail.push("[ERROR] IPv4 RPC: failed to bind TCP port 42961".into());
        assert!(tail.says_port_taken());
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port().unwrap();
        assert!(port > 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
}
