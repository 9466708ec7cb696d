//! The aria2c singleton: exactly one aria2c per data dir, started by steward on
//! 127.0.0.1 with a random RPC secret, tied to steward's life, identified by
//! pid + start time, restarted with backoff, and its downloads polled for the
//! dashboard. Foreign aria2c processes are listed and never touched.
//!
//! Entry point: [`Aria2Service::start`] → [`Aria2Handle`] (`steward download
//! add` from another shell goes to the running manager over its control
//! socket, which calls the handle).
//!
//! Files under `<data-dir>/aria2/` (mode 0700): `session` (`--save-session` and
//! `--input-file`), `rpc-secret` (0600, the secret alone, so the next steward
//! can reach the leftover aria2c of a killed one), `aria2.conf` (0600,
//! `rpc-secret=...`, passed as `--conf-path` so the secret never appears in
//! `/proc/PID/cmdline`).
//!
//! Download owners: aria2 has no free-form tag, so `aria2.owner.<gid>` in the
//! store's meta table names the account (gids survive restarts through the
//! session file). Downloads added by workers directly over RPC have no owner.

//! Manager wiring: `Aria2Service::start(config.aria2, data_dir, store, cancel)`
//! once; publish `handle.view()` as `Snapshot::aria2`; give workers
//! `handle.rpc_info()?.env()`; shutdown = `save_session()` (phase "save aria2
//! session"), then `stop(deadline)` (phase "stop aria2"), then cancel + `join()`.

pub mod args;
pub mod binary;
pub mod downloads;
pub mod error;
pub mod handle;
mod hold;
pub mod http;
pub mod owners;
pub mod poll;
pub mod rpc;
pub mod scan;
pub mod secret;
pub mod service;
pub mod spawn;
pub mod store;
pub mod terminate;

pub use error::Aria2Error;
pub use handle::{Aria2Handle, RpcInfo};
pub use rpc::{Aria2Rpc, Version};
pub use secret::RpcSecret;
pub use service::{Aria2Options, Aria2Paths, Aria2Service};
pub use store::{InstanceRecord, SharedStore};
pub use terminate::stop_foreign;
