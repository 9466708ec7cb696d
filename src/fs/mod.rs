//! The filesystem foundation: how steward reaches a path inside its data dir
//! without ever being led outside it ([`Beneath`]).

mod beneath;
pub mod tree;

pub use beneath::Beneath;
