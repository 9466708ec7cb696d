//! The filesystem foundation: how steward reaches a path inside its data dir
//! without ever being led outside it ([`Beneath`]).

mod beneath;

pub use beneath::Beneath;
