//! The control socket's client side and framing: how any process (the CLI,
//! an attached dashboard, a test) talks to a running instance over
//! `<data-dir>/control.sock`. The frames are `model::protocol`'s; the
//! instance's side is `manager::listen`.

pub mod client;
pub mod follow;
pub mod frames;

pub use client::{Client, Frames, LinkError, Reply, Requests};
pub use follow::{Followed, follow};
