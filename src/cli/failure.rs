//! `Failure`: how a command ends badly: one line for people, one exit code
//! for scripts (1 runtime, 2 usage/config/input, 3 data dir in use).

use std::fmt;

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
    pub fn in_use(message: impl Into<String>) -> Failure {
        Failure {
            code: 3,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages quote names, paths and URLs from outside: no control
        // character of theirs reaches the terminal, and the error stays one line.
        write!(f, "steward: {}", super::text::escape(&self.message))
    }
}

/// A store error as a command's failure: one the user can act on (a store
/// that is not steward's, damaged, empty, unreadable or of another version;
/// an account that exists already) is a usage error (2), any other a runtime
/// one (1).
pub(super) fn store_failure(e: StoreError) -> Failure {
    match e {
        StoreError::Corrupt { .. }
        | StoreError::Foreign { .. }
        | StoreError::TooNew { .. }
        | StoreError::TooOld { .. }
        | StoreError::Empty { .. }
        | StoreError::Unreadable { .. }
        | StoreError::AccountExists(_) => Failure::usage(e.to_string()),
        other => Failure::runtime(other.to_string()),
    }
}
