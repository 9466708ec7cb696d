//! `steward stop [--force] [--json]`: asks the running instance, over its
//! control socket, to shut down and prints its progress, phase by phase,
//! from the snapshots it streams, then the summary once it has closed the
//! connection after its last snapshot. Plain `stop` is graceful and
//! idempotent: however many `stop`s run, at once or one after another, none
//! escalates (the manager ignores a graceful request while a shutdown runs).
//! Only `--force` forces. (SIGTERM keeps its meaning for systemd and `kill`:
//! the first is graceful, a second forces.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::failure::Failure;
use super::globals::{Globals, lock_state};
use super::instance::{self, link_failure};
use super::text;
use crate::link::Client;
use crate::lock::LockState;
use crate::model::{Ask, Command, ServerFrame, ShutdownView};
use crate::time::{human_between, now_ms, secs_until};

/// How long to wait for the instance to start its plan after the request.
const ACK_LIMIT: Duration = Duration::from_secs(10);
/// How long the instance gets, after closing the connection, to release
/// its lock (so a `status` right after `stop` sees it stopped).
const EXIT_LIMIT: Duration = Duration::from_secs(10);
const EXIT_POLL: Duration = Duration::from_millis(20);

/// The part of a streamed snapshot `stop` reads (the rest is skipped).
#[derive(Deserialize)]
struct Progress {
    shutdown: Option<ShutdownView>,
}

pub(super) fn run(globals: &Globals, force: bool, json: bool) -> Result<(), Failure> {
    let root = globals.data_dir.root().display().to_string();
    let Some(mut instance) = instance::reach(globals, "steward stop")? else {
        return Err(Failure::runtime(format!("no steward is running on {root}")));
    };
    let pid = instance.pid();
    let last = instance
        .runtime
        .block_on(follow(&mut instance.client, pid, force, json))?;
    let gone_by = Instant::now() + EXIT_LIMIT;
    while matches!(lock_state(globals)?, LockState::HeldBy(_)) && Instant::now() < gone_by {
        std::thread::sleep(EXIT_POLL);
    }
    let line = match &last {
        Some(view) => super::run::summary(view),
        None => format!("steward: pid {pid} has exited"),
    };
    if json {
        // A ShutdownView is plain data: encoding it cannot fail.
        let value = last
            .as_ref()
            .and_then(|v| serde_json::value::to_raw_value(v).ok());
        instance::print_json(true, &line, value.as_deref());
    } else {
        text::println(&line);
    }
    Ok(())
}

/// Subscribes, asks for the shutdown (unless one runs and this is no
/// force), and prints the phases as they change until the instance closes
/// the connection. Returns the last shutdown view seen.
async fn follow(
    client: &mut Client,
    pid: i32,
    force: bool,
    json: bool,
) -> Result<Option<ShutdownView>, Failure> {
    client
        .send(Ask::Subscribe { logs: false })
        .await
        .map_err(link_failure)?;
    // The first snapshot comes at once: it says whether a shutdown runs.
    let running = loop {
        match client.next().await.map_err(link_failure)? {
            Some(ServerFrame::Snapshot { snapshot }) => break progress_of(&snapshot)?,
            Some(ServerFrame::Error { text }) => return Err(Failure::runtime(text)),
            Some(_) => continue,
            None => return Ok(None),
        }
    };
    let say = |line: String| {
        if !json {
            text::println(&line);
        }
    };
    let mut asked = None;
    if force {
        asked = Some(send_shutdown(client, true).await?);
        say(format!(
            "forcing steward pid {pid} to shut down: SIGKILL to every worker now"
        ));
    } else if running.is_some() {
        say(format!(
            "steward pid {pid} is already shutting down; following its progress"
        ));
    } else {
        asked = Some(send_shutdown(client, false).await?);
        say(format!("asked steward pid {pid} to shut down"));
    }
    let mut printed: HashMap<String, String> = HashMap::new();
    let mut last: Option<ShutdownView> = None;
    if let Some(view) = running {
        print_changes(&view, &mut printed, json);
        last = Some(view);
    }
    let acked_by = tokio::time::Instant::now() + ACK_LIMIT;
    loop {
        let frame = if last.is_some() {
            client.next().await
        } else {
            match tokio::time::timeout_at(acked_by, client.next()).await {
                Ok(frame) => frame,
                Err(_) => {
                    let hint = if force {
                        "it may be stuck: check `steward status`"
                    } else {
                        "try: steward stop --force"
                    };
                    return Err(Failure::runtime(format!(
                        "steward pid {pid} did not start shutting down within {}s ({hint})",
                        ACK_LIMIT.as_secs()
                    )));
                }
            }
        };
        match frame.map_err(link_failure)? {
            Some(ServerFrame::Snapshot { snapshot }) => {
                if let Some(view) = progress_of(&snapshot)? {
                    print_changes(&view, &mut printed, json);
                    last = Some(view);
                }
            }
            Some(ServerFrame::Reply {
                id,
                ok: false,
                text,
                ..
            }) if Some(id) == asked && last.is_none() => {
                return Err(Failure::runtime(text));
            }
            Some(ServerFrame::Error { text }) => return Err(Failure::runtime(text)),
            Some(_) => {}
            // The instance has ended: its last snapshot was the last frame.
            None => return Ok(last),
        }
    }
}

async fn send_shutdown(client: &mut Client, force: bool) -> Result<u64, Failure> {
    client
        .send(Ask::Command {
            command: Command::Shutdown { force },
        })
        .await
        .map_err(link_failure)
}

fn progress_of(snapshot: &serde_json::value::RawValue) -> Result<Option<ShutdownView>, Failure> {
    serde_json::from_str::<Progress>(snapshot.get())
        .map(|p| p.shutdown)
        .map_err(|e| Failure::runtime(format!("unreadable snapshot from the instance: {e}")))
}

/// Prints a line for every phase whose state (or pending list) changed
/// (nothing with `--json`, whose one line comes at the end).
fn print_changes(view: &ShutdownView, printed: &mut HashMap<String, String>, json: bool) {
    if json {
        return;
    }
    let now = now_ms();
    for phase in &view.phases {
        let mut line = format!("{:<14} {}", phase.name, phase.state.label());
        if let (Some(start), Some(end)) = (phase.started_ms, phase.ended_ms) {
            line.push_str(&format!(" in {}", human_between(start, end)));
        }
        if let Some(detail) = &phase.detail {
            line.push_str(&format!(" ({detail})"));
        }
        let waiting: Vec<String> = phase
            .pending
            .iter()
            .map(|p| match p.deadline_ms {
                Some(d) => format!(
                    "{} pid {:?} kill in {}s",
                    p.label,
                    p.pids,
                    secs_until(d, now)
                ),
                None => format!("{} pid {:?}", p.label, p.pids),
            })
            .collect();
        let key = format!("{line}|{}", waiting.len());
        if printed.get(&phase.name) != Some(&key) {
            text::outln!("{line}");
            if !waiting.is_empty() {
                text::outln!("  waiting for {}", waiting.join(", "));
            }
            printed.insert(phase.name.clone(), key);
        }
    }
}
