//! The aria2c singleton: exactly one aria2c per data dir, started by steward on
//! 127.0.0.1 with a random RPC secret, tied to steward's life, identified by
//! pid + start time, restarted with backoff, and its downloads polled for the
//! dashboard. Foreign aria2c processes are listed and never touched.

pub mod args;
pub mod binary;
pub mod error;
pub mod http;
pub mod poll;
pub mod rpc;
pub mod secret;
pub mod spawn;

pub use error::Aria2Error;
pub use rpc::{Aria2Rpc, Version};
pub use secret::RpcSecret;
