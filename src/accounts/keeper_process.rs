//! The output keeper's own process (`steward output-keeper`): holds a second
//! read end of every worker's stdout and stderr so that a steward crash does
//! not leave the workers writing into pipes nobody reads (a Python worker then
//! dies of `BrokenPipeError` at its next `print`). While steward lives it
//! never reads them; once steward's end of the socket closes it drains them
//! into the accounts' log files until every worker is gone, then exits.
//!
//! It is single-threaded and synchronous on purpose: one epoll, no runtime,
//! a few hundred KB resident, and no wakeup at all while steward is alive
//! (pipes are registered for no events, so only their hang-up is reported).

use std::collections::HashMap;
use std::io::{IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustix::event::epoll;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use super::keeper::{MSG_MAX, MSG_PIPES, MSG_SECRET};
use super::output;
use crate::redact::Redactor;

/// epoll token of the socket to steward; pipes count up from 1.
const SOCKET: u64 = 0;
/// Per account, at most this many bytes a second are written once steward is
/// gone (averaged over one-second windows); more is read and dropped, so the
/// worker is never blocked, and counted in a marker line.
pub(super) const MAX_RATE: u64 = 256 * 1024;
/// Per account, at most this much for the keeper's whole life (one crash).
pub(super) const MAX_PER_ACCOUNT: u64 = 16 * 1024 * 1024;
/// For all accounts together, so a fleet of floods cannot fill the disk.
pub(super) const MAX_TOTAL: u64 = 256 * 1024 * 1024;

/// One pipe end handed over by steward.
struct Pipe {
    fd: OwnedFd,
    account: String,
    stream: &'static str,
    pid: i32,
    /// Bytes after the last newline (drain mode only).
    partial: Vec<u8>,
}

/// What one account may still write, and what it dropped.
#[derive(Default)]
struct Budget {
    written: u64,
    window: Option<Instant>,
    in_window: u64,
    dropped_lines: u64,
    dropped_bytes: u64,
}

struct Keeper {
    epoll: OwnedFd,
    socket: Option<OwnedFd>,
    logs: PathBuf,
    pipes: HashMap<u64, Pipe>,
    next: u64,
    /// Every secret steward sent; none is ever dropped (a worker started
    /// before a secret changed still knows the old one).
    secrets: Vec<String>,
    redactor: Redactor,
    budgets: HashMap<String, Budget>,
    total: u64,
}

/// Runs the keeper on the socket `fd`; returns the exit code.
pub fn main(data_dir: &Path, fd: RawFd) -> i32 {
    close_all_but(fd);
    // SAFETY: `fd` was left open across exec by steward for exactly this
    // process (`close_all_but` kept it), and nothing else owns it.
    #[allow(unsafe_code)]
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let epoll = match epoll::create(epoll::CreateFlags::CLOEXEC) {
        Ok(e) => e,
        Err(_) => return 1,
    };
    if epoll::add(
        &epoll,
        &socket,
        epoll::EventData::new_u64(SOCKET),
        epoll::EventFlags::IN | epoll::EventFlags::RDHUP,
    )
    .is_err()
    {
        return 1;
    }
    let mut keeper = Keeper {
        epoll,
        socket: Some(socket),
        logs: crate::paths::DataDir::new(data_dir)
            .logs_dir()
            .join("accounts"),
        pipes: HashMap::new(),
        next: 1,
        secrets: Vec::new(),
        redactor: Redactor::default(),
        budgets: HashMap::new(),
        total: 0,
    };
    keeper.run();
    0
}

/// Closes every descriptor but stdio and `keep`: whatever steward's own parent
/// leaked into steward without close-on-exec must not live on in here (a lock,
/// a pipe a test waits on).
fn close_all_but(keep: RawFd) {
    let Ok(listing) = std::fs::File::open("/proc/self/fd") else {
        return;
    };
    let own = std::os::fd::AsRawFd::as_raw_fd(&listing);
    // `Dir::new` owns (and reads from) the very descriptor seen above, so the
    // listing's own number is known and skipped.
    let Ok(mut dir) = rustix::fs::Dir::new(listing) else {
        return;
    };
    let mut fds: Vec<RawFd> = Vec::new();
    while let Some(Ok(entry)) = dir.read() {
        if let Some(fd) = entry.file_name().to_str().ok().and_then(|n| n.parse().ok()) {
            fds.push(fd);
        }
    }
    for fd in fds {
        if fd > 2 && fd != keep && fd != own {
            // SAFETY: nothing in this process owns these (it has opened
            // nothing but the listing, skipped), and each is open: listed
            // just now by this single-threaded process.
            #[allow(unsafe_code)]
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

impl Keeper {
    fn run(&mut self) {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(64);
        loop {
            if self.socket.is_none() && self.pipes.is_empty() {
                return;
            }
            events.clear();
            match epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut events),
                None,
            ) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            }
            for event in events.iter() {
                let token = event.data.u64();
                if token == SOCKET {
                    self.read_socket();
                } else if self.socket.is_some() {
                    // Watching only: every writer is gone, steward drains
                    // the rest from its own copy.
                    self.close_pipe(token);
                } else {
                    self.drain(token);
                }
            }
        }
    }

    /// Takes every message steward sent; on EOF switches to draining.
    fn read_socket(&mut self) {
        let mut buf = vec![0u8; MSG_MAX];
        loop {
            let Some(socket) = &self.socket else { return };
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let got = rustix::net::recvmsg(
                socket,
                &mut [IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
            );
            let fds: Vec<OwnedFd> = control
                .drain()
                .flat_map(|m| match m {
                    RecvAncillaryMessage::ScmRights(fds) => fds.collect(),
                    _ => Vec::new(),
                })
                .collect();
            match got {
                Ok(msg) if msg.bytes == 0 => return self.steward_gone(),
                Ok(msg) => {
                    if msg.bytes <= buf.len() {
                        self.message(&buf[..msg.bytes], fds);
                    }
                }
                Err(rustix::io::Errno::AGAIN) => return,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return self.steward_gone(),
            }
        }
    }

    fn message(&mut self, msg: &[u8], fds: Vec<OwnedFd>) {
        match msg.split_first() {
            Some((&MSG_SECRET, secret)) => {
                if let Ok(s) = std::str::from_utf8(secret) {
                    self.secrets.push(s.to_string());
                }
            }
            Some((&MSG_PIPES, rest)) if rest.len() >= 5 => {
                let pid = i32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
                let which = rest[4];
                let Ok(account) = std::str::from_utf8(&rest[5..]) else {
                    return;
                };
                // The account names a file: only a valid id ever does.
                if super::id::validate(account).is_err() {
                    return;
                }
                let names = [(1, "stdout"), (2, "stderr")]
                    .into_iter()
                    .filter(|(bit, _)| which & bit != 0)
                    .map(|(_, name)| name);
                for (fd, stream) in fds.into_iter().zip(names) {
                    self.add_pipe(fd, account, stream, pid);
                }
            }
            _ => {}
        }
    }

    fn add_pipe(&mut self, fd: OwnedFd, account: &str, stream: &'static str, pid: i32) {
        let token = self.next;
        self.next += 1;
        // No events: epoll still reports EPOLLHUP (every writer gone) and
        // EPOLLERR, which is all the keeper needs while steward reads.
        if epoll::add(
            &self.epoll,
            &fd,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::empty(),
        )
        .is_err()
        {
            return;
        }
        self.pipes.insert(
            token,
            Pipe {
                fd,
                account: account.to_string(),
                stream,
                pid,
                partial: Vec::new(),
            },
        );
    }

    fn close_pipe(&mut self, token: u64) {
        if let Some(pipe) = self.pipes.remove(&token) {
            let _ = epoll::delete(&self.epoll, &pipe.fd);
        }
    }

    /// steward's end closed (it died, or exited after stopping every worker):
    /// read every pipe still held from now on.
    fn steward_gone(&mut self) {
        if let Some(socket) = self.socket.take() {
            let _ = epoll::delete(&self.epoll, &socket);
        }
        self.redactor = Redactor::new(&self.secrets);
        let tokens: Vec<u64> = self.pipes.keys().copied().collect();
        for token in tokens {
            let ok = self.pipes.get(&token).is_some_and(|pipe| {
                epoll::modify(
                    &self.epoll,
                    &pipe.fd,
                    epoll::EventData::new_u64(token),
                    epoll::EventFlags::IN,
                )
                .is_ok()
            });
            if !ok {
                self.close_pipe(token);
            }
        }
    }

    /// Reads what one pipe holds now and appends its lines to the account's
    /// log; closes the pipe at EOF.
    fn drain(&mut self, token: u64) {
        let Some(pipe) = self.pipes.get_mut(&token) else {
            return;
        };
        let mut lines: Vec<String> = Vec::new();
        let mut buf = [0u8; 4096];
        let redactor = &self.redactor;
        let cut = |b: &[u8], at| redactor.safe_cut(b, at);
        let closed = loop {
            match rustix::io::read(&pipe.fd, &mut buf) {
                Ok(0) => break true,
                Ok(n) => output::split(
                    pipe.stream,
                    &mut pipe.partial,
                    &buf[..n],
                    &cut,
                    &mut |_, l| lines.push(l),
                ),
                Err(rustix::io::Errno::AGAIN) => break false,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break true,
            }
            // Bounded batches: a flood must not grow this process either.
            if lines.len() >= 256 {
                break false;
            }
        };
        if closed && !pipe.partial.is_empty() {
            lines.push(output::text(&std::mem::take(&mut pipe.partial)));
        }
        let (account, stream, pid) = (pipe.account.clone(), pipe.stream, pipe.pid);
        self.write(&account, stream, pid, lines, closed);
        if closed {
            self.close_pipe(token);
        }
    }

    /// Appends `lines`, masked and within the caps, to the account's log;
    /// `last` also writes the marker of anything dropped.
    fn write(&mut self, account: &str, stream: &str, pid: i32, lines: Vec<String>, last: bool) {
        let budget = self.budgets.entry(account.to_string()).or_default();
        let now = Instant::now();
        let mut out = String::new();
        for line in lines {
            let line = self.redactor.mask(&line);
            let stamp = utc_stamp(crate::time::now_ms());
            let entry = format!("{stamp} {stream} pid {pid} steward gone: {line}\n");
            let size = entry.len() as u64;
            if budget
                .window
                .is_none_or(|w| now.duration_since(w).as_secs() >= 1)
            {
                budget.window = Some(now);
                budget.in_window = 0;
            }
            let over = budget.in_window + size > MAX_RATE
                || budget.written + size > MAX_PER_ACCOUNT
                || self.total + size > MAX_TOTAL;
            if over {
                budget.dropped_lines += 1;
                budget.dropped_bytes += size;
                continue;
            }
            if budget.dropped_lines > 0 {
                out.push_str(&dropped_marker(budget));
            }
            budget.in_window += size;
            budget.written += size;
            self.total += size;
            out.push_str(&entry);
        }
        if last && budget.dropped_lines > 0 {
            out.push_str(&dropped_marker(budget));
        }
        if !out.is_empty() {
            let _ = append(&self.logs, account, out.as_bytes());
        }
    }
}

/// The marker for what `budget` dropped since the last one; resets the count.
fn dropped_marker(budget: &mut Budget) -> String {
    let text = format!(
        "{} keeper: {} lines ({} bytes) dropped over the cap (steward gone)\n",
        utc_stamp(crate::time::now_ms()),
        budget.dropped_lines,
        budget.dropped_bytes
    );
    budget.dropped_lines = 0;
    budget.dropped_bytes = 0;
    text
}

/// Opens (each time: a rotation by the next steward moves the file away, and
/// the keeper follows) `logs/accounts/<account>.log` and appends `bytes`.
/// The umask is 077, and the modes are explicit anyway: 0700 dirs, 0600 file.
fn append(logs: &Path, account: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(logs)?;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(logs.join(format!("{account}.log")))?;
    file.write_all(bytes)
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(super) fn utc_stamp(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_stamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_stamp(1_796_678_407_123), "2026-12-07T21:20:07.123Z");
    }

    #[test]
    fn a_flood_is_capped_and_the_drop_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut keeper = Keeper {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC).unwrap(),
            socket: None,
            logs: dir.path().join("accounts"),
            pipes: HashMap::new(),
            next: 1,
            secrets: vec!["hunter2-secret".into()],
            redactor: Redactor::new(["hunter2-secret"]),
            budgets: HashMap::new(),
            total: 0,
        };
        let line = "x".repeat(1000);
        let lines: Vec<String> = (0..1000).map(|_| line.clone()).collect();
        keeper.write(
            "alice",
            "stdout",
            7,
            vec!["key=hunter2-secret".into()],
            false,
        );
        keeper.write("alice", "stdout", 7, lines, true);
        let text = std::fs::read_to_string(dir.path().join("accounts/alice.log")).unwrap();
        assert!(!text.contains("hunter2"), "a secret was written");
        assert!(
            text.contains("stdout pid 7 steward gone: key=***"),
            "{text:.200}"
        );
        assert!(text.len() as u64 <= MAX_RATE + 200, "{} bytes", text.len());
        let marker = text.lines().last().unwrap();
        assert!(
            marker.contains("lines") && marker.contains("dropped"),
            "{marker}"
        );
        let kept = text.lines().filter(|l| l.ends_with(&line)).count();
        let dropped: usize = marker.split(' ').nth(2).unwrap().parse().unwrap();
        assert_eq!(kept + dropped, 1000);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("accounts")), 0o700);
        assert_eq!(mode(&dir.path().join("accounts/alice.log")), 0o600);
    }
}
