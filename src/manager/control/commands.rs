//! What a `Command` asks for, decided without running anything: checks
//! (ids, names, secrets, a foreign aria2c still listed, a shutdown under
//! way) happen here and the outcome is a list of `Effect`s, which the loop
//! then carries out (`effects.rs`). So the rules are unit-tested as data.

use crate::accounts::id::{validate, validate_name};
use crate::model::{Command, ForeignAria2, NoticeLevel};
use crate::redact::check_secret;
use crate::store::AccountRow;
use crate::time::now_ms;

/// One thing the loop does for a command.
#[derive(Debug, PartialEq)]
pub(super) enum Effect {
    Notice(NoticeLevel, String),
    /// A line for steward's log only.
    Log(&'static str),
    /// Write to the accounts table; on success say `done` and reconcile the
    /// fleet at once (the store poll only sees other processes' commits).
    Write {
        write: AccountWrite,
        done: String,
    },
    /// Hand the account's supervisor an operation, saying `verb`.
    Worker {
        id: String,
        op: WorkerOp,
        verb: &'static str,
    },
    CancelTask {
        id: u64,
        force: bool,
    },
    RestartAria2,
    AddDownload {
        url: String,
        account: Option<String>,
        subdir: Option<String>,
    },
    RemoveDownload {
        gid: String,
    },
    StopForeignAria2(ForeignAria2),
    PreviewSweep,
    ApplySweep {
        plan_id: u64,
    },
    DismissSweep,
    BeginShutdown,
    ForceShutdown,
}

#[derive(Debug, PartialEq)]
pub(super) enum AccountWrite {
    Add(AccountRow),
    Remove(String),
    SetEnabled(String, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WorkerOp {
    Start,
    Stop,
    Restart,
}

/// What `cmd` comes to, given whether a shutdown runs and which aria2c
/// processes are listed as foreign.
pub(super) fn plan(cmd: Command, shutting_down: bool, foreign: &[ForeignAria2]) -> Vec<Effect> {
    if shutting_down {
        return while_shutting_down(&cmd);
    }
    let error = |text: String| vec![Effect::Notice(NoticeLevel::Error, text)];
    match cmd {
        Command::Shutdown { force: false } => vec![Effect::BeginShutdown],
        Command::Shutdown { force: true } => vec![Effect::BeginShutdown, Effect::ForceShutdown],
        Command::AddAccount {
            id,
            name,
            secret,
            enabled,
        } => {
            if let Err(e) = validate(&id) {
                return error(e.to_string());
            }
            if let Some(Err(e)) = secret.as_ref().map(|s| check_secret(s.expose())) {
                return error(format!("account {id}: {e}"));
            }
            if let Some(e) = name.as_deref().and_then(|n| validate_name(n).err()) {
                return error(e.to_string());
            }
            let row = AccountRow {
                name: name.unwrap_or_else(|| id.clone()),
                id: id.clone(),
                enabled,
                secret: secret.map(|s| s.0),
                created_ms: now_ms(),
            };
            vec![Effect::Write {
                write: AccountWrite::Add(row),
                done: format!("account {id} added"),
            }]
        }
        Command::RemoveAccount { id } => vec![Effect::Write {
            done: format!("account {id} removed: stopping its worker, session file goes to trash"),
            write: AccountWrite::Remove(id),
        }],
        Command::SetEnabled { id, enabled } => vec![Effect::Write {
            done: format!(
                "account {id} {}",
                if enabled { "enabled" } else { "disabled" }
            ),
            write: AccountWrite::SetEnabled(id, enabled),
        }],
        Command::StartWorker { id } => worker(id, WorkerOp::Start, "starting"),
        Command::StopWorker { id } => worker(id, WorkerOp::Stop, "stopping"),
        Command::RestartWorker { id } => worker(id, WorkerOp::Restart, "restarting"),
        Command::CancelTask { id, force } => vec![Effect::CancelTask { id, force }],
        Command::RestartAria2 => vec![
            Effect::Notice(NoticeLevel::Info, "restarting aria2c".into()),
            Effect::RestartAria2,
        ],
        Command::AddDownload {
            url,
            account,
            subdir,
        } => vec![Effect::AddDownload {
            url,
            account,
            subdir,
        }],
        Command::RemoveDownload { gid } => vec![Effect::RemoveDownload { gid }],
        Command::StopForeignAria2 { pid, start_time } => {
            match foreign
                .iter()
                .find(|f| f.pid == pid && f.start_time == start_time)
            {
                Some(f) => vec![Effect::StopForeignAria2(f.clone())],
                None => error(format!(
                    "aria2c pid {pid} is not listed as foreign (any more)"
                )),
            }
        }
        Command::PreviewSweep => vec![Effect::PreviewSweep],
        Command::ApplySweep { plan_id } => vec![Effect::ApplySweep { plan_id }],
        Command::DismissSweep => vec![Effect::DismissSweep],
    }
}

/// During a shutdown only an explicit force does anything: a repeated
/// graceful request (two `steward stop`s) must never kill a worker mid-save,
/// and new work is refused out loud.
fn while_shutting_down(cmd: &Command) -> Vec<Effect> {
    match cmd {
        Command::Shutdown { force: true } => vec![Effect::ForceShutdown],
        Command::Shutdown { force: false } => vec![Effect::Log(
            "graceful shutdown request while shutting down: already under way",
        )],
        cmd if cmd.starts_work() => vec![Effect::Notice(
            NoticeLevel::Error,
            "steward is shutting down: command refused".into(),
        )],
        _ => Vec::new(),
    }
}

fn worker(id: String, op: WorkerOp, verb: &'static str) -> Vec<Effect> {
    vec![Effect::Worker { id, op, verb }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Secret;

    fn add(id: &str, name: Option<&str>, secret: Option<&str>) -> Command {
        Command::AddAccount {
            id: id.into(),
            name: name.map(Into::into),
            secret: secret.map(|s| Secret(s.into())),
            enabled: true,
        }
    }

    fn error_text(effects: &[Effect]) -> &str {
        match effects {
            [Effect::Notice(NoticeLevel::Error, text)] => text,
            other => panic!("expected one error notice, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_account_is_refused_before_any_write() {
        assert!(error_text(&plan(add("../x", None, None), false, &[])).contains("account id"));
        let short = plan(add("alice", None, Some("abc")), false, &[]);
        assert!(error_text(&short).starts_with("account alice: "));
        assert!(
            !error_text(&short).contains("abc"),
            "the secret is not echoed"
        );
        let bad_name = plan(add("alice", Some("a\u{7}b"), None), false, &[]);
        error_text(&bad_name);
    }

    #[test]
    fn a_good_account_is_one_write_named_after_its_id() {
        let effects = plan(add("alice", None, Some("long-enough-secret")), false, &[]);
        let [
            Effect::Write {
                write: AccountWrite::Add(row),
                done,
            },
        ] = &effects[..]
        else {
            panic!("{effects:?}");
        };
        assert_eq!(row.name, "alice");
        assert_eq!(row.secret.as_deref(), Some("long-enough-secret"));
        assert_eq!(done, "account alice added");
    }

    #[test]
    fn while_shutting_down_only_force_escalates_and_new_work_is_refused() {
        let graceful = Command::Shutdown { force: false };
        let force = Command::Shutdown { force: true };
        assert_eq!(plan(graceful.clone(), false, &[]), [Effect::BeginShutdown]);
        assert_eq!(
            plan(force.clone(), false, &[]),
            [Effect::BeginShutdown, Effect::ForceShutdown]
        );
        assert!(matches!(plan(graceful, true, &[])[..], [Effect::Log(_)]));
        assert_eq!(plan(force, true, &[]), [Effect::ForceShutdown]);
        let start = Command::StartWorker { id: "a".into() };
        assert_eq!(
            error_text(&plan(start, true, &[])),
            "steward is shutting down: command refused"
        );
        // Stopping things is not new work: nothing to refuse, nothing to do.
        assert_eq!(plan(Command::StopWorker { id: "a".into() }, true, &[]), []);
    }

    #[test]
    fn a_foreign_aria2c_is_stopped_only_while_listed_with_that_start_time() {
        let listed = ForeignAria2 {
            pid: 42,
            start_time: 7,
            port: None,
            cmdline: vec!["aria2c".into()],
        };
        let stop = |start_time| Command::StopForeignAria2 {
            pid: 42,
            start_time,
        };
        assert_eq!(
            plan(stop(7), false, std::slice::from_ref(&listed)),
            [Effect::StopForeignAria2(listed.clone())]
        );
        let reused = plan(stop(8), false, std::slice::from_ref(&listed));
        assert!(error_text(&reused).contains("not listed as foreign"));
    }
}
