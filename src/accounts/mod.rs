//! Accounts and their supervised workers: one supervisor per enabled account,
//! serialising that account's start / stop / replace / remove.

pub mod escaped;
pub mod fleet;
pub mod handover;
pub mod id;
pub mod keeper;
pub mod keeper_process;
pub mod leftovers;
mod output;
pub mod spec;
pub mod supervisor;

pub use id::{AccountId, InvalidId};
