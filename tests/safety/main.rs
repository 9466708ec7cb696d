//! Issue 12's safety cases through the real binary: one module per topic.

#[path = "../common/mod.rs"]
mod common;
mod secrets;
