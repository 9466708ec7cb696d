//! A tiny HTTP/1.1 file server for tests: fixed in-memory files, `Range`
//! support (for resumed downloads) or, like some real servers, none (a
//! `Range` request gets the whole file with 200), an optional throttle, and
//! a log of the requests it saw.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The start of a `Range: bytes=N-` header, if any.
    pub range_start: Option<u64>,
}

pub struct FileServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FileServer {
    /// Serves `files` (URL path → bytes), at most `bytes_per_sec` per connection if given.
    pub async fn start(files: Vec<(&str, Vec<u8>)>, bytes_per_sec: Option<u64>) -> FileServer {
        Self::start_with(files, bytes_per_sec, true).await
    }

    /// `start`, with `ranges: false` for a server that ignores `Range`
    /// (no `Accept-Ranges`, always 200 and the whole file).
    pub async fn start_with(
        files: Vec<(&str, Vec<u8>)>,
        bytes_per_sec: Option<u64>,
        ranges: bool,
    ) -> FileServer {
        let files: Arc<HashMap<String, Arc<Vec<u8>>>> = Arc::new(
            files
                .into_iter()
                .map(|(p, b)| (p.to_owned(), Arc::new(b)))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let files = files.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, files, seen, bytes_per_sec, ranges).await;
                });
            }
        });
        FileServer { addr, seen, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    sock: tokio::net::TcpStream,
    files: Arc<HashMap<String, Arc<Vec<u8>>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    bytes_per_sec: Option<u64>,
    ranges: bool,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(sock);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut range_start = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range_start = value
                .trim()
                .strip_prefix("bytes=")
                .and_then(|r| r.split('-').next())
                .and_then(|n| n.parse::<u64>().ok());
        }
    }
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        range_start,
    });
    let mut sock = reader.into_inner();
    let Some(body) = files.get(&path) else {
        sock.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await?;
        return Ok(());
    };
    let total = body.len() as u64;
    let range_start = range_start.filter(|_| ranges);
    let start = range_start.unwrap_or(0).min(total);
    let head = if !ranges {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n")
    } else if range_start.is_some() {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{total}\r\n\
             Accept-Ranges: bytes\r\nConnection: close\r\n\r\n",
            total - start,
            total.saturating_sub(1)
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n"
        )
    };
    sock.write_all(head.as_bytes()).await?;
    if method == "HEAD" {
        return Ok(());
    }
    let began = Instant::now();
    let mut sent = 0u64;
    for chunk in body[start as usize..].chunks(16 * 1024) {
        sock.write_all(chunk).await?;
        sent += chunk.len() as u64;
        if let Some(rate) = bytes_per_sec {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(began.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    sock.shutdown().await
}

/// `len` bytes of a fixed pseudo-random pattern (xorshift), the same on every call.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// sha256 of a file, via coreutils' `sha256sum`.
pub fn sha256_file(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// sha256 of bytes, via `sha256sum` reading a temp file.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b");
    std::fs::write(&path, bytes).unwrap();
    sha256_file(&path)
}
