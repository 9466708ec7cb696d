//! `TempRegistry` and `TempGuard`: create, register, hand over and release
//! temp paths, always row first / path second on the way in and path first /
//! row second on the way out.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustix::fs::OFlags;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::stats::Stats;
use crate::config::Config;
use crate::fs::Beneath;
use crate::fs::tree::{self as fsops, EntryRemoval, Measure, RemoveError};
use crate::lock;
use crate::model::TempView;
use crate::paths::DataDir;
use crate::proc::ProcId;
use crate::retry;
use crate::store::{SharedStore, Store, StoreError, TempKind, TempRow};
use crate::time::now_ms;

/// How long `release` waits for a lock to go away before leaving the path to
/// the sweep: long enough for a sibling thread's fork-before-exec (which
/// copies every descriptor for an instant), far shorter than any real holder.
const RELEASE_GRACE: Duration = Duration::from_millis(200);
const RELEASE_PAUSE: Duration = Duration::from_millis(5);

/// Who owns a temp path: a process identity (steward itself or a worker) and
/// the account it works for, if any. A path whose owner process is gone is an
/// orphan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: ProcId,
    pub account: Option<String>,
}

impl Owner {
    /// This steward process, for no account.
    pub fn steward() -> Owner {
        Owner {
            id: ProcId::current(),
            account: None,
        }
    }

    /// This steward process, on behalf of `account`.
    pub fn for_account(account: &str) -> Owner {
        Owner {
            id: ProcId::current(),
            account: Some(account.to_owned()),
        }
    }
}

/// Temp registry failures; one line each.
#[derive(Debug, thiserror::Error)]
pub enum TempError {
    #[error("cannot create temp root {}: {source}", path.display())]
    Root { path: PathBuf, source: io::Error },
    #[error("temp root {} is not inside the data dir {}: refused", root.display(), data_dir.display())]
    RootOutside { root: PathBuf, data_dir: PathBuf },
    #[error("{} is not inside the temp root {}", path.display(), root.display())]
    Outside { path: PathBuf, root: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create temp path {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot lock temp path {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("{} is still in use by {} (left registered for the sweep)", path.display(), pids_text(pids))]
    Held { path: PathBuf, pids: Vec<i32> },
    #[error(transparent)]
    Remove(#[from] RemoveError),
}

fn pids_text(pids: &[i32]) -> String {
    match pids {
        [] => "another process".to_owned(),
        [one] => format!("pid {one}"),
        many => format!(
            "pids {}",
            many.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The registry of temp paths under one temp root. Cheap to clone; all
/// clones share the state. Every method does blocking file system and
/// SQLite work (short for creation; removal is proportional to the tree):
/// call `release` of big trees from `spawn_blocking`.
#[derive(Clone)]
pub struct TempRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    root_dev: u64,
    /// The data dir, opened: every removal is resolved beneath it.
    beneath: Beneath,
    data_dir: DataDir,
    store: SharedStore,
    seq: AtomicU64,
    /// Paths that have a guard alive in this process (the stats' walker
    /// reads them too).
    live: Arc<Mutex<HashSet<PathBuf>>>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for TempRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempRegistry")
            .field("root", &self.inner.root)
            .finish()
    }
}

/// Keeps only characters that are safe in a file name.
fn sanitize(text: &str, max: usize) -> String {
    let s: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(max)
        .collect();
    let s = s.trim_start_matches('.').to_owned();
    if s.is_empty() { "tmp".to_owned() } else { s }
}

impl TempRegistry {
    /// Opens the registry on `root`, a directory inside the data dir
    /// (created with mode 0700 if missing). The root must be reached from the
    /// data dir through real directories only: a symlink on the way is refused.
    pub fn open(data_dir: &DataDir, root: PathBuf, store: SharedStore) -> Result<Self, TempError> {
        let root_err = |source| TempError::Root {
            path: root.clone(),
            source,
        };
        if !data_dir.contains(&root) {
            return Err(TempError::RootOutside {
                root,
                data_dir: data_dir.root().to_owned(),
            });
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(root_err)?;
        let beneath = Beneath::open_root(data_dir.root()).map_err(root_err)?;
        let root_dev = beneath
            .open_dir(&root)
            .and_then(|fd| Ok(rustix::fs::fstat(&fd)?))
            .map_err(root_err)?
            .st_dev;
        let live = Arc::new(Mutex::new(HashSet::new()));
        Ok(TempRegistry {
            inner: Arc::new(Inner {
                stats: Arc::new(Stats::new(
                    root.clone(),
                    root_dev,
                    store.clone(),
                    live.clone(),
                )),
                root,
                root_dev,
                beneath,
                data_dir: data_dir.clone(),
                store,
                seq: AtomicU64::new(0),
                live,
            }),
        })
    }

    /// `open` on the configured root (`[temp] root`, default `<data-dir>/tmp`).
    pub fn from_config(
        config: &Config,
        data_dir: &DataDir,
        store: SharedStore,
    ) -> Result<Self, TempError> {
        Self::open(data_dir, config.temp_root(data_dir), store)
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn lock_store(&self) -> MutexGuard<'_, Store> {
        // A poisoned store mutex only means a panic elsewhere mid-statement;
        // SQLite itself is consistent, so keep using it.
        self.inner.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn live(&self) -> MutexGuard<'_, HashSet<PathBuf>> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh, unused name under the root.
    fn fresh_path(&self, label: &str, suffix: &str) -> PathBuf {
        let n = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let suffix = if suffix.is_empty() {
            String::new()
        } else {
            format!(".{}", sanitize(suffix.trim_start_matches('.'), 16))
        };
        self.inner.root.join(format!(
            "{}-{}-{n}-{nanos:08x}{suffix}",
            sanitize(label, 40),
            std::process::id()
        ))
    }

    /// True when `path` is strictly inside the temp root, lexically.
    fn in_root(&self, path: &Path) -> bool {
        path.starts_with(&self.inner.root)
            && path != self.inner.root
            && !path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
    }

    /// The check made right before every removal, by the path's text: inside
    /// the temp root (which is inside the data dir). The removal itself then
    /// resolves it beneath the data dir, refusing any symlink on the way.
    pub(super) fn may_remove(&self, path: &Path) -> bool {
        self.in_root(path) && self.inner.data_dir.contains(path)
    }

    fn insert_row(
        &self,
        path: &Path,
        kind: TempKind,
        owner: &Owner,
        label: &str,
    ) -> Result<(), TempError> {
        let row = TempRow {
            id: 0,
            path: path.to_owned(),
            kind,
            owner_pid: owner.id.pid,
            owner_start_time: owner.id.start_time,
            account: owner.account.clone(),
            label: Some(label.to_owned()),
            created_ms: now_ms(),
            bytes: None,
        };
        self.lock_store().insert_temp(&row)?;
        Ok(())
    }

    fn forget_row(&self, path: &Path) {
        if let Err(e) = self.lock_store().delete_temp(path) {
            warn!(path = %path.display(), error = %e, "cannot unregister temp path (the sweep will)");
        }
    }

    /// Creates a registered directory (mode 0700) under the root, holding an
    /// exclusive flock on it for the guard's life.
    pub fn create_dir(&self, owner: &Owner, label: &str) -> Result<TempGuard, TempError> {
        self.create(owner, label, "", TempKind::Dir)
    }

    /// Creates a registered empty file (mode 0600) under the root, named
    /// `<label>-...<.suffix>`, flock-held and open for reading and writing
    /// through [`TempGuard::file`].
    pub fn create_file(
        &self,
        owner: &Owner,
        label: &str,
        suffix: &str,
    ) -> Result<TempGuard, TempError> {
        self.create(owner, label, suffix, TempKind::File)
    }

    /// A worker's own temp dir: registered to this steward for `account`
    /// until [`TempGuard::reassign`] hands it to the spawned worker. Export
    /// it with [`TempGuard::apply_to`] before the spawn.
    pub fn worker_dir(&self, account: &str) -> Result<TempGuard, TempError> {
        self.create_dir(&Owner::for_account(account), &format!("worker-{account}"))
    }

    fn create(
        &self,
        owner: &Owner,
        label: &str,
        suffix: &str,
        kind: TempKind,
    ) -> Result<TempGuard, TempError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let path = self.fresh_path(label, suffix);
            // 1. The row, before the path exists.
            if let Err(e) = self.insert_row(&path, kind, owner, label) {
                // A stale row with this very name (a crash left it): try another name.
                if attempts < 5 && self.lock_store().temp_entry(&path).ok().flatten().is_some() {
                    continue;
                }
                return Err(e);
            }
            // 2. The path, created exclusively.
            let created = match kind {
                TempKind::Dir => std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&path)
                    .and_then(|()| {
                        OpenOptions::new()
                            .read(true)
                            .custom_flags((OFlags::DIRECTORY | OFlags::NOFOLLOW).bits() as i32)
                            .open(&path)
                    }),
                TempKind::File => OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(OFlags::NOFOLLOW.bits() as i32)
                    .open(&path),
            };
            let file = match created {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 5 => {
                    // Someone else's path: not ours to touch; drop our row only.
                    self.forget_row(&path);
                    continue;
                }
                Err(source) => {
                    // The path may exist (mkdir ok, open failed): path first, then row.
                    if fsops::remove_path(&self.inner.beneath, &path, Some(self.inner.root_dev))
                        .is_ok()
                    {
                        self.forget_row(&path);
                    }
                    return Err(TempError::Create { path, source });
                }
            };
            // 3. The flock that marks it in use.
            if let Err(source) = lock::lock_temp_path(&file) {
                drop(file);
                if fsops::remove_path(&self.inner.beneath, &path, Some(self.inner.root_dev)).is_ok()
                {
                    self.forget_row(&path);
                }
                return Err(TempError::Lock { path, source });
            }
            self.live().insert(path.clone());
            self.inner.stats.on_created(kind);
            debug!(path = %path.display(), pid = owner.id.pid, account = ?owner.account, "temp path created");
            return Ok(TempGuard {
                registry: self.clone(),
                path,
                kind,
                lock: Some(file),
                released: false,
            });
        }
    }

    /// Registers `path` (inside the root) for `owner` without creating it:
    /// for paths another program creates (call this *before* it does, so a
    /// crash can leave only a row without a path). The guard holds no lock.
    pub fn register(
        &self,
        path: &Path,
        owner: &Owner,
        kind: TempKind,
    ) -> Result<TempGuard, TempError> {
        if !self.in_root(path) {
            return Err(TempError::Outside {
                path: path.to_owned(),
                root: self.inner.root.clone(),
            });
        }
        let label = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.insert_row(path, kind, owner, &label)?;
        self.live().insert(path.to_owned());
        self.inner.stats.on_created(kind);
        Ok(TempGuard {
            registry: self.clone(),
            path: path.to_owned(),
            kind,
            lock: None,
            released: false,
        })
    }

    /// Hands a registered path to another owner process (a worker, once its
    /// identity is known after spawn).
    pub fn reassign(&self, path: &Path, owner: ProcId) -> Result<bool, TempError> {
        Ok(self
            .lock_store()
            .set_temp_owner(path, owner.pid, owner.start_time)?)
    }

    /// Removes a registered path now, then its row. Refuses (leaving both)
    /// while anyone holds a flock on it — including a guard of this process:
    /// use [`TempGuard::release`] for those.
    pub fn release(&self, path: &Path) -> Result<Measure, TempError> {
        if !self.may_remove(path) {
            return Err(TempError::Outside {
                path: path.to_owned(),
                root: self.inner.root.clone(),
            });
        }
        if !retry::until(RELEASE_GRACE, RELEASE_PAUSE, || !lock::flock_held(path)) {
            return Err(TempError::Held {
                path: path.to_owned(),
                pids: lock::live_holders(path),
            });
        }
        let measure = fsops::remove_path(&self.inner.beneath, path, Some(self.inner.root_dev))?;
        // The path is gone: now, and only now, the row.
        self.lock_store().delete_temp(path)?;
        self.inner.stats.on_removed(&measure);
        debug!(path = %path.display(), bytes = measure.bytes, "temp path released");
        Ok(measure)
    }

    /// The shutdown phase "clean own temp" when nothing was handed over:
    /// releases every entry registered to this steward process that no guard
    /// in this process still holds (guards are released by their owners).
    /// Returns one line per entry that could not go.
    pub fn clean_own(&self) -> CleanReport {
        let mut bulk = self.bulk_release();
        bulk.add_own();
        bulk.finish()
    }

    /// Starts a [`BulkRelease`]: many paths removed one after another on one
    /// thread, their rows deleted together at the end.
    pub fn bulk_release(&self) -> BulkRelease {
        BulkRelease {
            registry: self.clone(),
            queued: HashSet::new(),
            removed: Vec::new(),
            held: Vec::new(),
            freed: Measure::default(),
            report: CleanReport::default(),
            root: None,
        }
    }

    /// The current figures (cheap: a copy of what the walker and the
    /// create/release calls keep up to date).
    pub fn stats(&self) -> TempView {
        self.inner.stats.view()
    }

    /// Recomputes the figures now (a full walk of the temp root). Blocking:
    /// from async code use [`TempRegistry::refresh_stats_async`].
    pub fn refresh_stats(&self) -> TempView {
        let _ = self.inner.stats.walk();
        self.stats()
    }

    /// `refresh_stats` on tokio's blocking pool.
    pub async fn refresh_stats_async(&self) -> TempView {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.refresh_stats()).await {
            Ok(view) => view,
            Err(_) => self.stats(),
        }
    }

    /// Fires `notify` after every change of the figures.
    pub fn set_changed_notify(&self, notify: Arc<Notify>) {
        self.inner.stats.set_changed_notify(notify);
    }

    /// Starts the background walker: a walk at once, then one every
    /// `interval` (`[temp] stats_interval`), spaced further apart (4x the
    /// last walk's duration) when walks are slow, so it never takes more
    /// than a fifth of a core. Each walk runs on `spawn_blocking`; the task
    /// ends when `cancel` fires.
    pub fn spawn_stats_walker(
        &self,
        interval: Duration,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        self.inner.stats.clone().spawn_walker(interval, cancel)
    }
}

/// Releases many registered paths on one thread, keeping the registry's
/// order (path first, row second) in bulk: each path is removed as it is
/// pushed, and the rows of all removed paths go in one transaction in
/// [`BulkRelease::finish`] (a crash in between leaves rows without paths,
/// which the sweep drops). For a shutdown, where hundreds of worker dirs go
/// at once and one `spawn_blocking`, one commit and one stats update per dir
/// would contend for the temp root, the store and the control loop. Blocking
/// (file system and SQLite): run it on a blocking thread.
pub struct BulkRelease {
    registry: TempRegistry,
    /// Every path pushed or added, so none is taken twice.
    queued: HashSet<PathBuf>,
    removed: Vec<PathBuf>,
    /// Still flock-held by someone when pushed: tried again in `finish`.
    held: Vec<PathBuf>,
    freed: Measure,
    report: CleanReport,
    /// The temp root, opened at the first removal: entries directly in it
    /// (every worker's dir) are removed relative to it.
    root: Option<fsops::EntryRemover>,
}

impl std::fmt::Debug for BulkRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkRelease")
            .field("removed", &self.removed.len())
            .field("held", &self.held.len())
            .finish()
    }
}

impl BulkRelease {
    /// Closes the guard's copy of the lock and removes its path now, unless
    /// another process still holds the lock (then `finish` tries again).
    pub fn push(&mut self, mut guard: TempGuard) {
        guard.released = true;
        self.registry.live().remove(&guard.path);
        drop(guard.lock.take());
        let path = std::mem::take(&mut guard.path);
        if self.queued.insert(path.clone()) {
            self.try_remove(path);
        }
    }

    /// Adds every entry registered to this steward process that no guard in
    /// this process still holds (those are listed in the report as left).
    pub fn add_own(&mut self) {
        let rows = match self.registry.lock_store().temp_entries() {
            Ok(rows) => rows,
            Err(e) => {
                self.report
                    .left
                    .push(format!("cannot read temp entries: {e}"));
                return;
            }
        };
        let me = ProcId::current();
        let live = self.registry.live().clone();
        for row in rows {
            if row.owner_pid != me.pid || row.owner_start_time != me.start_time {
                continue;
            }
            if live.contains(&row.path) {
                self.report
                    .left
                    .push(format!("{} is still in use here", row.path.display()));
            } else if self.queued.insert(row.path.clone()) {
                self.try_remove(row.path);
            }
        }
    }

    fn try_remove(&mut self, path: PathBuf) {
        if !self.registry.may_remove(&path) {
            let root = self.registry.inner.root.clone();
            self.report
                .left
                .push(TempError::Outside { path, root }.to_string());
            return;
        }
        let root_dev = self.registry.inner.root_dev;
        let outcome = match self.entry_remover(&path) {
            Some((root, name)) => root.remove_unless_locked(name),
            None if lock::flock_held(&path) => Ok(EntryRemoval::Held),
            None => fsops::remove_path(&self.registry.inner.beneath, &path, Some(root_dev))
                .map(EntryRemoval::Removed),
        };
        match outcome {
            Ok(EntryRemoval::Removed(m)) => {
                self.report.removed += 1;
                self.report.freed += m.bytes;
                self.freed.absorb(&m);
                self.removed.push(path);
            }
            Ok(EntryRemoval::Held) => self.held.push(path),
            Err(e) => self.report.left.push(TempError::from(e).to_string()),
        }
    }

    /// The opened temp root and `path`'s name in it, when `path` lies
    /// directly in the root (and the root opens).
    fn entry_remover<'a>(
        &mut self,
        path: &'a Path,
    ) -> Option<(&mut fsops::EntryRemover, &'a std::ffi::OsStr)> {
        let inner = &self.registry.inner;
        if path.parent() != Some(inner.root.as_path()) {
            return None;
        }
        let name = path.file_name()?;
        if self.root.is_none() {
            self.root = fsops::EntryRemover::open(&inner.beneath, &inner.root, inner.root_dev).ok();
        }
        Some((self.root.as_mut()?, name))
    }

    /// Retries the held paths for up to `RELEASE_GRACE` (all together, not
    /// per path), then deletes the rows of every removed path in one
    /// transaction and updates the stats once. A path still held, or that
    /// could not be removed, keeps its row for the sweep and gets a line.
    pub fn finish(mut self) -> CleanReport {
        // A sibling thread's fork-before-exec holds copies for an instant.
        // The held paths were just tried: the first attempt only looks.
        let mut first = true;
        retry::until(RELEASE_GRACE, RELEASE_PAUSE, || {
            if !std::mem::take(&mut first) {
                for path in std::mem::take(&mut self.held) {
                    self.try_remove(path);
                }
            }
            self.held.is_empty()
        });
        for path in std::mem::take(&mut self.held) {
            let pids = lock::live_holders(&path);
            self.report
                .left
                .push(TempError::Held { path, pids }.to_string());
        }
        // The paths are gone: now, and only now, their rows.
        let registry = &self.registry;
        if let Err(e) = registry.lock_store().delete_temps(&self.removed) {
            self.report.left.push(format!(
                "{} temp paths removed but not unregistered (the sweep will): {e}",
                self.removed.len()
            ));
        }
        registry
            .inner
            .stats
            .on_removed_many(self.removed.len() as u64, &self.freed);
        debug!(
            removed = self.removed.len(),
            bytes = self.freed.bytes,
            "temp paths released in bulk"
        );
        self.report
    }
}

/// What `clean_own` / `BulkRelease::finish` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanReport {
    pub removed: u64,
    pub freed: u64,
    /// One line per entry left in place.
    pub left: Vec<String>,
}

/// A registered temp path. Dropping it (or [`TempGuard::release`]) removes
/// the path, then its row; if another process still holds the path's flock
/// (a worker's leftover child), both stay for the sweep.
#[must_use = "dropping the guard removes the temp path at once"]
pub struct TempGuard {
    registry: TempRegistry,
    path: PathBuf,
    kind: TempKind,
    /// The flock-held description (the file itself for `create_file`).
    lock: Option<File>,
    released: bool,
}

/// The guard of a worker's temp dir (same type).
pub type TempDirGuard = TempGuard;

impl std::fmt::Debug for TempGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempGuard")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish()
    }
}

impl TempGuard {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn kind(&self) -> TempKind {
        self.kind
    }

    /// The open file of a `create_file` guard (the flock-held description).
    pub fn file(&self) -> Option<&File> {
        match self.kind {
            TempKind::File => self.lock.as_ref(),
            TempKind::Dir => None,
        }
    }

    /// The descriptor holding the flock (`None` for `register`ed paths). A
    /// child that inherits it (see [`TempGuard::apply_to`]) keeps the path
    /// marked in use for as long as any process of its tree is alive.
    pub fn lock_fd(&self) -> Option<RawFd> {
        self.lock.as_ref().map(|f| f.as_raw_fd())
    }

    /// Hands the path to `owner` (e.g. the worker, right after spawn).
    pub fn reassign(&self, owner: ProcId) -> Result<(), TempError> {
        self.registry.reassign(&self.path, owner).map(|_| ())
    }

    /// Prepares `cmd` to run with this directory as its temp dir: sets
    /// `TMPDIR`, `STEWARD_TMPDIR` and `STEWARD_TMPDIR_LOCK_FD`, and makes the
    /// child inherit the flock-held descriptor (close-on-exec cleared in the
    /// child only). Keep the guard alive until the spawn has returned.
    pub fn apply_to(&self, cmd: &mut impl crate::proc::spawn::HandDown) {
        cmd.set_env("TMPDIR", self.path.as_os_str());
        cmd.set_env("STEWARD_TMPDIR", self.path.as_os_str());
        let Some(fd) = self.lock_fd() else { return };
        cmd.hand_down_fd(fd, "STEWARD_TMPDIR_LOCK_FD");
    }

    /// Removes the path (after closing steward's copy of its lock), then the
    /// row. `Held` if another process still holds the lock: the path and row
    /// then stay, registered to their owner, for the sweep.
    pub fn release(mut self) -> Result<Measure, TempError> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<Measure, TempError> {
        self.released = true;
        self.registry.live().remove(&self.path);
        drop(self.lock.take());
        self.registry.release(&self.path)
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Err(e) = self.release_inner() {
            warn!(path = %self.path.display(), error = %e, "temp path not removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> (tempfile::TempDir, TempRegistry) {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path());
        let store = Store::open(&dd.db_file()).unwrap();
        let reg = TempRegistry::open(&dd, dd.tmp_dir(), Arc::new(Mutex::new(store))).unwrap();
        (tmp, reg)
    }

    fn rows(reg: &TempRegistry) -> Vec<TempRow> {
        reg.lock_store().temp_entries().unwrap()
    }

    #[test]
    fn create_registers_first_and_release_unregisters_last() {
        let (_tmp, reg) = registry();
        let dir = reg.create_dir(&Owner::steward(), "unit").unwrap();
        assert!(dir.path().is_dir());
        assert!(lock::flock_held(dir.path()));
        std::fs::write(dir.path().join("x"), "hello").unwrap();
        let file = reg
            .create_file(&Owner::for_account("alice"), "f", "json")
            .unwrap();
        assert!(file.path().to_string_lossy().ends_with(".json"));
        let r = rows(&reg);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].account.as_deref(), Some("alice"));
        assert_eq!(reg.stats().entries, 2);
        let path = dir.path().to_owned();
        let m = dir.release().unwrap();
        assert_eq!((m.files, m.dirs, m.bytes), (1, 1, 5));
        assert!(!path.exists());
        let fpath = file.path().to_owned();
        drop(file);
        assert!(!fpath.exists());
        assert!(rows(&reg).is_empty());
    }

    #[test]
    fn reassign_and_register() {
        let (_tmp, reg) = registry();
        let g = reg.worker_dir("bob").unwrap();
        g.reassign(ProcId {
            pid: 1,
            start_time: 7,
        })
        .unwrap();
        let r = reg.lock_store().temp_entry(g.path()).unwrap().unwrap();
        assert_eq!((r.owner_pid, r.owner_start_time), (1, 7));
        assert_eq!(r.account.as_deref(), Some("bob"));
        let outside = reg.register(Path::new("/etc/passwd"), &Owner::steward(), TempKind::File);
        assert!(matches!(outside, Err(TempError::Outside { .. })));
        let p = reg.root().join("aria2-part");
        let g2 = reg.register(&p, &Owner::steward(), TempKind::File).unwrap();
        std::fs::write(&p, "x").unwrap();
        drop(g2);
        assert!(!p.exists());
        assert_eq!(rows(&reg).len(), 1);
    }

    #[test]
    fn clean_own_leaves_live_guards() {
        let (_tmp, reg) = registry();
        let kept = reg.create_dir(&Owner::steward(), "kept").unwrap();
        let leaked = reg.create_dir(&Owner::steward(), "leaked").unwrap();
        let leaked_path = leaked.path().to_owned();
        std::mem::forget(leaked); // as if its owner lost it; its lock fd leaks too
        // The leaked description still holds the flock: clean_own reports it.
        let report = reg.clean_own();
        assert_eq!(report.removed, 0);
        assert_eq!(report.left.len(), 2, "{report:?}");
        assert!(leaked_path.exists());
        assert!(kept.path().exists());
    }

    #[test]
    fn bulk_release_removes_paths_first_then_their_rows_together() {
        let (_tmp, reg) = registry();
        let dead = ProcId {
            pid: i32::MAX - 1,
            start_time: 1,
        };
        // Two worker dirs handed to (now dead) workers, one with a file in it.
        let a = reg.worker_dir("a").unwrap();
        a.reassign(dead).unwrap();
        std::fs::write(a.path().join("f"), "12345").unwrap();
        let b = reg.worker_dir("b").unwrap();
        b.reassign(dead).unwrap();
        // A third one whose lock another process still holds (a leftover).
        let c = reg.worker_dir("c").unwrap();
        c.reassign(dead).unwrap();
        // ... inherited the way a worker inherits it.
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30");
        c.apply_to(&mut cmd);
        let mut holder = cmd.spawn().unwrap();
        // An entry of steward's own that no guard holds (a leaked file's row).
        let own = reg.root().join("own-entry");
        reg.insert_row(&own, TempKind::Dir, &Owner::steward(), "own")
            .unwrap();
        std::fs::create_dir(&own).unwrap();
        let (pa, pb, pc) = (
            a.path().to_owned(),
            b.path().to_owned(),
            c.path().to_owned(),
        );

        let mut bulk = reg.bulk_release();
        bulk.push(a);
        bulk.push(b);
        // Removed at once, but the rows wait for `finish`.
        assert!(!pa.exists() && !pb.exists());
        assert_eq!(rows(&reg).len(), 4);
        bulk.push(c);
        bulk.add_own();
        let report = bulk.finish();
        assert_eq!((report.removed, report.freed), (3, 5), "{report:?}");
        assert_eq!(report.left.len(), 1, "{report:?}");
        assert!(report.left[0].contains("still in use"), "{report:?}");
        assert!(!own.exists());
        assert!(pc.exists(), "a held dir is never removed");
        let left: Vec<PathBuf> = rows(&reg).into_iter().map(|r| r.path).collect();
        assert_eq!(left, vec![pc.clone()], "only the held dir keeps its row");
        let _ = holder.kill();
        let _ = holder.wait();
    }
}
