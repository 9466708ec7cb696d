//! What the temp registry publishes: registered temp paths by owner, with their size.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The temp registry's figures (filled by the `temp` stats walker). Totals
/// are adjusted at once on every create / release and recomputed by a
/// throttled background walk; `refreshed_ms` is when that walk last ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TempView {
    /// The temp root (`[temp] root`, default `<data-dir>/tmp`).
    pub root: PathBuf,
    /// Registered entries (rows in the store).
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// Registered entries whose owner process is dead (swept at start / on demand).
    pub orphaned: u64,
    /// Paths directly under the root with no registration.
    pub untracked: u64,
    /// When the oldest entry was created (registration time, or the newest
    /// mtime inside an untracked path); `None` when the root is empty.
    pub oldest_ms: Option<i64>,
    /// Per owner process and account, largest first.
    pub owners: Vec<TempOwnerView>,
    /// When the last full walk ended (0: not yet).
    pub refreshed_ms: i64,
    /// How long that walk took.
    pub walk_ms: u64,
    /// True while a walk is running.
    pub walking: bool,
}

/// One owner's share of the temp tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TempOwnerView {
    pub pid: i32,
    pub start_time: u64,
    pub account: Option<String>,
    /// False when the owner process is gone: its entries are orphans.
    pub alive: bool,
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
}
