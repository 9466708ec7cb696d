//! steward: a terminal dashboard and embedded lifecycle manager for
//! multi-account automation services. Layers, top to bottom:
//! `tui` → `manager` → subsystems (`accounts`, `tasks`, ...) → foundations
//! (`store`, `proc`, `lock`, `config`, `paths`).

pub mod config;
pub mod lock;
pub mod paths;
pub mod proc;
pub mod store;
