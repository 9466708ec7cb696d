//! `steward stop [--force]`: asks the running instance to shut down and prints
//! its progress, phase by phase, from the status file it keeps current.
//! Plain `stop` sends SIGUSR1, which steward treats as "graceful, idempotent":
//! however many `stop`s run, at once or one after another, none escalates.
//! Only `--force` (SIGUSR2) forces. (SIGTERM keeps its meaning for systemd and
//! `kill`: the first is graceful, a second forces.) Signals go through
//! `proc`'s identity-checked send.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::failure::Failure;
use super::globals::{Globals, lock_state};
use super::text;
use crate::lock::LockState;
use crate::manager::read_status_file;
use crate::model::ShutdownView;
use crate::proc::{self, ProcId, Sig};
use crate::time::{human_between, now_ms, secs_until};

/// How often the status file is read while following the shutdown.
const POLL: Duration = Duration::from_millis(50);
/// How long to wait for the instance to start its plan after the signal.
const ACK_LIMIT: Duration = Duration::from_secs(10);

pub(super) fn run(globals: &Globals, force: bool) -> Result<(), Failure> {
    let root = globals.data_dir.root().display().to_string();
    let pid = match lock_state(globals)? {
        LockState::Free => {
            return Err(Failure::runtime(format!("no steward is running on {root}")));
        }
        LockState::HeldBy(None) => {
            return Err(Failure::runtime(format!(
                "a steward holds {root} but its pid is unreadable (stop it by hand)"
            )));
        }
        LockState::HeldBy(Some(pid)) => pid,
    };
    let target = ProcId::of(pid)
        .map_err(|_| Failure::runtime(format!("steward pid {pid} is gone already")))?;
    let status_file = globals.data_dir.status_file();
    // (A status file of an earlier, killed steward is not this one's progress.)
    let progress = || {
        read_status_file(&status_file)
            .filter(|s| s.instance.pid == pid)
            .and_then(|s| s.shutdown)
    };
    if force {
        send(&target, Sig::Usr2)?;
        text::outln!("forcing steward pid {pid} to shut down: SIGKILL to every worker now");
    } else if progress().is_some() {
        text::outln!("steward pid {pid} is already shutting down; following its progress");
    } else {
        send(&target, Sig::Usr1)?;
        text::outln!("asked steward pid {pid} to shut down");
    }
    let started = Instant::now();
    let mut printed: HashMap<String, String> = HashMap::new();
    let mut last: Option<ShutdownView> = None;
    loop {
        if let Some(view) = progress() {
            print_changes(&view, &mut printed);
            last = Some(view);
        } else if started.elapsed() > ACK_LIMIT {
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
        if !target.is_alive() {
            break;
        }
        std::thread::sleep(POLL);
    }
    match last {
        Some(view) => text::outln!("{}", super::run::summary(&view)),
        None => text::outln!("steward: pid {pid} has exited"),
    }
    Ok(())
}

fn send(target: &ProcId, sig: Sig) -> Result<(), Failure> {
    match proc::signal(target, sig) {
        Ok(()) | Err(proc::SignalError::Gone) => Ok(()),
        Err(e) => Err(Failure::runtime(format!(
            "cannot signal steward pid {}: {e}",
            target.pid
        ))),
    }
}

/// Prints a line for every phase whose state (or pending list) changed.
fn print_changes(view: &ShutdownView, printed: &mut HashMap<String, String>) {
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
