//! The metrics endpoint's HTTP/1.1: one GET per connection, answered and
//! closed. Hand-written rather than hyper: two fixed routes and no body to
//! read, and the bounds are the point (a deadline on the whole request head
//! against slowloris, a cap on its size, a cap on connections, a deadline on
//! writing the answer); in this much code they are all in sight, where hyper
//! and its server utilities would add a dozen crates and leave the same
//! bounds to be set up around them.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use super::encode::{CONTENT_TYPE, encode_clock, encode_snapshot};
use crate::manager::liveness::Liveness;
use crate::model::Snapshot;
use crate::time::now_ms;

/// Connections served at once; one more is answered 503 and closed at once.
const MAX_CONNECTIONS: usize = 32;
/// The whole request head must arrive within this (slowloris is cut off).
const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// A request head larger than this is refused (431) unread.
const HEAD_LIMIT: usize = 8 * 1024;
/// How long a client gets to take the answer.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// After refusing a head that was too large: how long, and how much, of what
/// the client still sends is read and dropped before closing, so it reads
/// the 431 rather than a reset.
const DRAIN_DEADLINE: Duration = Duration::from_secs(1);
const DRAIN_LIMIT: usize = 2 * 1024 * 1024;

/// What a connection answers from.
#[derive(Clone)]
struct Served {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    liveness: Liveness,
    /// The snapshot part of the text (`encode_snapshot`) of the snapshot
    /// with this `seq`: an idle fleet publishes every few seconds, and
    /// scrapes in between send the same text again.
    cache: Arc<Mutex<Option<SnapshotText>>>,
}

/// A snapshot's `seq` and its text.
type SnapshotText = (u64, Arc<String>);

impl Served {
    fn snapshot_text(&self, snapshot: &Arc<Snapshot>) -> Arc<String> {
        // Plain data: a panic elsewhere leaves it usable.
        let cached = self.cache.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match cached {
            Some((seq, text)) if seq == snapshot.seq => text,
            _ => {
                let text = Arc::new(encode_snapshot(snapshot.clone()));
                *self.cache.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((snapshot.seq, text.clone()));
                text
            }
        }
    }
}

/// The listening socket and its connections.
pub(crate) struct MetricsServer {
    stop: CancellationToken,
    connections: TaskTracker,
}

impl MetricsServer {
    /// Binds `addr` (at once, so a taken port is said at start-up) and serves.
    pub fn open(
        addr: SocketAddr,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        liveness: Liveness,
    ) -> io::Result<MetricsServer> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = TcpListener::from_std(listener)?;
        let server = MetricsServer {
            stop: CancellationToken::new(),
            connections: TaskTracker::new(),
        };
        tokio::spawn(accept_loop(
            listener,
            Served {
                snapshots,
                liveness,
                cache: Arc::default(),
            },
            server.stop.clone(),
            server.connections.clone(),
        ));
        info!(%addr, "metrics endpoint listening (GET /metrics, /healthz)");
        Ok(server)
    }

    /// Stops accepting and ends the connections still open (each is bounded
    /// by its deadlines anyway; nobody waits for a scrape at shutdown).
    pub async fn close(self) {
        self.stop.cancel();
        self.connections.close();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.connections.wait()).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    served: Served,
    stop: CancellationToken,
    connections: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    while let Some(stream) =
        crate::manager::accept::next_connection(&stop, "metrics endpoint", || listener.accept())
            .await
    {
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let (served, stop) = (served.clone(), stop.clone());
                connections.spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = serve(stream, served) => {}
                    }
                    drop(slot);
                });
            }
            // Full: said without waiting (a full send buffer drops the
            // line, which is fine: the client is told by the close too).
            Err(_) => {
                let _ = stream.try_write(&response(
                    "503 Service Unavailable",
                    "text/plain; charset=utf-8",
                    b"too many connections\n",
                    "",
                ));
            }
        }
    }
}

/// Why no request head was read.
enum HeadError {
    TooLarge,
    Io,
}

async fn serve(mut stream: TcpStream, served: Served) {
    let head = match tokio::time::timeout(HEAD_DEADLINE, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(HeadError::TooLarge)) => {
            let answer = response(
                "431 Request Header Fields Too Large",
                "text/plain; charset=utf-8",
                b"request head too large\n",
                "",
            );
            if write(&mut stream, &answer).await {
                drain(&mut stream).await;
            }
            return;
        }
        Ok(Err(HeadError::Io)) => return,
        Err(_) => {
            let answer = response(
                "408 Request Timeout",
                "text/plain; charset=utf-8",
                b"request head not received in time\n",
                "",
            );
            let _ = write(&mut stream, &answer).await;
            return;
        }
    };
    let answer = route(&head, &served);
    let _ = write(&mut stream, &answer).await;
}

/// Reads up to the blank line that ends the head; never more than `HEAD_LIMIT`.
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Io);
        }
        let searched_from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&head[searched_from..], b"\r\n\r\n") {
            head.truncate(searched_from + end);
            return Ok(head);
        }
        if head.len() > HEAD_LIMIT {
            return Err(HeadError::TooLarge);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The answer to a request head.
fn route(head: &[u8], served: &Served) -> Vec<u8> {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next());
    let path = target
        .map(|t| t.split(|&b| b == b'?').next().unwrap_or_default())
        .unwrap_or_default();
    let text = "text/plain; charset=utf-8";
    match (method, path) {
        (b"GET", b"/metrics") => {
            // The borrow is dropped at once: the publisher never waits on a scrape.
            let snapshot = served.snapshots.borrow().clone();
            let text = served.snapshot_text(&snapshot);
            let clock = encode_clock(snapshot, now_ms());
            response_of(
                "200 OK",
                CONTENT_TYPE,
                &[text.as_bytes(), clock.as_bytes()],
                "",
            )
        }
        (b"GET", b"/healthz") => {
            if served.liveness.healthy() {
                response("200 OK", text, b"ok\n", "")
            } else {
                let idle = now_ms().saturating_sub(served.liveness.last_turn_ms());
                let body = format!(
                    "the control loop has not turned for {} ms, or just came out of a longer stall\n",
                    idle.max(0)
                );
                response("503 Service Unavailable", text, body.as_bytes(), "")
            }
        }
        (_, b"/metrics" | b"/healthz") => response(
            "405 Method Not Allowed",
            text,
            b"only GET\n",
            "Allow: GET\r\n",
        ),
        _ => response("404 Not Found", text, b"only /metrics and /healthz\n", ""),
    }
}

fn response(status: &str, content_type: &str, body: &[u8], extra_headers: &str) -> Vec<u8> {
    response_of(status, content_type, &[body], extra_headers)
}

/// The head, then the body's parts one after the other.
fn response_of(status: &str, content_type: &str, body: &[&[u8]], extra_headers: &str) -> Vec<u8> {
    let length: usize = body.iter().map(|part| part.len()).sum();
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n{extra_headers}\r\n"
    )
    .into_bytes();
    out.reserve(length);
    for part in body {
        out.extend_from_slice(part);
    }
    out
}

/// Writes the answer and ends the sending side; false when the client did
/// not take it in time.
async fn write(stream: &mut TcpStream, answer: &[u8]) -> bool {
    tokio::time::timeout(WRITE_DEADLINE, async {
        stream.write_all(answer).await?;
        stream.shutdown().await
    })
    .await
    .is_ok_and(|r| r.is_ok())
}

/// Reads and drops what the client still sends, bounded in time and size.
async fn drain(stream: &mut TcpStream) {
    let _ = tokio::time::timeout(DRAIN_DEADLINE, async {
        let mut chunk = [0u8; 16 * 1024];
        let mut total = 0;
        while total < DRAIN_LIMIT {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}
