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

/// The longest display name, in characters: room for any real name, and a
/// table column that still fits a screen.
pub const NAME_MAX: usize = 200;

/// Why a display name was refused; the Display is the one line shown to people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    #[error("account name is {0} characters long (use at most 200)")]
    TooLong(usize),
    #[error(
        "account name has a control character ({0}) (names are shown on terminals: use printable text)"
    )]
    Control(String),
}

/// Checks a display name: at most [`NAME_MAX`] characters, no control
/// characters (an escape sequence in a name would steer the terminal that
/// shows it).
pub fn validate_name(name: &str) -> Result<(), InvalidName> {
    let len = name.chars().count();
    if len > NAME_MAX {
        return Err(InvalidName::TooLong(len));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(InvalidName::Control(c.escape_default().to_string()));
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
    fn names_are_limited_in_length_and_refuse_control_characters() {
        assert!(validate_name("Alice (main) – été 🚀").is_ok());
        assert!(validate_name(&"é".repeat(200)).is_ok());
        assert_eq!(
            validate_name(&"x".repeat(70_000)),
            Err(InvalidName::TooLong(70_000))
        );
        assert_eq!(
            validate_name("a\u{1b}[31mred"),
            Err(InvalidName::Control("\\u{1b}".into()))
        );
        for bad in ["a\nb", "a\tb", "\u{9b}31m", "\u{7f}", "\0"] {
            assert!(
                matches!(validate_name(bad), Err(InvalidName::Control(_))),
                "{bad:?}"
            );
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
