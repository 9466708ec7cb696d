//! `Secret`: an account's secret as it travels in a `Command`, never shown
//! by `Debug`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value: serialised as-is (a client must be able to send it), but
/// never shown by `Debug`, so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(••••, len {})", self.0.chars().count())
    }
}
