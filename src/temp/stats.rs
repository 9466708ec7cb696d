//! Temp stats: totals adjusted at once on create / release, and a throttled
//! background walker (on `spawn_blocking`) that recomputes the figures.
//!
//! The walker caches each directory's own entries keyed by its inode, mtime
//! and ctime: a directory whose entries did not change is not read again,
//! only `stat`ed, so a quiet 100,000-file tree in 1,000 directories costs
//! 1,000 `stat`s per pass. A file growing in place does not change its
//! directory's mtime, so every `FULL_EVERY`-th pass re-reads everything.
//! Readers never wait for a walk: they copy the last published `TempView`.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::fs::tree::{self as fsops, DirReader, Measure};
use crate::model::{TempOwnerView, TempView};
use crate::proc::ProcId;
use crate::store::{SharedStore, TempKind, TempRow};
use crate::time::QuietBackoff;
use crate::time::now_ms;

/// A walk with unchanged figures still announces itself this often.
const QUIET_REFRESH_MS: i64 = 60_000;
/// Every this many passes the walker re-reads unchanged directories too.
const FULL_EVERY: u32 = 12;
/// Deeper directories are not descended into.
const MAX_DEPTH: u32 = 256;
/// Walks at the plain interval after the start and after each new entry,
/// quiet or not: a worker fills its new TMPDIR in its first seconds, after
/// a walk that found it empty, and a backed-off walker would show that only
/// 8 intervals later.
const WARM_WALKS: u32 = 6;

/// The figures of one temp root and its walker. The registry owns it and
/// tells it of every create and release; a walk reads the registrations and
/// the registry's live guards itself.
pub(super) struct Stats {
    root: PathBuf,
    root_dev: u64,
    store: SharedStore,
    /// Paths that have a guard alive in this process (the registry's set).
    live: Arc<Mutex<HashSet<PathBuf>>>,
    view: Mutex<TempView>,
    /// Used by the (single) walk in progress only.
    cache: Mutex<Cache>,
    walking: AtomicBool,
    /// Fired after every change of the view, for a snapshot publisher.
    changed: Mutex<Option<Arc<Notify>>>,
    /// When a walk last announced its figures (unix ms).
    notified_ms: AtomicI64,
    /// Fired on every new entry: the walker comes back to its plain interval.
    created: Notify,
}

#[derive(Default)]
struct Cache {
    dirs: HashMap<PathBuf, DirCache>,
    passes: u32,
}

#[derive(Clone)]
struct DirCache {
    key: (u64, i64, i64, i64, i64),
    /// Files directly in this directory and their bytes / newest mtime.
    local: Measure,
    subdirs: Vec<OsString>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain figures: a panic elsewhere mid-update leaves them usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Stats {
    pub(super) fn new(
        root: PathBuf,
        root_dev: u64,
        store: SharedStore,
        live: Arc<Mutex<HashSet<PathBuf>>>,
    ) -> Stats {
        Stats {
            view: Mutex::new(TempView {
                root: root.clone(),
                ..Default::default()
            }),
            root,
            root_dev,
            store,
            live,
            cache: Mutex::default(),
            walking: AtomicBool::new(false),
            changed: Mutex::new(None),
            notified_ms: AtomicI64::new(0),
            created: Notify::new(),
        }
    }

    pub(super) fn view(&self) -> TempView {
        lock(&self.view).clone()
    }

    fn notify(&self) {
        if let Some(n) = lock(&self.changed).as_ref() {
            n.notify_one();
        }
    }

    pub(super) fn on_created(&self, kind: TempKind) {
        {
            let mut v = lock(&self.view);
            v.entries += 1;
            match kind {
                TempKind::Dir => v.dirs += 1,
                TempKind::File => v.files += 1,
            }
            v.oldest_ms.get_or_insert(now_ms());
        }
        self.created.notify_one();
        self.notify();
    }

    pub(super) fn on_removed(&self, m: &Measure) {
        {
            let mut v = lock(&self.view);
            v.entries = v.entries.saturating_sub(1);
            v.files = v.files.saturating_sub(m.files);
            v.dirs = v.dirs.saturating_sub(m.dirs);
            v.bytes = v.bytes.saturating_sub(m.bytes);
        }
        self.notify();
    }

    /// `on_removed` for `count` entries at once (one notification).
    pub(super) fn on_removed_many(&self, count: u64, total: &Measure) {
        if count == 0 {
            return;
        }
        {
            let mut v = lock(&self.view);
            v.entries = v.entries.saturating_sub(count);
            v.files = v.files.saturating_sub(total.files);
            v.dirs = v.dirs.saturating_sub(total.dirs);
            v.bytes = v.bytes.saturating_sub(total.bytes);
        }
        self.notify();
    }

    /// One full walk; blocking. Concurrent calls: the second returns at once.
    /// True when the figures changed.
    pub(super) fn walk(&self) -> bool {
        if self.walking.swap(true, Ordering::AcqRel) {
            return false;
        }
        lock(&self.view).walking = true;
        let started = Instant::now();
        let rows = {
            let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
            store.temp_entries()
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                warn!(error = %e, "temp stats: cannot read temp entries");
                Vec::new()
            }
        };
        let mut cache = lock(&self.cache);
        cache.passes = cache.passes.wrapping_add(1);
        let full = cache.passes % FULL_EVERY == 1;
        let mut seen = HashSet::new();
        let mut reader = DirReader::new();
        let dev = self.root_dev;
        // Top-level entries and what they hold.
        let mut tops: Vec<(PathBuf, Measure)> = Vec::new();
        if let Ok(read) = std::fs::read_dir(&self.root) {
            for entry in read.flatten() {
                let path = entry.path();
                // A directory's own stat is `walk_dir`'s first step: not
                // taken twice (the type comes with the directory listing).
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    let m = walk_dir(&mut reader, &mut cache.dirs, &path, dev, full, &mut seen, 0);
                    if m.dirs > 0 {
                        tops.push((path, m));
                        continue;
                    }
                }
                let Ok(md) = entry.metadata() else { continue };
                let m = if md.is_dir() && md.dev() == dev {
                    walk_dir(&mut reader, &mut cache.dirs, &path, dev, full, &mut seen, 0)
                } else {
                    let mut m = Measure {
                        newest_ms: md.mtime() * 1000 + md.mtime_nsec() / 1_000_000,
                        ..Default::default()
                    };
                    if md.is_dir() {
                        m.other_dev += 1;
                    } else {
                        m.files = 1;
                        m.bytes = md.len();
                    }
                    m
                };
                tops.push((path, m));
            }
        }
        cache.dirs.retain(|k, _| seen.contains(k));
        drop(cache);

        // Join with the registrations.
        let mut alive_cache: HashMap<(i32, u64), bool> = HashMap::new();
        let mut alive = |pid: i32, st: u64| {
            *alive_cache.entry((pid, st)).or_insert_with(|| {
                ProcId {
                    pid,
                    start_time: st,
                }
                .is_alive()
            })
        };
        let mut view = TempView {
            root: self.root.clone(),
            entries: rows.len() as u64,
            ..Default::default()
        };
        let mut owners: HashMap<(i32, u64, Option<String>), TempOwnerView> = HashMap::new();
        let mut sizes = Vec::new();
        // A path whose guard this process holds is not orphaned whatever its
        // owner does: steward removes it itself. Its owner (a worker) is then
        // taken as alive without a read of its /proc/PID/stat, which at 1,000
        // workers was a third of each walk.
        let guarded: HashSet<PathBuf> = lock(&self.live).clone();
        for row in &rows {
            let is_alive =
                guarded.contains(&row.path) || alive(row.owner_pid, row.owner_start_time);
            if !is_alive {
                view.orphaned += 1;
            }
            let o = owners
                .entry((row.owner_pid, row.owner_start_time, row.account.clone()))
                .or_insert_with(|| TempOwnerView {
                    pid: row.owner_pid,
                    start_time: row.owner_start_time,
                    account: row.account.clone(),
                    alive: is_alive,
                    ..Default::default()
                });
            o.entries += 1;
            view.oldest_ms = Some(
                view.oldest_ms
                    .map_or(row.created_ms, |o| o.min(row.created_ms)),
            );
        }
        // Each row under the top-level entry that holds it (the first row
        // wins, as a linear search would): one lookup per entry instead of a
        // scan of every row, which made each walk O(entries x rows).
        let mut by_top: HashMap<PathBuf, &TempRow> = HashMap::with_capacity(rows.len());
        for row in &rows {
            if let Some(top) = top_level(&self.root, &row.path) {
                by_top.entry(top).or_insert(row);
            }
        }
        for (path, m) in &tops {
            view.files += m.files;
            view.dirs += m.dirs;
            view.bytes += m.bytes;
            let row = by_top.get(path).copied();
            match row {
                Some(row) => {
                    if let Some(o) =
                        owners.get_mut(&(row.owner_pid, row.owner_start_time, row.account.clone()))
                    {
                        o.files += m.files;
                        o.dirs += m.dirs;
                        o.bytes += m.bytes;
                    }
                    let bytes = i64::try_from(m.bytes).unwrap_or(i64::MAX);
                    if row.path == *path && row.bytes != Some(bytes) {
                        sizes.push((path.clone(), bytes));
                    }
                }
                None => {
                    view.untracked += 1;
                    if m.newest_ms > 0 {
                        view.oldest_ms =
                            Some(view.oldest_ms.map_or(m.newest_ms, |o| o.min(m.newest_ms)));
                    }
                }
            }
        }
        let mut owners: Vec<TempOwnerView> = owners.into_values().collect();
        owners.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.pid.cmp(&b.pid)));
        view.owners = owners;
        if !sizes.is_empty() {
            let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = store.set_temp_bytes(&sizes) {
                warn!(error = %e, "temp stats: cannot record sizes");
            }
        }
        view.walk_ms = started.elapsed().as_millis() as u64;
        view.refreshed_ms = now_ms();
        view.walking = false;
        // Only new figures are news: a walk that found what the last one did
        // updates its timestamps quietly (but at least once a minute, so "counted
        // Nm ago" stays true), and an idle instance publishes almost nothing.
        let quiet_for = view.refreshed_ms - self.notified_ms.load(Ordering::Acquire);
        let changed = {
            let mut current = lock(&self.view);
            let same = TempView {
                walk_ms: current.walk_ms,
                refreshed_ms: current.refreshed_ms,
                walking: current.walking,
                ..view.clone()
            } == *current;
            *current = view;
            !same
        };
        let news = changed || quiet_for >= QUIET_REFRESH_MS;
        self.walking.store(false, Ordering::Release);
        if news {
            self.notified_ms.store(now_ms(), Ordering::Release);
            self.notify();
        }
        changed
    }
}

/// The entry directly under `root` that holds `path` (`path` itself when it
/// is directly under `root`); `None` for `root` itself and paths outside it.
fn top_level(root: &Path, path: &Path) -> Option<PathBuf> {
    let first = path.strip_prefix(root).ok()?.components().next()?;
    Some(root.join(first))
}

fn walk_dir(
    reader: &mut DirReader,
    cache: &mut HashMap<PathBuf, DirCache>,
    path: &Path,
    dev: u64,
    full: bool,
    seen: &mut HashSet<PathBuf>,
    depth: u32,
) -> Measure {
    let mut total = Measure::default();
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return total;
    };
    if !md.is_dir() || md.dev() != dev || depth > MAX_DEPTH {
        return total;
    }
    total.dirs = 1;
    total.newest_ms = md.mtime() * 1000 + md.mtime_nsec() / 1_000_000;
    seen.insert(path.to_owned());
    let key = (
        md.ino(),
        md.mtime(),
        md.mtime_nsec(),
        md.ctime(),
        md.ctime_nsec(),
    );
    let cached = cache.get(path).filter(|c| !full && c.key == key).cloned();
    let entry = match cached {
        Some(c) => c,
        None => {
            // An unreadable directory counts as empty, as before.
            let contents = fsops::dir_contents(reader, path, dev).unwrap_or_default();
            let c = DirCache {
                key,
                local: contents.local,
                subdirs: contents.subdirs,
            };
            cache.insert(path.to_owned(), c.clone());
            c
        }
    };
    total.absorb(&entry.local);
    for sub in &entry.subdirs {
        let m = walk_dir(reader, cache, &path.join(sub), dev, full, seen, depth + 1);
        total.absorb(&m);
    }
    total
}

impl Stats {
    /// Fires `notify` after every change of the figures.
    pub(super) fn set_changed_notify(&self, notify: Arc<Notify>) {
        *lock(&self.changed) = Some(notify);
    }

    /// The walker described at `TempRegistry::spawn_stats_walker`.
    pub(super) fn spawn_walker(
        self: Arc<Self>,
        interval: Duration,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        // Walks that find nothing new space out to 8x the interval: what
        // steward itself creates and removes is counted as it happens anyway.
        let mut quiet = QuietBackoff::new(interval, interval * 8);
        tokio::spawn(async move {
            let mut warm = WARM_WALKS;
            loop {
                let started = Instant::now();
                let walker = self.clone();
                let walk = tokio::task::spawn_blocking(move || walker.walk());
                let news = tokio::select! {
                    news = walk => news.unwrap_or(true),
                    // The blocking walk finishes on its own; we just stop waiting.
                    _ = cancel.cancelled() => return,
                };
                let warming = warm > 0;
                warm = warm.saturating_sub(1);
                let slow = started.elapsed() * 4;
                let gap = quiet.next(news || warming).max(slow);
                let mut until = tokio::time::Instant::now() + gap;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => break,
                        _ = self.created.notified() => {
                            // A new entry (a worker's TMPDIR): its figures
                            // show within the interval, then a few more walks
                            // at that pace while its owner fills it.
                            warm = WARM_WALKS;
                            quiet.next(true);
                            until = until.min(tokio::time::Instant::now() + interval.max(slow));
                        }
                        _ = cancel.cancelled() => return,
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::top_level;
    use std::path::{Path, PathBuf};

    #[test]
    fn top_level_is_the_entry_directly_under_the_root() {
        let root = Path::new("/d/tmp");
        assert_eq!(
            top_level(root, Path::new("/d/tmp/w-1")),
            Some(PathBuf::from("/d/tmp/w-1"))
        );
        assert_eq!(
            top_level(root, Path::new("/d/tmp/w-1/inner/f")),
            Some(PathBuf::from("/d/tmp/w-1"))
        );
        assert_eq!(top_level(root, Path::new("/d/tmp")), None);
        assert_eq!(top_level(root, Path::new("/d/other/x")), None);
        assert_eq!(top_level(root, Path::new("/d/tmpx/y")), None);
    }
}
