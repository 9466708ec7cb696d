//! Issue 12's safety cases against the real binary: one module per topic.

#[path = "../common/mod.rs"]
mod common;
mod input;
