//! What a sweep publishes: the plan (scan), each item's action and its outcome (apply).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What the orphan sweep found: every item with why, how big, and what
/// applying the plan would do to it. Built by `sweep::scan`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepPlan {
    /// Distinguishes plans, so a confirm applies exactly the plan previewed.
    pub id: u64,
    pub created_ms: i64,
    pub items: Vec<SweepItem>,
    /// Bytes the `delete` items would free (`trash` moves keep theirs).
    pub total_bytes: u64,
    /// Things the scan could not look at (one line each), e.g. an unreadable dir.
    pub notes: Vec<String>,
}

impl SweepPlan {
    /// Items that applying would act on (not the ones left alone).
    pub fn actionable(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.action != SweepAction::Leave)
            .count()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepItem {
    /// Index in the plan.
    pub id: usize,
    pub kind: SweepKind,
    pub target: SweepTarget,
    /// Why it is in the plan, e.g. `owner dead (pid 4242)`.
    pub reason: String,
    /// Bytes on disk, for paths.
    pub size: Option<u64>,
    pub action: SweepAction,
    /// For `Leave` items: the live process holding the path.
    pub holder_pid: Option<i32>,
    /// The account the item belongs to, if any.
    pub account: Option<String>,
}

/// What kind of leftover an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepKind {
    /// A registered temp entry whose owner process is dead.
    TempDeadOwner,
    /// A path under the temp root with no registration, older than `max_age`.
    TempUntracked,
    /// A session file with no account.
    SessionNoAccount,
    /// A worker group recorded by a steward that is no longer running.
    LeftoverWorker,
    /// An aria2c of this data dir not owned by the running instance.
    LeftoverAria2,
    /// A pid/lock file nobody holds.
    StaleLockFile,
    /// A trashed file older than `[trash] keep`.
    TrashExpired,
}

impl SweepKind {
    pub const ALL: [SweepKind; 7] = [
        SweepKind::TempDeadOwner,
        SweepKind::TempUntracked,
        SweepKind::SessionNoAccount,
        SweepKind::LeftoverWorker,
        SweepKind::LeftoverAria2,
        SweepKind::StaleLockFile,
        SweepKind::TrashExpired,
    ];

    /// Short label for lists: `temp (owner dead)`, `session`, ...
    pub fn label(self) -> &'static str {
        match self {
            SweepKind::TempDeadOwner => "temp (owner dead)",
            SweepKind::TempUntracked => "temp (untracked)",
            SweepKind::SessionNoAccount => "session (no account)",
            SweepKind::LeftoverWorker => "leftover worker",
            SweepKind::LeftoverAria2 => "leftover aria2c",
            SweepKind::StaleLockFile => "stale lock/pid file",
            SweepKind::TrashExpired => "expired trash",
        }
    }

    /// The `events` table kind of an applied item, e.g. `sweep.temp_dead_owner`.
    pub fn event_kind(self) -> &'static str {
        match self {
            SweepKind::TempDeadOwner => "sweep.temp_dead_owner",
            SweepKind::TempUntracked => "sweep.temp_untracked",
            SweepKind::SessionNoAccount => "sweep.session_no_account",
            SweepKind::LeftoverWorker => "sweep.leftover_worker",
            SweepKind::LeftoverAria2 => "sweep.leftover_aria2",
            SweepKind::StaleLockFile => "sweep.stale_lock_file",
            SweepKind::TrashExpired => "sweep.trash_expired",
        }
    }
}

/// What the sweeps of this run (the start-up sweep, its retries, the
/// dashboard's) have applied so far: the metrics' counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepTotals {
    /// Sweeps applied (each apply, however many items it had).
    pub runs: u64,
    /// Items removed (outcome done), by kind.
    pub removed: BTreeMap<SweepKind, u64>,
    /// Bytes freed by those items, as `SweepItemResult::freed` counts them.
    pub bytes_freed: u64,
}

impl SweepTotals {
    /// Counts one applied sweep with its results.
    pub fn add_run(&mut self, results: &[SweepItemResult]) {
        self.runs += 1;
        for r in results {
            if matches!(r.outcome, SweepOutcome::Done { .. }) {
                *self.removed.entry(r.kind).or_default() += 1;
                self.bytes_freed += r.freed;
            }
        }
    }
}

/// A path, or a process (with the identity it had when scanned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SweepTarget {
    Path {
        path: PathBuf,
    },
    Process {
        pid: i32,
        start_time: u64,
        pgid: i32,
    },
}

impl std::fmt::Display for SweepTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SweepTarget::Path { path } => write!(f, "{}", path.display()),
            SweepTarget::Process { pid, pgid, .. } if pid == pgid => {
                write!(f, "pid {pid} (group)")
            }
            SweepTarget::Process { pid, .. } => write!(f, "pid {pid}"),
        }
    }
}

/// What applying does to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepAction {
    /// Remove the path (a symlink itself, never its target).
    Delete,
    /// Move to `<data-dir>/trash/` (session files are never deleted outright).
    Trash,
    /// SIGTERM, a deadline, then SIGKILL.
    Stop,
    /// Listed for information only (held by a live process): nothing is done.
    Leave,
}

impl SweepAction {
    pub fn label(self) -> &'static str {
        match self {
            SweepAction::Delete => "delete",
            SweepAction::Trash => "trash",
            SweepAction::Stop => "stop",
            SweepAction::Leave => "leave",
        }
    }
}

/// How applying one item went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SweepOutcome {
    Done { detail: String },
    Skipped { reason: String },
    Failed { error: String },
}

impl SweepOutcome {
    pub fn label(&self) -> String {
        match self {
            SweepOutcome::Done { detail } => format!("done ({detail})"),
            SweepOutcome::Skipped { reason } => format!("skipped ({reason})"),
            SweepOutcome::Failed { error } => format!("failed ({error})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepItemResult {
    /// `SweepItem::id` in the applied plan.
    pub item: usize,
    pub kind: SweepKind,
    pub target: SweepTarget,
    pub outcome: SweepOutcome,
    /// Bytes freed, as measured by the plan: the item's `size` once the item
    /// was removed, 0 when it was not (or only partly) removed. Files are
    /// not `stat`ed again to count them, so a file that grew or shrank
    /// between plan and apply counts at its planned size.
    pub freed: u64,
}

/// A sweep as the TUI shows it: the preview, then (once applied) the results,
/// kept until dismissed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepView {
    pub plan: SweepPlan,
    /// True while `apply` runs.
    pub applying: bool,
    /// Empty until applied.
    pub results: Vec<SweepItemResult>,
    pub finished_ms: Option<i64>,
    /// Why the scan or the apply could not run (e.g. another sweep holds
    /// the data dir's sweep lock); the plan is then empty or unapplied.
    #[serde(default)]
    pub error: Option<String>,
}
