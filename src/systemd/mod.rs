//! steward and systemd: the notify socket steward reports to when it runs
//! as a `Type=notify` service, whether its stderr is the journal, and the
//! unit file `steward service print` writes.

mod notify;
pub mod unit;

pub use notify::Notifier;

/// Whether stderr goes to the journal (`JOURNAL_STREAM`) or steward runs
/// as a unit (`INVOCATION_ID`): log lines then also go to stderr, with
/// syslog priority prefixes for `journalctl -p`.
pub fn under_journal() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some() || std::env::var_os("INVOCATION_ID").is_some()
}
