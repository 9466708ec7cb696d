//! Wakes the control loop when the store's files are written, so a commit by
//! another process (`steward account add` in another shell) is acted on at
//! once instead of at the next poll. An inotify watch on the WAL (where every
//! commit lands first) and on the database file (checkpoints); the loop then
//! asks the store whether the data changed (`PRAGMA data_version`), which
//! also tells our own writes apart. It only wakes: it never reads the
//! database itself, and a slow poll stays in place for what inotify cannot
//! see (a file system without it, a WAL deleted and made anew).
//! `StoreMonitor` owns the watch and its timers (poll, rechecks) for the loop.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use std::time::Duration;

use rustix::fs::inotify;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::warn;

/// How often the store is checked for commits by other processes when no
/// inotify watch tells (a CLI change takes effect within about this long: "a
/// couple of seconds"); with the watch, a commit is seen at once and the poll
/// is only a safety net.
const POLL: Duration = Duration::from_secs(2);
const POLL_WATCHED: Duration = Duration::from_secs(30);
/// After a store event that showed no new commit yet, it is looked for again
/// after these gaps (the committing process may be descheduled between its
/// WAL write and the index update that makes the commit visible).
const RECHECK: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

/// Why the monitor woke the loop: each asks it to look at the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StoreWake {
    /// A watched file was written.
    Written,
    /// A recheck after a wake that found no commit (round into `RECHECK`).
    Recheck(usize),
    /// The safety-net poll.
    Poll,
}

/// The watch and its timers: the loop awaits `next`, looks at the store, and
/// tells `looked` whether it found a commit.
pub(super) struct StoreMonitor {
    watch: Option<StoreWatch>,
    poll: Interval,
    recheck: Option<(Instant, usize)>,
}

impl StoreMonitor {
    pub fn new(db: &Path) -> StoreMonitor {
        let watch = StoreWatch::new(db);
        let every = if watch.is_some() {
            POLL_WATCHED
        } else {
            warn!("no inotify watch on the store: polling it every 2 s");
            POLL
        };
        let mut poll = tokio::time::interval(every);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        StoreMonitor {
            watch,
            poll,
            recheck: None,
        }
    }

    /// The next reason to look at the store.
    pub async fn next(&mut self) -> StoreWake {
        let recheck = self.recheck;
        tokio::select! {
            () = watched(self.watch.as_ref()) => StoreWake::Written,
            round = at(recheck) => {
                self.recheck = None;
                StoreWake::Recheck(round)
            }
            _ = self.poll.tick() => {
                if let Some(watch) = &self.watch {
                    watch.rewatch();
                }
                StoreWake::Poll
            }
        }
    }

    /// After looking: a wake that found no commit yet schedules a recheck.
    /// SQLite writes a commit's WAL frames (the event) before it publishes
    /// the commit in the shared-memory index (no event): look again shortly,
    /// a few times.
    pub fn looked(&mut self, wake: StoreWake, found: bool) {
        self.recheck = next_recheck(self.recheck, wake, found, Instant::now());
    }

    /// Ends the watching (the shutdown plan no longer reads the store).
    pub fn close(&mut self) {
        self.recheck = None;
        if let Some(watch) = self.watch.take() {
            watch.close_in_background();
        }
    }
}

/// The recheck due after looking at the store for `wake`.
fn next_recheck(
    pending: Option<(Instant, usize)>,
    wake: StoreWake,
    found: bool,
    now: Instant,
) -> Option<(Instant, usize)> {
    match wake {
        StoreWake::Written if !found => pending.or(Some((now + RECHECK[0], 0))),
        StoreWake::Recheck(round) if !found => {
            RECHECK.get(round + 1).map(|gap| (now + *gap, round + 1))
        }
        _ => pending,
    }
}

async fn watched(watch: Option<&StoreWatch>) {
    match watch {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
    }
}

async fn at(recheck: Option<(Instant, usize)>) -> usize {
    match recheck {
        Some((when, round)) => {
            tokio::time::sleep_until(when).await;
            round
        }
        None => std::future::pending().await,
    }
}

pub(super) struct StoreWatch {
    fd: AsyncFd<OwnedFd>,
    files: [PathBuf; 2],
}

impl StoreWatch {
    /// Watches `db` and its WAL; `None` where inotify is unavailable (the
    /// caller then polls often).
    pub fn new(db: &Path) -> Option<StoreWatch> {
        let fd =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).ok()?;
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        // SAFETY: an `OwnedFd` owned by the `AsyncFd` stays open, and is the
        // same descriptor, until the `AsyncFd` is dropped.
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok()?;
        let watch = StoreWatch {
            fd,
            files: [db.to_path_buf(), PathBuf::from(wal)],
        };
        watch.rewatch().then_some(watch)
    }

    /// (Re-)adds the watches: a file deleted and created again is a new inode
    /// the old watch does not see. Adding a watch that exists changes nothing.
    /// True when the WAL is watched (the file every commit writes).
    pub fn rewatch(&self) -> bool {
        let flags = inotify::WatchFlags::MODIFY;
        let added = self
            .files
            .iter()
            .map(|f| inotify::add_watch(self.fd.get_ref(), f, flags).is_ok())
            .collect::<Vec<_>>();
        added.last() == Some(&true)
    }

    /// Waits until a watched file was written, then drains every event already
    /// queued: a burst of writes is one wakeup. An error (never expected) ends
    /// the watching: the future then never completes and the poll remains.
    pub async fn changed(&self) {
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            let drained = guard.try_io(|fd| drain(fd.get_ref()));
            match drained {
                Ok(Ok(true)) => return,
                Ok(Ok(false)) | Err(_) => continue,
                Ok(Err(_)) => return std::future::pending().await,
            }
        }
    }

    /// Ends the watch without waiting for it: closing an inotify instance
    /// waits in the kernel for an SRCU grace period (`fsnotify_destroy_group`,
    /// measured at up to 15 ms here), so a shutdown hands the watch over the
    /// moment its plan begins and the wait overlaps the plan instead of
    /// adding to its end. Must run inside the tokio runtime.
    pub fn close_in_background(self) {
        // Deregistering from the reactor is quick; only the close waits.
        let fd = self.fd.into_inner();
        tokio::task::spawn_blocking(move || drop(fd));
    }
}

/// Reads every queued event; true if there was any. `WouldBlock` once the
/// queue is empty and nothing was read (tokio then waits for readiness again).
fn drain(fd: &OwnedFd) -> io::Result<bool> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 1024];
    let mut reader = inotify::Reader::new(fd, &mut buf);
    let mut any = false;
    loop {
        match reader.next() {
            Ok(_) => any = true,
            Err(rustix::io::Errno::AGAIN) if any => return Ok(true),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AccountRow, Store};

    #[test]
    fn a_wake_without_a_commit_is_rechecked_three_times_then_left() {
        let now = Instant::now();
        let first = next_recheck(None, StoreWake::Written, false, now);
        assert_eq!(first, Some((now + RECHECK[0], 0)));
        // More writes while one is pending do not push it back.
        assert_eq!(
            next_recheck(first, StoreWake::Written, false, now + RECHECK[0] / 2),
            first
        );
        let second = next_recheck(None, StoreWake::Recheck(0), false, now);
        assert_eq!(second, Some((now + RECHECK[1], 1)));
        let third = next_recheck(None, StoreWake::Recheck(1), false, now);
        assert_eq!(third, Some((now + RECHECK[2], 2)));
        assert_eq!(next_recheck(None, StoreWake::Recheck(2), false, now), None);
        // A commit found ends the chain; other wakes leave it as it is.
        assert_eq!(next_recheck(None, StoreWake::Recheck(0), true, now), None);
        assert_eq!(next_recheck(first, StoreWake::Written, true, now), first);
        assert_eq!(next_recheck(first, StoreWake::Poll, false, now), first);
    }

    #[tokio::test(start_paused = true)]
    async fn the_monitor_polls_when_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("steward.db");
        let _store = Store::open(&db).unwrap();
        let mut monitor = StoreMonitor::new(&db);
        // An interval's first tick is at once; the next one a poll later.
        assert_eq!(monitor.next().await, StoreWake::Poll);
        let before = Instant::now();
        assert_eq!(monitor.next().await, StoreWake::Poll);
        assert_eq!(before.elapsed(), POLL_WATCHED);
        monitor.looked(StoreWake::Written, false);
        assert_eq!(monitor.next().await, StoreWake::Recheck(0));
    }

    #[tokio::test]
    async fn a_commit_by_another_connection_wakes_the_watch() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("steward.db");
        let ours = Store::open(&db).unwrap();
        let version = ours.data_version().unwrap();
        let watch = StoreWatch::new(&db).expect("inotify on a local temp dir");
        // Another connection stands for another process (`steward account add`).
        let theirs = Store::open(&db).unwrap();
        theirs
            .add_account(&AccountRow {
                id: "a1".into(),
                name: "a1".into(),
                enabled: true,
                secret: None,
                created_ms: 0,
            })
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .expect("the commit woke the watch");
        assert_ne!(ours.data_version().unwrap(), version);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watch_closed_in_the_background_leaves_no_descriptor() {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("steward.db");
        let _store = Store::open(&db).unwrap();
        let watch = StoreWatch::new(&db).expect("inotify on a local temp dir");
        // An inotify descriptor lists the inodes it watches in its fdinfo:
        // this one, not another test's that got the same number later.
        let fdinfo = format!("/proc/self/fdinfo/{}", watch.fd.get_ref().as_raw_fd());
        let watched = format!("ino:{:x} ", std::fs::metadata(&db).unwrap().ino());
        let ours_open = || {
            std::fs::read_to_string(&fdinfo).is_ok_and(|info| {
                info.lines()
                    .any(|l| l.starts_with("inotify") && l.contains(&watched))
            })
        };
        assert!(ours_open());
        watch.close_in_background();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while ours_open() {
            assert!(
                std::time::Instant::now() < deadline,
                "the inotify descriptor stayed open"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
