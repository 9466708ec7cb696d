//! Issue 12's safety guarantees, each shown on the real binary or the real
//! library against real files: deletion never leaves the data dir, nothing
//! private is readable by another user, accepted input is sane, and a plain
//! `steward stop` never forces. One module per topic.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

#[path = "../common/mod.rs"]
mod common;

mod fs_escape;
mod in_use;
mod input;
mod layout;
mod secrets;
