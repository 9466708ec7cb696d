//! steward: a terminal dashboard and embedded lifecycle manager for
//! multi-account automation services. Layers, top to bottom:
//! `tui` → `manager` → subsystems (`accounts`, `tasks`, ...) → foundations
//! (`store`, `proc`, `fs`, `lock`, `host`, `retry`, `config`, `paths`, `layout`,
//! `time`, `redact`).

pub mod accounts;
pub mod alloc;
pub mod aria2;
pub mod cli;
pub mod config;
pub mod demo_worker;
pub mod fs;
pub mod host;
pub mod layout;
pub mod link;
pub mod lock;
pub mod logging;
pub mod manager;
pub mod model;
pub mod paths;
pub mod proc;
pub mod redact;
pub mod retry;
pub mod shutdown;
pub mod store;
pub mod sweep;
pub mod systemd;
pub mod tasks;
pub mod temp;
pub mod time;
pub mod trash;
pub mod tui;
