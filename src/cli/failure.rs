//! `Failure`: how a command ends badly: one line for people, one exit code
//! for scripts (1 runtime, 2 usage/config/input, 3 data dir in use).

use std::fmt;

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
