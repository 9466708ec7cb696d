//! A worker's stdout and stderr, read by one task into whole lines. The task
//! waits for readiness and reads into a buffer on the thread's stack, so a
//! quiet worker costs no read buffer at all (a `BufReader` per stream held
//! 8 KiB each, 16 MB for 1,000 idle workers). It never blocks the worker: both
//! pipes are drained whenever they have data, until both are closed.

use std::io;
use std::os::fd::OwnedFd;

use tokio::net::unix::pipe::Receiver;

/// Longest line kept whole; a longer one is cut into pieces of this size so a
/// worker printing without newlines cannot grow steward's memory unbounded.
pub(super) const MAX_LINE: usize = 16 * 1024;
/// Read size per `read(2)`; lives on the stack only while draining.
const CHUNK: usize = 4096;

/// One of the worker's output pipes and its unfinished last line.
pub(super) struct Stream {
    name: &'static str,
    pipe: Option<Receiver>,
    /// Bytes after the last newline; empty (no allocation) between lines.
    partial: Vec<u8>,
}

impl Stream {
    /// Wraps a child's pipe end; `None` (logged by the caller) if tokio cannot
    /// register it.
    pub(super) fn new(name: &'static str, fd: OwnedFd) -> io::Result<Stream> {
        Ok(Stream {
            name,
            pipe: Some(Receiver::from_owned_fd(fd)?),
            partial: Vec::new(),
        })
    }

    fn open(&self) -> bool {
        self.pipe.is_some()
    }

    /// Reads everything available now and hands each complete line to `line`.
    /// Closes the stream on EOF or an error (flushing an unfinished line).
    fn drain(
        &mut self,
        cut: &impl Fn(&[u8], usize) -> usize,
        line: &mut impl FnMut(&'static str, String),
    ) {
        let Some(pipe) = &self.pipe else { return };
        let mut buf = [0u8; CHUNK];
        let closed = loop {
            match pipe.try_read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => split(self.name, &mut self.partial, &buf[..n], cut, line),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        if closed {
            self.pipe = None;
            if !self.partial.is_empty() {
                let rest = std::mem::take(&mut self.partial);
                line(self.name, text(&rest));
            }
        }
    }
}

/// Waits until `stream` has data or hit EOF; never for a closed or absent one.
async fn readable(stream: &Option<Stream>) {
    match stream.as_ref().and_then(|s| s.pipe.as_ref()) {
        // An error means the registration is gone: `drain` then reads EOF or
        // the error and closes the stream.
        Some(pipe) => {
            let _ = pipe.readable().await;
        }
        None => std::future::pending().await,
    }
}

/// Appends `bytes` to `partial` and hands out each line completed. A line
/// too long to keep is cut where `cut(line, MAX_LINE)` says (at most there):
/// the caller's place that splits no secret, since each piece is masked alone.
pub(super) fn split(
    name: &'static str,
    partial: &mut Vec<u8>,
    mut bytes: &[u8],
    cut: &impl Fn(&[u8], usize) -> usize,
    line: &mut impl FnMut(&'static str, String),
) {
    while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
        let piece = &bytes[..end];
        if partial.is_empty() {
            line(name, text(piece));
        } else {
            partial.extend_from_slice(piece);
            // `take` frees the buffer: a quiet worker keeps none.
            let whole = std::mem::take(partial);
            line(name, text(&whole));
        }
        bytes = &bytes[end + 1..];
    }
    partial.extend_from_slice(bytes);
    while partial.len() >= MAX_LINE {
        // At least one byte per piece, so the loop always ends.
        let at = cut(partial, MAX_LINE).clamp(1, MAX_LINE);
        let rest = partial.split_off(at);
        let piece = std::mem::replace(partial, rest);
        line(name, text(&piece));
    }
    if partial.is_empty() {
        *partial = Vec::new();
    }
}

/// A line as text: a trailing `\r` dropped, invalid UTF-8 replaced (a worker
/// printing binary must not end its own log forwarding).
pub(super) fn text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// Forwards lines from both streams to `line(stream_name, text)` until both
/// are closed (the worker and every process it left holding them are gone).
/// `cut` picks where an overlong line is cut (see `split`).
pub(super) async fn forward(
    mut streams: [Option<Stream>; 2],
    cut: impl Fn(&[u8], usize) -> usize,
    mut line: impl FnMut(&'static str, String),
) {
    loop {
        let [a, b] = &mut streams;
        if !a.as_ref().is_some_and(Stream::open) && !b.as_ref().is_some_and(Stream::open) {
            return;
        }
        tokio::select! {
            () = readable(a) => {
                if let Some(s) = a.as_mut() { s.drain(&cut, &mut line) }
            }
            () = readable(b) => {
                if let Some(s) = b.as_mut() { s.drain(&cut, &mut line) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(chunks: &[&[u8]]) -> (Vec<String>, Vec<u8>) {
        let mut partial = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks {
            split("stdout", &mut partial, chunk, &|_, at| at, &mut |_, l| {
                out.push(l)
            });
        }
        (out, partial)
    }

    #[test]
    fn lines_split_across_reads_come_out_whole() {
        let (lines, rest) = lines_of(&[b"one\ntw", b"o\r\nthr", b"ee"]);
        assert_eq!(lines, vec!["one", "two"]);
        assert_eq!(rest, b"three");
    }

    #[test]
    fn an_endless_line_is_cut_and_invalid_utf8_replaced() {
        let long = vec![b'x'; MAX_LINE + 10];
        let (lines, rest) = lines_of(&[&long, b"\xff\n"]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1], format!("{}\u{fffd}", "x".repeat(10)));
        assert!(rest.is_empty() && rest.capacity() == 0);
    }

    #[test]
    fn a_secret_across_the_cut_of_an_endless_line_is_still_masked() {
        let secret = "hunter2-very-secret";
        let redactor = crate::redact::Redactor::new([secret]);
        // The secret straddles MAX_LINE, and arrives in two reads.
        let mut long = vec![b'x'; MAX_LINE - 5];
        long.extend_from_slice(secret.as_bytes());
        long.extend_from_slice(&[b'y'; 100]);
        let (first, second) = long.split_at(MAX_LINE - 2);
        let mut partial = Vec::new();
        let mut out = Vec::new();
        for chunk in [first, second, b"\n"] {
            split(
                "stdout",
                &mut partial,
                chunk,
                &|buf, at| redactor.safe_cut(buf, at),
                &mut |_, l| out.push(redactor.mask(&l).into_owned()),
            );
        }
        assert_eq!(out.len(), 2);
        assert!(
            out.iter()
                .all(|l| !l.contains("hunter") && !l.contains("secret"))
        );
        assert!(out[1].starts_with("***y"), "{}", &out[1][..10]);
        assert_eq!(out[0].len() + out[1].len(), MAX_LINE - 5 + 3 + 100);
    }

    #[tokio::test]
    async fn both_streams_are_forwarded_until_both_close() {
        let mut child = tokio::process::Command::new("sh")
            .args([
                "-c",
                "echo out1; echo err1 >&2; printf 'out2'; sleep 0.05; echo err2 >&2",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap().into_owned_fd().unwrap();
        let err = child.stderr.take().unwrap().into_owned_fd().unwrap();
        let streams = [
            Some(Stream::new("stdout", out).unwrap()),
            Some(Stream::new("stderr", err).unwrap()),
        ];
        let mut got = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(20),
            forward(
                streams,
                |_, at| at,
                |name, l| got.push(format!("{name}: {l}")),
            ),
        )
        .await
        .expect("forwarding ends when the worker exits");
        let _ = child.wait().await;
        got.sort();
        assert_eq!(
            got,
            vec![
                "stderr: err1",
                "stderr: err2",
                "stdout: out1",
                "stdout: out2"
            ]
        );
    }
}
