//! Finding aria2c processes and sorting them: ours (a leftover of this data
//! dir: its command line names our session file, or it is the recorded
//! instance) or foreign (anything else: listed, never touched).

use std::path::Path;

use super::args::{option_value, redact_cmdline};
use crate::model::ForeignAria2;
use crate::proc::{ProcId, Stat, cmdline, find_by_comms};

/// An aria2c of this data dir that steward did not start in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub stat: Stat,
    pub cmdline: Vec<String>,
    /// Why it counts as ours.
    pub why: &'static str,
}

impl Leftover {
    pub fn id(&self) -> ProcId {
        ProcId {
            pid: self.stat.pid,
            start_time: self.stat.start_time,
        }
    }

    /// Its RPC port, from its command line.
    pub fn port(&self) -> Option<u16> {
        option_value(&self.cmdline, "rpc-listen-port").and_then(|p| p.parse().ok())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scan {
    pub ours: Vec<Leftover>,
    pub foreign: Vec<ForeignAria2>,
}

/// Whether `cmdline` uses `session` as `--save-session` or `--input-file`.
pub fn names_session(cmdline: &[String], session: &Path) -> bool {
    ["save-session", "input-file"]
        .iter()
        .filter_map(|opt| option_value(cmdline, opt))
        .any(|value| Path::new(value) == session)
}

/// Lists the live processes named like aria2c (`comms`: kernel names, e.g.
/// `aria2c`), except `exclude` (our current instance), and sorts them.
/// A process counts as ours only if it is aria2c-named *and* either names
/// `session` or is exactly `recorded` (pid and start time): a recorded pid now
/// used by some other program is never ours.
pub fn scan(
    comms: &[String],
    session: &Path,
    recorded: Option<ProcId>,
    exclude: Option<i32>,
) -> Scan {
    classify(find_by_comms(comms), session, recorded, exclude)
}

/// `scan` of processes already found by name (e.g. by a `proc::CommWatch`).
pub fn classify(
    found: Vec<Stat>,
    session: &Path,
    recorded: Option<ProcId>,
    exclude: Option<i32>,
) -> Scan {
    let mut out = Scan::default();
    for stat in found {
        if stat.is_zombie() || Some(stat.pid) == exclude {
            continue;
        }
        // Unreadable (vanished, or hidden by hidepid): judged on identity alone.
        let cmd = cmdline(stat.pid).unwrap_or_default();
        let is_recorded =
            recorded.is_some_and(|r| r.pid == stat.pid && r.start_time == stat.start_time);
        let why = if names_session(&cmd, session) {
            Some("its command line names this data dir's session file")
        } else if is_recorded {
            Some("it is the aria2c recorded for this data dir (same pid and start time)")
        } else {
            None
        };
        match why {
            Some(why) => out.ours.push(Leftover {
                stat,
                cmdline: cmd,
                why,
            }),
            None => out.foreign.push(ForeignAria2 {
                pid: stat.pid,
                start_time: stat.start_time,
                port: option_value(&cmd, "rpc-listen-port").and_then(|p| p.parse().ok()),
                cmdline: redact_cmdline(&cmd),
            }),
        }
    }
    out.foreign.sort_by_key(|f| f.pid);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_matched_exactly() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let session = Path::new("/d/aria2/session");
        assert!(names_session(
            &s(&["aria2c", "--save-session=/d/aria2/session"]),
            session
        ));
        assert!(names_session(
            &s(&["aria2c", "--input-file", "/d/aria2/session"]),
            session
        ));
        assert!(!names_session(
            &s(&["aria2c", "--save-session=/d/aria2/session2"]),
            session
        ));
        assert!(!names_session(
            &s(&["aria2c", "--dir=/d/aria2/session"]),
            session
        ));
    }
}
