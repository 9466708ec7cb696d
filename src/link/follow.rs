//! An instance followed over its control socket, in the shape the dashboard
//! drives: snapshots on a `watch`, commands into an `mpsc`, the instance's
//! log lines re-emitted as this process's own tracing events (so the Logs
//! pane shows them). The snapshot channel closes when the instance goes.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::client::{Client, Frames, LinkError, Requests};
use crate::model::{Ask, Command, LogLevel, LogLine, ServerFrame, Snapshot, Welcome};

/// Commands queued for the instance before the dashboard waits.
const COMMANDS_QUEUED: usize = 64;

/// A followed instance.
pub struct Followed {
    pub welcome: Welcome,
    pub commands: mpsc::Sender<Command>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Ends when the connection does; says why.
    pub ended: JoinHandle<Result<(), LinkError>>,
}

/// Subscribes (with the log when `logs`) and waits for the first snapshot.
pub async fn follow(mut client: Client, logs: bool) -> Result<Followed, LinkError> {
    client.send(Ask::Subscribe { logs }).await?;
    let first = loop {
        match client.next().await? {
            Some(ServerFrame::Snapshot { snapshot }) => break parse(&snapshot)?,
            Some(ServerFrame::Log(line)) => emit(&line),
            Some(ServerFrame::Error { text }) => return Err(LinkError::Refused(text)),
            Some(_) => {}
            None => return Err(LinkError::Closed),
        }
    };
    let welcome = client.welcome.clone();
    let (frames, requests) = client.split();
    let (snapshot_tx, snapshots) = watch::channel(Arc::new(first));
    let (commands, queued) = mpsc::channel(COMMANDS_QUEUED);
    tokio::spawn(send_commands(requests, queued));
    let ended = tokio::spawn(read_frames(frames, snapshot_tx));
    Ok(Followed {
        welcome,
        commands,
        snapshots,
        ended,
    })
}

async fn send_commands(mut requests: Requests, mut queued: mpsc::Receiver<Command>) {
    while let Some(command) = queued.recv().await {
        if requests.send(Ask::Command { command }).await.is_err() {
            return;
        }
    }
}

/// Until the connection ends: snapshots onto the watch, log lines into
/// tracing. Replies need nothing: every outcome also comes back as a notice
/// in the next snapshot, as it does for the embedded dashboard.
async fn read_frames(
    mut frames: Frames,
    snapshots: watch::Sender<Arc<Snapshot>>,
) -> Result<(), LinkError> {
    loop {
        match frames.next().await? {
            Some(ServerFrame::Snapshot { snapshot }) => {
                snapshots.send_replace(Arc::new(parse(&snapshot)?));
            }
            Some(ServerFrame::Log(line)) => emit(&line),
            Some(ServerFrame::Reply {
                ok: false, text, ..
            }) => {
                tracing::warn!(target: "instance", "refused: {text}");
            }
            Some(ServerFrame::Error { text }) => return Err(LinkError::Refused(text)),
            Some(_) => {}
            None => return Ok(()),
        }
    }
}

fn parse(raw: &serde_json::value::RawValue) -> Result<Snapshot, LinkError> {
    serde_json::from_str(raw.get()).map_err(|e| LinkError::Garbled(format!("snapshot: {e}")))
}

/// The instance's log line as a local event, its level kept.
fn emit(line: &LogLine) {
    let (target, text) = (&line.target, &line.text);
    match line.level {
        LogLevel::Error => tracing::error!(target: "instance", "{target}: {text}"),
        LogLevel::Warn => tracing::warn!(target: "instance", "{target}: {text}"),
        LogLevel::Info => tracing::info!(target: "instance", "{target}: {text}"),
        LogLevel::Debug => tracing::debug!(target: "instance", "{target}: {text}"),
        LogLevel::Trace => tracing::trace!(target: "instance", "{target}: {text}"),
    }
}
