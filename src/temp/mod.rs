//! The temp registry: every temp path steward or a worker uses is registered
//! in the store, with its owner's process identity, before it exists, and
//! unregistered only after it is gone.
//!
//! # Crash consistency
//!
//! Creation writes the row, then creates the path (exclusively), then takes a
//! flock on it. Removal removes the path, then deletes the row. A crash at any
//! instant therefore leaves at worst a row without a path (harmless; the sweep
//! drops it), never a path without a row.
//!
//! # Locks mark "in use"
//!
//! Each created path is flock-held through a descriptor kept by its guard, so
//! the sweep (and `systemd-tmpfiles`) can tell with a non-blocking probe that
//! it is in use. A worker's dir is handed to the worker at spawn
//! ([`TempGuard::apply_to`]): the worker inherits the very same open file
//! description, so the lock lives as long as any process of the worker's tree,
//! even after steward itself died.
//!
//! # Worker dirs and their owner
//!
//! [`TempRegistry::worker_dir`] registers the dir to steward's own `ProcId`
//! plus the account (the worker's identity is not known before the spawn);
//! right after the spawn [`TempGuard::reassign`] hands the row to the worker's
//! `ProcId`. Both windows are safe: if steward dies before the reassign, the
//! row names a dead owner but the live worker holds the flock, so the sweep
//! leaves the dir alone (naming the holder) until the leftover worker is
//! stopped; after the reassign, the row lives exactly as long as the worker.
//! Once the worker's group is gone, the supervisor calls
//! [`TempGuard::release`] (from `spawn_blocking` for big trees); during a
//! shutdown it hands the guard over instead, and the dirs of the whole fleet
//! go through one [`BulkRelease`] (see `accounts::handover`).
//!
//! # Stats
//!
//! See [`stats`](self::stats): totals kept incrementally and a throttled
//! walker on the blocking pool; readers copy the last [`TempView`].
//!
//! [`TempView`]: crate::model::TempView

#[cfg(feature = "test-drivers")]
pub mod churn;
mod registry;
pub mod stats;

pub use registry::{
    BulkRelease, CleanReport, Owner, TempDirGuard, TempError, TempGuard, TempRegistry,
};
