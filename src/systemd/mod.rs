//! steward and systemd: the notify socket steward reports to when it runs
//! as a `Type=notify` service, and whether its stderr is the journal.

mod notify;

pub use notify::Notifier;

/// Whether stderr goes to the journal (`JOURNAL_STREAM`) or steward runs
/// as a unit (`INVOCATION_ID`): log lines then also go to stderr, with
/// syslog priority prefixes for `journalctl -p`.
pub fn under_journal() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some() || std::env::var_os("INVOCATION_ID").is_some()
}
