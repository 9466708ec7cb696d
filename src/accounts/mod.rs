//! Accounts and their supervised workers: one supervisor per enabled account,
//! serialising that account's start / stop / replace / remove.

pub mod id;

pub use id::{AccountId, InvalidId};
