//! Account ids: they become file names (`sessions/<id>.session`), so the rule
//! is strict and checked at every door (CLI, TUI form, manager).

use std::fmt;

/// Why an account id was refused; the Display is the one line shown to people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    #[error("account id is empty (use 1-64 of A-Z a-z 0-9 _ . -)")]
    Empty,
    #[error("account id is {0} characters long (use at most 64)")]
    TooLong(usize),
    #[error("account id {0:?} has a character other than A-Z a-z 0-9 _ . -")]
    BadChar(String),
    #[error("account id {0:?} is reserved (it names a directory)")]
    Reserved(String),
}

/// Checks `id` against `[A-Za-z0-9_.-]{1,64}`, not `.` or `..`.
pub fn validate(id: &str) -> Result<(), InvalidId> {
    if id.is_empty() {
        return Err(InvalidId::Empty);
    }
    let len = id.chars().count();
    if len > 64 {
        return Err(InvalidId::TooLong(len));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(InvalidId::BadChar(id.to_string()));
    }
    if id == "." || id == ".." {
        return Err(InvalidId::Reserved(id.to_string()));
    }
    Ok(())
}

/// A validated account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(id: &str) -> Result<AccountId, InvalidId> {
        validate(id).map(|()| AccountId(id.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in [
            "a",
            "alice_01",
            "bot.main-2",
            &"x".repeat(64),
            ".hidden",
            "...",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_would_escape_or_break_a_file_name() {
        assert_eq!(validate(""), Err(InvalidId::Empty));
        assert_eq!(validate(&"x".repeat(65)), Err(InvalidId::TooLong(65)));
        assert!(matches!(validate("a/b"), Err(InvalidId::BadChar(_))));
        assert!(matches!(validate("a b"), Err(InvalidId::BadChar(_))));
        assert!(matches!(validate("é"), Err(InvalidId::BadChar(_))));
        assert!(matches!(validate("."), Err(InvalidId::Reserved(_))));
        assert!(matches!(validate(".."), Err(InvalidId::Reserved(_))));
    }
}
