//! Publishing: builds `Snapshot`s from the subsystems' state, sends them only
//! when something changed, and mirrors them to `<data-dir>/status.json` so
//! `steward status` in another shell reads exactly what the TUI shows.
//! It keeps its own pace: snapshots at most every `MIN_GAP`, the file at most
//! every `STATUS_FILE_EVERY` (both faster during a shutdown).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::warn;

use crate::model::{
    AccountView, Aria2View, HostView, Instance, LastShutdown, Notice, NoticeLevel, PendingItem,
    PhaseState, ShutdownView, Snapshot, SweepTotals, SweepView, TaskView, TempView,
};
use crate::proc::Usage;
use crate::time::now_ms;

/// Notices kept in snapshots.
const NOTICES_KEPT: usize = 20;
/// Snapshots are rebuilt at most this often: a burst of changes (500 workers
/// stopping at once) costs a few rebuilds, not one per change.
const MIN_GAP: Duration = Duration::from_millis(16);
/// During a shutdown: every worker changes state twice within a few tens of
/// ms, and each rebuild copies every account (a few ms with 500 of them, on
/// the cores the stopping workers need); 10 progress frames a second, the
/// status file's pace too, is plenty for the progress view.
const MIN_GAP_SHUTDOWN: Duration = Duration::from_millis(100);
/// A rebuild (the views copied, compared, sent) costs in proportion to the
/// fleet: 3,000 accounts starting would spend most of a core rebuilding every
/// `MIN_GAP`. The gap is kept at least this many times the last rebuild's
/// cost, so rebuilding takes at most a fifth of the loop's time.
const COST_FACTOR: u32 = 4;
/// However slow a rebuild, a snapshot at least this often.
const MAX_GAP: Duration = Duration::from_secs(1);
/// The status file is rewritten at most this often; during a shutdown, which
/// `steward stop` follows through it, at most every `STATUS_FILE_SHUTDOWN`.
const STATUS_FILE_EVERY: Duration = Duration::from_secs(1);
const STATUS_FILE_SHUTDOWN: Duration = Duration::from_millis(100);

pub(super) struct Publisher {
    tx: watch::Sender<Arc<Snapshot>>,
    seq: u64,
    notices: VecDeque<Notice>,
    notice_seq: u64,
    status_file: PathBuf,
    status_written: Option<Instant>,
    status_dirty: bool,
    /// Widens the gaps (see `MIN_GAP_SHUTDOWN`).
    shutting_down: bool,
    last_publish: Option<Instant>,
    /// What the last rebuild took (see `COST_FACTOR`).
    last_cost: Duration,
    /// A publish held back by the gap.
    publish_due: Option<Instant>,
    /// Published since the last quiet moment (see `burst_ended`).
    published_since_quiet: bool,
}

/// The parts a snapshot is made of.
#[derive(Default)]
pub(super) struct Parts {
    pub instance: Instance,
    pub accounts: Vec<AccountView>,
    pub tasks: Vec<TaskView>,
    pub aria2: Option<Aria2View>,
    pub temp: Option<TempView>,
    pub host: Option<HostView>,
    pub sweep: Option<SweepView>,
    pub shutdown: Option<ShutdownView>,
    pub last_shutdown: Option<LastShutdown>,
    pub last_shutdown_took_ms: Option<u64>,
    pub sweeps: SweepTotals,
    pub usage: HashMap<i32, Usage>,
    /// Session-lock holders by the pid of the worker they were read for.
    pub holders: HashMap<i32, Vec<i32>>,
    /// Adopted descendants outside their worker's group, by account.
    pub escaped: HashMap<String, Vec<i32>>,
}

impl Publisher {
    /// A publisher mirroring its snapshots to `status_file`.
    pub fn new(status_file: PathBuf) -> (Publisher, watch::Receiver<Arc<Snapshot>>) {
        let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        (
            Publisher {
                tx,
                seq: 0,
                notices: VecDeque::new(),
                notice_seq: 0,
                status_file,
                status_written: None,
                status_dirty: false,
                shutting_down: false,
                last_publish: None,
                last_cost: Duration::ZERO,
                publish_due: None,
                published_since_quiet: true,
            },
            rx,
        )
    }

    /// From now on the shutdown's pace applies.
    pub fn shutting_down(&mut self) {
        self.shutting_down = true;
    }

    /// Something in the snapshot may have changed: true when one should be
    /// built now; otherwise one is held back until the gap has passed.
    pub fn changed(&mut self) -> bool {
        let floor = if self.shutting_down {
            MIN_GAP_SHUTDOWN
        } else {
            MIN_GAP
        };
        let gap = floor.max((self.last_cost * COST_FACTOR).min(MAX_GAP));
        let now = Instant::now();
        match self.last_publish {
            Some(last) if now < last + gap => {
                self.publish_due.get_or_insert(last + gap);
                false
            }
            _ => true,
        }
    }

    /// Resolves when a held-back snapshot or status-file write is due.
    pub async fn due(&self) {
        let status = self.status_dirty.then(|| self.status_due());
        match self.publish_due.into_iter().chain(status).min() {
            Some(t) => tokio::time::sleep_until(t).await,
            None => std::future::pending().await,
        }
    }

    /// After `due`: writes the status file if its gap has passed; true when a
    /// held-back snapshot is waiting to be built.
    pub fn on_due(&mut self) -> bool {
        self.write_status();
        self.publish_due.is_some()
    }

    /// True once per quiet moment after publishing: a burst (workers
    /// starting, snapshots rebuilt) has ended, and what it freed can go back.
    pub fn burst_ended(&mut self) -> bool {
        std::mem::take(&mut self.published_since_quiet)
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

    /// The snapshot published last.
    pub fn latest(&self) -> Arc<Snapshot> {
        self.tx.borrow().clone()
    }

    /// Sends a new snapshot if it differs from the last one, then writes the
    /// status file if its gap has passed.
    /// `parts` is called here, so its cost counts in the rebuild's.
    pub fn publish(&mut self, parts: impl FnOnce() -> Parts) {
        let start = Instant::now();
        self.last_publish = Some(start);
        self.publish_due = None;
        self.published_since_quiet = true;
        self.send(parts());
        self.last_cost = start.elapsed();
        self.write_status();
    }

    fn send(&mut self, parts: Parts) {
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

    /// The last snapshot to the status file now, whatever the gap: the
    /// manager is about to end.
    pub fn write_status_now(&mut self) {
        self.status_written = None;
        self.write_status();
    }

    /// Writes the status file if it changed and its gap has passed.
    fn write_status(&mut self) {
        let due = self
            .status_written
            .is_none_or(|t| t.elapsed() >= self.status_gap());
        if !self.status_dirty || !due {
            return;
        }
        let snap = self.tx.borrow().clone();
        if let Err(e) = write_atomically(&self.status_file, &snap) {
            warn!(error = %e, path = %self.status_file.display(), "cannot write status file");
        }
        self.status_written = Some(Instant::now());
        self.status_dirty = false;
    }

    /// During a shutdown `steward stop` follows the status file: keep it fresher.
    fn status_gap(&self) -> Duration {
        if self.shutting_down {
            STATUS_FILE_SHUTDOWN
        } else {
            STATUS_FILE_EVERY
        }
    }

    /// When a pending change may be written: one gap after the last write
    /// (now if there was none), not one gap after the loop last went quiet,
    /// so a reader never waits more than one gap for a change.
    fn status_due(&self) -> Instant {
        self.status_written
            .map_or_else(Instant::now, |t| t + self.status_gap())
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
        host,
        sweep,
        mut shutdown,
        last_shutdown,
        last_shutdown_took_ms,
        sweeps,
        usage,
        holders,
        escaped,
    } = parts;
    for account in &mut accounts {
        let w = &mut account.worker;
        let sample = w.pid.and_then(|pid| usage.get(&pid));
        w.cpu_percent = sample.map(|u| u.cpu_percent);
        w.cpu_seconds = sample.map(|u| u.cpu_seconds);
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
        host,
        sweep,
        shutdown,
        last_shutdown,
        last_shutdown_took_ms,
        sweeps,
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

    #[tokio::test]
    async fn a_held_back_status_write_is_due_one_gap_after_the_last_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let (mut publisher, _rx) = Publisher::new(path.clone());
        publisher.notice(NoticeLevel::Info, "one");
        publisher.publish(Parts::default);
        let written = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(!publisher.status_dirty);
        // A change right after: held back, due one gap after that write.
        publisher.notice(NoticeLevel::Info, "two");
        publisher.publish(Parts::default);
        assert!(publisher.status_dirty, "written again within the gap");
        let due = publisher.status_due();
        assert!(due > Instant::now() && due <= Instant::now() + STATUS_FILE_EVERY);
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            written
        );
        // The loop's timer lands it; no snapshot was held back.
        tokio::time::timeout(STATUS_FILE_EVERY * 10, publisher.due())
            .await
            .expect("the write came due");
        assert!(!publisher.on_due());
        assert!(!publisher.status_dirty);
        assert!(std::fs::read_to_string(&path).unwrap().contains("two"));
    }

    #[tokio::test]
    async fn a_costly_rebuild_widens_the_gap_to_keep_the_loop_free() {
        let dir = tempfile::tempdir().unwrap();
        let (mut publisher, _rx) = Publisher::new(dir.path().join("status.json"));
        let cost = Duration::from_millis(20);
        publisher.publish(|| {
            std::thread::sleep(cost);
            Parts::default()
        });
        assert!(!publisher.changed());
        let gap = publisher.publish_due.unwrap() - publisher.last_publish.unwrap();
        assert!(gap >= cost * COST_FACTOR && gap <= MAX_GAP, "{gap:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn snapshots_are_built_at_most_once_per_gap_and_slower_in_a_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let (mut publisher, rx) = Publisher::new(dir.path().join("status.json"));
        assert!(publisher.changed());
        publisher.publish(Parts::default);
        assert!(!publisher.changed(), "held back within the gap");
        assert!(!publisher.changed());
        let t0 = Instant::now();
        publisher.due().await;
        assert_eq!(t0.elapsed(), MIN_GAP);
        assert!(publisher.on_due(), "the held-back snapshot is due");
        assert!(publisher.changed());
        publisher.shutting_down();
        let seq = rx.borrow().seq;
        publisher.publish(Parts::default);
        assert_eq!(rx.borrow().seq, seq, "the same snapshot is not sent twice");
        assert!(!publisher.changed());
        let t1 = Instant::now();
        publisher.due().await;
        assert_eq!(t1.elapsed(), MIN_GAP_SHUTDOWN);
        assert!(publisher.burst_ended());
        assert!(!publisher.burst_ended(), "once per quiet moment");
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
