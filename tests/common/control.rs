//! A raw client of a running instance's control socket, for the tests that
//! probe the socket itself: a std `UnixStream`, frames written and read by
//! hand (so a test can send anything), every read bounded by a deadline.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long one read waits before the test calls the instance hung.
pub const READ_LIMIT: Duration = Duration::from_secs(20);

/// One connection to `<data-dir>/control.sock`.
pub struct Raw {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: u64,
}

/// How a connection the instance should give up on ended.
#[derive(Debug)]
pub struct Ending {
    /// Every line read before the end (the instance owes at most one: an error frame).
    pub lines: Vec<String>,
    /// Connection reset rather than a clean end of stream.
    pub reset: bool,
}

impl Raw {
    /// Connects, without a hello.
    pub fn connect(dir: &Path) -> io::Result<Raw> {
        let stream = UnixStream::connect(dir.join("control.sock"))?;
        stream.set_read_timeout(Some(READ_LIMIT))?;
        stream.set_write_timeout(Some(READ_LIMIT))?;
        Ok(Raw {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
            next_id: 1,
        })
    }

    /// Connects and says hello as `role`; panics unless welcomed.
    pub fn hello(dir: &Path, role: &str) -> Raw {
        let mut raw = Raw::connect(dir).expect("connect to the control socket");
        raw.send(&format!(
            r#"{{"protocol":1,"role":"{role}","client":"test"}}"#
        ))
        .expect("send hello");
        let welcome = raw.frame().expect("a welcome");
        assert_eq!(welcome["frame"], "welcome", "{welcome}");
        raw
    }

    /// The stream itself (for what the helpers do not cover).
    pub fn stream(&self) -> &UnixStream {
        &self.writer
    }

    /// Writes `line` and a newline.
    pub fn send(&mut self, line: &str) -> io::Result<()> {
        self.send_bytes(format!("{line}\n").as_bytes())
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// The next line as JSON; `None` at the end of the stream. Panics when
    /// nothing comes within `READ_LIMIT` or the line is not JSON.
    pub fn frame(&mut self) -> Option<serde_json::Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(
                serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {}", head(&line))),
            ),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("no frame within {READ_LIMIT:?}: {e}"),
        }
    }

    /// Sends `{"id":N, <ask>}` and returns the reply with id N (snapshot and
    /// log frames in between are skipped) and how long it took.
    pub fn ask(&mut self, ask: &str) -> (serde_json::Value, Duration) {
        let id = self.next_id;
        self.next_id += 1;
        let started = Instant::now();
        self.send(&format!(r#"{{"id":{id},{ask}}}"#))
            .expect("send a request");
        loop {
            let frame = self.frame().expect("a reply before the end of the stream");
            if frame["frame"] == "reply" && frame["id"] == id {
                return (frame, started.elapsed());
            }
            assert_ne!(frame["frame"], "error", "{frame}");
        }
    }

    /// A status round trip: the snapshot, and how long it took.
    pub fn status(&mut self) -> (serde_json::Value, Duration) {
        let (reply, took) = self.ask(r#""ask":"status""#);
        assert_eq!(reply["ok"], true, "{reply}");
        (reply["value"].clone(), took)
    }

    /// Reads until the instance ends the connection (within `limit`), keeping
    /// every line; panics if it is still open after `limit`.
    pub fn ending(mut self, limit: Duration) -> Ending {
        let end = Instant::now() + limit;
        let mut lines = Vec::new();
        let mut line = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the instance kept the connection open for {limit:?}; read {} lines",
                lines.len()
            );
            self.reader
                .get_ref()
                .set_read_timeout(Some(left))
                .expect("set a read timeout");
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    return Ending {
                        lines,
                        reset: false,
                    };
                }
                Ok(_) => {
                    if line.ends_with(b"\n") {
                        lines.push(String::from_utf8_lossy(&line).trim_end().to_string());
                        line.clear();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Ending { lines, reset: true };
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("reading until the end: {e}"),
            }
        }
    }
}

impl Raw {
    /// Reads and drops whatever comes until the instance ends the
    /// connection (within `limit`; a frame cut short counts too); returns
    /// the bytes read.
    pub fn drain(mut self, limit: Duration) -> usize {
        let end = Instant::now() + limit;
        let mut total = 0;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the instance kept the connection open for {limit:?}"
            );
            self.reader
                .get_ref()
                .set_read_timeout(Some(left))
                .expect("set a read timeout");
            match io::Read::read(&mut self.reader, &mut buf) {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return total,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("reading until the end: {e}"),
            }
        }
    }
}

/// The start of a long line, for a failure message.
pub fn head(line: &str) -> String {
    line.chars().take(300).collect()
}

impl Ending {
    /// At most one line, and that one an error frame: what the instance owes
    /// a client it closes on. Returns the error's text, if one was sent.
    pub fn at_most_one_error(&self) -> Option<String> {
        let heads: Vec<String> = self.lines.iter().map(|l| head(l)).collect();
        assert!(self.lines.len() <= 1, "more than one line: {heads:?}");
        let line = self.lines.first()?;
        let frame: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {}", head(line)));
        assert_eq!(
            frame["frame"],
            "error",
            "not an error frame: {}",
            head(line)
        );
        Some(frame["text"].as_str().unwrap_or_default().to_string())
    }
}

/// VmRSS of `pid` in bytes.
pub fn vm_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
