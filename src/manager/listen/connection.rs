//! One client of the control socket: its hello, its requests (each answered
//! once, by id) and, once it subscribed, the snapshots and log lines it is
//! sent. Everything a client can make steward hold is bounded: one request
//! line, the requests in flight, the frames queued for it, and how long it
//! may leave a frame unread.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};
use tracing::{info, warn};

use super::Served;
use crate::link::frames::{FrameError, encode, read_frame};
use crate::manager::handle::Call;
use crate::model::{
    Answer, Ask, Hello, LogLevel, LogLine, PROTOCOL_VERSION, Request, Role, Welcome,
};

/// The longest request line taken: a command is a few hundred bytes.
pub(super) const REQUEST_LIMIT: usize = 64 * 1024;
/// How long a client has to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(5);
/// How long one frame may wait for a client that does not read before the
/// client is disconnected (it never slows the manager or other clients).
pub(super) const STUCK_LIMIT: Duration = Duration::from_secs(10);
/// Commands of one client carried out at once; more wait for a free slot.
const IN_FLIGHT: usize = 16;
/// Frames queued for the writer (replies); the reader waits when full.
const QUEUED: usize = 64;
/// How long a connection that has not subscribed may stay silent: a
/// command-line client asks at once; 64 silent ones would lock out `stop`.
pub(super) const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// What the writer sends next.
enum Out {
    Frame(Vec<u8>),
    /// A reply whose value is an already-encoded snapshot.
    SnapshotReply {
        id: u64,
        json: Arc<str>,
    },
    Subscribe {
        logs: bool,
    },
}

/// Serves one accepted, credential-checked connection until it closes.
pub(super) async fn serve(stream: UnixStream, served: Served, who: String) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let hello =
        match tokio::time::timeout(HELLO_WITHIN, read_frame(&mut reader, REQUEST_LIMIT)).await {
            Ok(Ok(Some(line))) => {
                serde_json::from_slice::<Hello>(&line).map_err(|e| format!("not a hello: {e}"))
            }
            Ok(Ok(None)) => return,
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no hello within {}s", HELLO_WITHIN.as_secs())),
        };
    let hello = match hello {
        Ok(h) if h.protocol == PROTOCOL_VERSION => h,
        Ok(h) => {
            let text = format!(
                "protocol version {} is not spoken here (this instance speaks {PROTOCOL_VERSION}: run the same steward version)",
                h.protocol
            );
            return refuse(&mut write, &who, &text).await;
        }
        Err(text) => return refuse(&mut write, &who, &text).await,
    };
    let client = format!("{who} {}", hello.client).trim().to_string();
    let welcome = Welcome {
        protocol: PROTOCOL_VERSION,
        pid: served.welcome.pid,
        version: served.welcome.version.clone(),
        data_dir: served.welcome.data_dir.clone(),
        role: hello.role,
    };
    if send(&mut write, &frame("welcome", &welcome)).await.is_err() {
        return;
    }
    info!(client = %client, role = ?hello.role, "control socket: client connected");
    let (out, queued) = mpsc::channel(QUEUED);
    let mut writer = tokio::spawn(write_loop(write, queued, served.clone(), client.clone()));
    tokio::select! {
        // The client closed (or broke the protocol): the writer sends the
        // replies still due, then ends.
        () = read_loop(reader, out, served, hello.role) => { let _ = writer.await; }
        // The client stopped reading, or the instance stopped.
        _ = &mut writer => {}
    }
    info!(client = %client, "control socket: client gone");
}

async fn read_loop(
    mut reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    out: mpsc::Sender<Out>,
    served: Served,
    role: Role,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut subscribed = false;
    loop {
        let read = read_frame(&mut reader, REQUEST_LIMIT);
        let read = if subscribed {
            read.await
        } else {
            match tokio::time::timeout(IDLE_LIMIT, read).await {
                Ok(read) => read,
                Err(_) => {
                    let text = format!("silent for {}s: closing", IDLE_LIMIT.as_secs());
                    let _ = out.send(Out::Frame(error_frame(&text))).await;
                    return;
                }
            }
        };
        let line = match read {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(FrameError::TooLong { limit }) => {
                let text = format!("a request longer than {limit} bytes: closing");
                let _ = out.send(Out::Frame(error_frame(&text))).await;
                return;
            }
            Err(FrameError::Io(_)) => return,
        };
        let request = match parse(&line) {
            Ok(request) => request,
            Err((Some(id), text)) => {
                let reply = reply_frame(id, &Answer::error(text));
                if out.send(Out::Frame(reply)).await.is_err() {
                    return;
                }
                continue;
            }
            Err((None, text)) => {
                let _ = out
                    .send(Out::Frame(error_frame(&format!("{text}: closing"))))
                    .await;
                return;
            }
        };
        let id = request.id;
        let sent = match request.ask {
            Ask::Status => {
                let snapshot = served.snapshots.borrow().clone();
                out.send(Out::SnapshotReply {
                    id,
                    json: served.json.of(&snapshot),
                })
                .await
            }
            Ask::Subscribe { logs } => {
                subscribed = true;
                if out.send(Out::Subscribe { logs }).await.is_err() {
                    return;
                }
                out.send(Out::Frame(reply_frame(id, &Answer::ok("subscribed"))))
                    .await
            }
            Ask::Command { .. } if role == Role::View => {
                let refusal = Answer::error("this connection is read-only: commands are refused");
                out.send(Out::Frame(reply_frame(id, &refusal))).await
            }
            Ask::Command { command } => {
                // Waits for a slot: a client cannot have more than IN_FLIGHT
                // commands running, and reading stops until one ends.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (out, calls) = (out.clone(), served.calls.clone());
                tokio::spawn(async move {
                    let (reply, answer) = oneshot::channel();
                    let answer = match calls.send(Call { command, reply }).await {
                        Ok(()) => answer
                            .await
                            .unwrap_or_else(|_| Answer::error("the instance is shutting down")),
                        Err(_) => Answer::error("the instance is shutting down"),
                    };
                    let _ = out.send(Out::Frame(reply_frame(id, &answer))).await;
                    drop(slot);
                });
                Ok(())
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// A request, or why not (with its id when the line had one, so the client
/// can match the error to what it sent).
fn parse(line: &[u8]) -> Result<Request, (Option<u64>, String)> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| (None, format!("invalid JSON: {e}")))?;
    let id = value.get("id").and_then(|v| v.as_u64());
    if id.is_none() {
        return Err((None, "a request without a numeric id".to_string()));
    }
    serde_json::from_value(value).map_err(|e| (id, format!("unknown request: {e}")))
}

async fn write_loop(
    mut write: OwnedWriteHalf,
    mut queued: mpsc::Receiver<Out>,
    served: Served,
    client: String,
) {
    let mut snapshots: Option<tokio::sync::watch::Receiver<Arc<crate::model::Snapshot>>> = None;
    let mut logs: Option<broadcast::Receiver<Arc<LogLine>>> = None;
    loop {
        let written = tokio::select! {
            // Replies first: a client waiting for one is not kept behind snapshots.
            biased;
            next = queued.recv() => match next {
                // The client closed its sending side and every reply is
                // sent: the connection (and its subscription) ends. Streaming
                // on to a half-closed client would keep a fully closed one
                // (a detached dashboard) until the next snapshot, which at
                // idle may never come.
                None => return,
                Some(Out::Frame(frame)) => timed(&mut write, &[&frame]).await,
                Some(Out::SnapshotReply { id, json }) => {
                    let head = format!(r#"{{"frame":"reply","id":{id},"ok":true,"text":"status","value":"#);
                    timed(&mut write, &[head.as_bytes(), json.as_bytes(), b"}\n"]).await
                }
                Some(Out::Subscribe { logs: with_logs }) => {
                    let mut receiver = served.snapshots.clone();
                    receiver.mark_changed();
                    snapshots = Some(receiver);
                    if with_logs {
                        logs = Some(crate::logging::feed().subscribe());
                    }
                    Ok(())
                }
            },
            changed = changed(&mut snapshots) => match changed {
                Some(snapshot) => send_snapshot(&mut write, &served, &snapshot).await,
                // The manager is gone: its last snapshot was sent; end here.
                None => return,
            },
            line = next_line(&mut logs) => {
                timed(&mut write, &[&frame("log", &*line)]).await
            }
            () = served.closing.cancelled() => {
                // The instance stopped: its last snapshot, if not sent yet.
                if let Some(receiver) = &mut snapshots
                    && receiver.has_changed().unwrap_or(false)
                {
                    let snapshot = receiver.borrow_and_update().clone();
                    let _ = send_snapshot(&mut write, &served, &snapshot).await;
                }
                return;
            }
        };
        if let Err(e) = written {
            if e.kind() == std::io::ErrorKind::TimedOut {
                warn!(client = %client, limit_s = STUCK_LIMIT.as_secs(), "control socket: client stopped reading; disconnected");
            }
            return;
        }
    }
}

/// The next snapshot once it changed; `None` once the manager is gone;
/// never without a subscription.
async fn changed(
    snapshots: &mut Option<tokio::sync::watch::Receiver<Arc<crate::model::Snapshot>>>,
) -> Option<Arc<crate::model::Snapshot>> {
    let Some(receiver) = snapshots else {
        return std::future::pending().await;
    };
    match receiver.changed().await {
        Ok(()) => Some(receiver.borrow_and_update().clone()),
        Err(_) => None,
    }
}

/// The next log line, or a line saying how many a slow client missed.
async fn next_line(logs: &mut Option<broadcast::Receiver<Arc<LogLine>>>) -> Arc<LogLine> {
    let Some(receiver) = logs else {
        return std::future::pending().await;
    };
    match receiver.recv().await {
        Ok(line) => line,
        Err(broadcast::error::RecvError::Lagged(missed)) => Arc::new(LogLine {
            at_ms: crate::time::now_ms(),
            level: LogLevel::Warn,
            target: "steward::control_socket".into(),
            text: format!("{missed} log lines skipped: this client read too slowly"),
        }),
        Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
    }
}

async fn send_snapshot(
    write: &mut OwnedWriteHalf,
    served: &Served,
    snapshot: &crate::model::Snapshot,
) -> std::io::Result<()> {
    let json = served.json.of(snapshot);
    timed(
        write,
        &[
            br#"{"frame":"snapshot","snapshot":"#,
            json.as_bytes(),
            b"}\n",
        ],
    )
    .await
}

/// Writes `parts` as one frame within `STUCK_LIMIT`.
async fn timed(write: &mut OwnedWriteHalf, parts: &[&[u8]]) -> std::io::Result<()> {
    let all = async {
        for part in parts {
            write.write_all(part).await?;
        }
        write.flush().await
    };
    tokio::time::timeout(STUCK_LIMIT, all)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

async fn send(write: &mut OwnedWriteHalf, frame: &[u8]) -> std::io::Result<()> {
    timed(write, &[frame]).await
}

/// Says why, then closes.
pub(super) async fn refuse(write: &mut OwnedWriteHalf, who: &str, text: &str) {
    warn!(client = %who, reason = %text, "control socket: connection refused");
    let _ = send(write, &error_frame(text)).await;
    let _ = write.shutdown().await;
}

/// `{"frame": kind, ...value's fields}` as one line.
fn frame(kind: &str, value: &impl Serialize) -> Vec<u8> {
    let mut object = serde_json::to_value(value).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut object {
        map.insert("frame".into(), kind.into());
    }
    encode(&object)
}

pub(super) fn error_frame(text: &str) -> Vec<u8> {
    encode(&serde_json::json!({ "frame": "error", "text": text }))
}

fn reply_frame(id: u64, answer: &Answer) -> Vec<u8> {
    let mut object =
        serde_json::json!({ "frame": "reply", "id": id, "ok": answer.ok, "text": answer.text });
    if let Some(value) = &answer.value {
        object["value"] = value.clone();
    }
    encode(&object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_request_keeps_its_id_when_it_has_one() {
        assert_eq!(parse(br#"{"id":4,"ask":"fly"}"#).unwrap_err().0, Some(4));
        assert_eq!(parse(b"{nope").unwrap_err().0, None);
        assert_eq!(parse(br#"{"ask":"status"}"#).unwrap_err().0, None);
        assert_eq!(
            parse(br#"{"id":5,"ask":"status"}"#).unwrap().ask,
            Ask::Status
        );
    }

    #[test]
    fn frames_are_one_line_and_read_back() {
        let reply = reply_frame(
            9,
            &Answer::ok("fine").with_value(serde_json::json!({"gid": "a"})),
        );
        assert_eq!(reply.iter().filter(|b| **b == b'\n').count(), 1);
        let back = crate::model::ServerFrame::parse(&reply).unwrap();
        assert!(matches!(
            back,
            crate::model::ServerFrame::Reply {
                id: 9,
                ok: true,
                ..
            }
        ));
    }
}
