//! Publishing: builds `Snapshot`s from the subsystems' state, sends them only
//! when something changed, and mirrors them to `<data-dir>/status.json` so
//! `steward status` in another shell reads exactly what the TUI shows.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::warn;

use crate::model::{
    AccountView, Aria2View, Instance, LastShutdown, Notice, NoticeLevel, PendingItem, PhaseState,
    ShutdownView, Snapshot, SweepView, TaskView, TempView,
};
use crate::proc::Usage;
use crate::time::now_ms;

/// Notices kept in snapshots.
const NOTICES_KEPT: usize = 20;

pub(super) struct Publisher {
    tx: watch::Sender<Arc<Snapshot>>,
    seq: u64,
    notices: VecDeque<Notice>,
    notice_seq: u64,
    status_written: Option<Instant>,
    status_dirty: bool,
}

/// The parts a snapshot is made of.
#[derive(Default)]
pub(super) struct Parts {
    pub instance: Instance,
    pub accounts: Vec<AccountView>,
    pub tasks: Vec<TaskView>,
    pub aria2: Option<Aria2View>,
    pub temp: Option<TempView>,
    pub sweep: Option<SweepView>,
    pub shutdown: Option<ShutdownView>,
    pub last_shutdown: Option<LastShutdown>,
    pub usage: HashMap<i32, Usage>,
    /// Session-lock holders by the pid of the worker they were read for.
    pub holders: HashMap<i32, Vec<i32>>,
    /// Adopted descendants outside their worker's group, by account.
    pub escaped: HashMap<String, Vec<i32>>,
}

impl Publisher {
    pub fn new() -> (Publisher, watch::Receiver<Arc<Snapshot>>) {
        let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        (
            Publisher {
                tx,
                seq: 0,
                notices: VecDeque::new(),
                notice_seq: 0,
                status_written: None,
                status_dirty: false,
            },
            rx,
        )
    }

    pub fn notice(&mut self, level: NoticeLevel, text: impl Into<String>) {
        self.notice_seq += 1;
        self.notices.push_back(Notice {
            seq: self.notice_seq,
            at_ms: now_ms(),
            level,
            text: text.into(),
        });
        while self.notices.len() > NOTICES_KEPT {
            self.notices.pop_front();
        }
    }

    /// Sends a new snapshot if it differs from the last one.
    pub fn publish(&mut self, parts: Parts) {
        let mut snap = build(parts);
        snap.notices = self.notices.iter().cloned().collect();
        let current = self.tx.borrow().clone();
        snap.seq = current.seq;
        if *current == snap {
            return;
        }
        self.seq += 1;
        snap.seq = self.seq;
        self.tx.send_replace(Arc::new(snap));
        self.status_dirty = true;
    }

    /// Writes the status file if it changed and the last write is at least
    /// `min_gap` ago (`Duration::ZERO`: now).
    pub fn write_status(&mut self, path: &Path, min_gap: Duration) {
        let due = self.status_written.is_none_or(|t| t.elapsed() >= min_gap);
        if !self.status_dirty || !due {
            return;
        }
        let snap = self.tx.borrow().clone();
        if let Err(e) = write_atomically(path, &snap) {
            warn!(error = %e, path = %path.display(), "cannot write status file");
        }
        self.status_written = Some(Instant::now());
        self.status_dirty = false;
    }

    /// Whether an unwritten change waits for the status file.
    pub fn status_pending(&self) -> bool {
        self.status_dirty
    }

    /// When a pending change may be written: `min_gap` after the last write
    /// (now if there was none), not `min_gap` after the loop last went
    /// quiet, so a reader never waits more than one gap for a change.
    pub fn status_due(&self, min_gap: Duration) -> Instant {
        self.status_written
            .map_or_else(Instant::now, |t| t + min_gap)
    }
}

/// Who holds an account's session lock, for the operator: the live
/// processes with the locked description, which while a worker runs include
/// steward's own copy (kept until the group is gone): steward's pid there
/// stands for that worker.
fn session_holders(holders: Option<&Vec<i32>>, steward: i32, worker: Option<i32>) -> Vec<i32> {
    let mut out: Vec<i32> = holders
        .into_iter()
        .flatten()
        .map(|&pid| match worker {
            Some(worker) if pid == steward => worker,
            _ => pid,
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn build(parts: Parts) -> Snapshot {
    let Parts {
        instance,
        mut accounts,
        tasks,
        aria2,
        temp,
        sweep,
        mut shutdown,
        last_shutdown,
        usage,
        holders,
        escaped,
    } = parts;
    for account in &mut accounts {
        let w = &mut account.worker;
        let sample = w.pid.and_then(|pid| usage.get(&pid));
        w.cpu_percent = sample.map(|u| u.cpu_percent);
        w.rss_bytes = sample.map(|u| u.rss_bytes);
        let read = w.pid.and_then(|pid| holders.get(&pid));
        w.lock_holders = session_holders(read, instance.pid, w.pid);
        w.escaped = escaped.get(&account.id).cloned().unwrap_or_default();
    }
    // Inside a running "stop workers" phase, the pending items are the workers
    // still alive: derived here from their own state, never stored twice.
    if let Some(view) = shutdown.as_mut() {
        for phase in &mut view.phases {
            if phase.name == "stop workers" && phase.state == PhaseState::Running {
                phase.pending = accounts
                    .iter()
                    .filter(|a| a.worker.state.is_active())
                    .map(|a| PendingItem {
                        label: a.id.clone(),
                        pids: a.worker.pid.into_iter().collect(),
                        deadline_ms: match a.worker.state {
                            crate::model::WorkerState::Stopping { deadline_ms } => {
                                Some(deadline_ms)
                            }
                            _ => None,
                        },
                    })
                    .collect();
            }
        }
    }
    Snapshot {
        seq: 0,
        instance,
        accounts,
        tasks,
        aria2,
        temp,
        sweep,
        shutdown,
        last_shutdown,
        notices: Vec::new(),
    }
}

fn write_atomically(path: &Path, snap: &Snapshot) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    // Streamed through a small buffer: with 1,000 accounts the text is about
    // 1 MB, which as one buffer was the largest allocation of an idle
    // instance. Compact: the pretty form is several times larger.
    // Private whatever the umask; a stale tmp file is made so too.
    let file = {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file
    };
    let mut out = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut out, snap).map_err(std::io::Error::other)?;
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, path)
}

/// Reads a status file written by a running manager.
pub fn read_status_file(path: &Path) -> Option<Snapshot> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_back_status_write_is_due_one_gap_after_the_last_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let gap = Duration::from_secs(1);
        let (mut publisher, _rx) = Publisher::new();
        publisher.notice(NoticeLevel::Info, "one");
        publisher.publish(Parts::default());
        publisher.write_status(&path, gap);
        let written = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(!publisher.status_pending());
        // A change right after: held back, due one gap after that write.
        publisher.notice(NoticeLevel::Info, "two");
        publisher.publish(Parts::default());
        publisher.write_status(&path, gap);
        assert!(publisher.status_pending(), "written again within the gap");
        let due = publisher.status_due(gap);
        assert!(due > Instant::now() && due <= Instant::now() + gap);
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            written
        );
    }

    #[test]
    fn steward_taking_a_session_lock_is_shown_as_the_worker_holding_it() {
        let held = vec![100, 7];
        assert_eq!(session_holders(Some(&held), 100, Some(200)), [7, 200]);
        // No worker running: the pid stays what /proc/locks says.
        assert_eq!(session_holders(Some(&held), 100, None), [7, 100]);
        assert_eq!(session_holders(Some(&vec![100]), 100, Some(200)), [200]);
        assert!(session_holders(None, 100, Some(200)).is_empty());
    }
}
