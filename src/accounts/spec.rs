//! `WorkerSpec`: everything needed to run one account's worker, resolved from
//! the config and the account row, so a change of either is a plain `!=`.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, RestartPolicy};
use crate::model::Secret;
use crate::paths::DataDir;
use crate::proc::Sig;
use crate::store::AccountRow;

/// How one account's worker runs, stops and restarts. `Debug` shows the
/// names of the variables only: values may be secrets (aria2's RPC secret).
#[derive(Clone, PartialEq)]
pub struct WorkerSpec {
    pub account: String,
    pub command: Vec<String>,
    /// Extra variables from the config (names and values; values never published).
    pub env: Vec<(String, String)>,
    pub secret: Option<Secret>,
    pub session_file: PathBuf,
    pub stop_signal: Sig,
    pub stop_timeout: Duration,
    pub restart: RestartPolicy,
    pub backoff: Backoff,
}

impl std::fmt::Debug for WorkerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSpec")
            .field("account", &self.account)
            .field("command", &self.command)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("secret", &self.secret)
            .field("session_file", &self.session_file)
            .field("stop_signal", &self.stop_signal)
            .field("stop_timeout", &self.stop_timeout)
            .field("restart", &self.restart)
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// Exponential backoff between restarts: `initial`, doubling, capped at `max`;
/// forgotten once a worker stayed up for `reset_after`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub reset_after: Duration,
}

impl Backoff {
    /// The wait before restart number `failures` (1-based) of a crash streak.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

impl WorkerSpec {
    /// Resolves the spec for `account`. `self_exe` runs the built-in demo
    /// worker when the config names no command.
    pub fn resolve(
        config: &Config,
        data_dir: &DataDir,
        account: &AccountRow,
        self_exe: &std::path::Path,
    ) -> WorkerSpec {
        let command = match &config.worker.command {
            Some(argv) if !argv.is_empty() => argv.clone(),
            _ => vec![
                self_exe.to_string_lossy().into_owned(),
                "demo-worker".to_string(),
            ],
        };
        WorkerSpec {
            account: account.id.clone(),
            command,
            env: config
                .worker
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            secret: account.secret.clone().map(Secret),
            session_file: data_dir.session_file(&account.id),
            // The config validated the name; TERM is the documented default.
            stop_signal: config.worker.stop_signal.parse().unwrap_or(Sig::Term),
            stop_timeout: config.worker.stop_timeout,
            restart: config.worker.restart,
            backoff: Backoff {
                initial: config.worker.backoff_initial,
                max: config.worker.backoff_max,
                reset_after: config.worker.backoff_reset_after,
            },
        }
    }

    /// The names of the variables the worker gets, for the details view.
    pub fn env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = [
            "STEWARD_ACCOUNT",
            "STEWARD_SESSION_FILE",
            "STEWARD_SESSION_LOCK_FD",
            "TMPDIR",
            "STEWARD_TMPDIR",
            "STEWARD_TMPDIR_LOCK_FD",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.secret.is_some() {
            names.push("STEWARD_SECRET".into());
        }
        names.extend(self.env.iter().map(|(k, _)| k.clone()));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_variable_values() {
        let spec = WorkerSpec {
            account: "a".into(),
            command: vec!["w".into()],
            env: vec![("ARIA2_RPC_SECRET".into(), "topsecret".into())],
            secret: Some(Secret("hunter2".into())),
            session_file: "/x".into(),
            stop_signal: Sig::Term,
            stop_timeout: Duration::from_secs(1),
            restart: RestartPolicy::Never,
            backoff: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(2),
                reset_after: Duration::from_secs(3),
            },
        };
        let text = format!("{spec:?}");
        assert!(text.contains("ARIA2_RPC_SECRET"), "{text}");
        assert!(
            !text.contains("topsecret") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            reset_after: Duration::from_secs(30),
        };
        let secs: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.delay(1000), Duration::from_secs(60));
    }
}
