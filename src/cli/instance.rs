//! Reaching the data dir's running instance over its control socket: who
//! holds the instance lock decides whether one runs; the connection (as
//! `Role::Control`) is retried briefly while the lock is held but the socket
//! does not answer yet (an instance starting, or one ending). Also how a
//! reply is printed, as text or with `--json`, and what exit it comes to.

use std::time::Duration;

use serde_json::value::RawValue;

use super::failure::Failure;
use super::globals::{Globals, lock_state};
use super::text;
use crate::link::{Client, LinkError, Reply};
use crate::lock::LockState;
use crate::model::{Ask, Command, Role};

/// How long a held lock without a listening socket is waited out: an
/// instance opens its socket within its start, and removes it only at its
/// very end, just before it releases the lock.
const SOCKET_WAIT: Duration = Duration::from_secs(10);
/// Between two connection attempts while waiting.
const RETRY: Duration = Duration::from_millis(50);

/// A connection to the running instance, past its hello, with the runtime
/// that drives it (one thread: a one-shot command needs no more).
pub(super) struct Instance {
    pub runtime: tokio::runtime::Runtime,
    pub client: Client,
}

impl Instance {
    /// The running instance's pid, as it said in its welcome.
    pub fn pid(&self) -> i32 {
        self.client.welcome.pid
    }

    /// Sends `ask` and waits for its reply.
    pub fn ask(&mut self, ask: Ask) -> Result<Reply, Failure> {
        self.runtime
            .block_on(self.client.ask(ask))
            .map_err(link_failure)
    }

    /// Carries out `command` in the instance; returns once it has acted.
    pub fn command(&mut self, command: Command) -> Result<Reply, Failure> {
        self.ask(Ask::Command { command })
    }
}

/// The running instance of the data dir, connected; `None` when the
/// instance lock is free (nothing runs). `who` names this client in the
/// instance's log.
pub(super) fn reach(globals: &Globals, who: &str) -> Result<Option<Instance>, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    let dir = globals.data_dir.root();
    let socket = globals.data_dir.control_socket();
    /// Why an attempt did not connect: only a held lock without a listening
    /// socket is worth another try.
    enum Miss {
        Silent(Option<i32>),
        Failed(Failure),
    }
    let connected = crate::retry::within(
        SOCKET_WAIT,
        RETRY,
        || {
            let pid = match lock_state(globals).map_err(Miss::Failed)? {
                LockState::Free => return Ok(None),
                LockState::HeldBy(pid) => pid,
            };
            match runtime.block_on(Client::connect(dir, &socket, Role::Control, who)) {
                Ok(client) => Ok(Some(client)),
                Err(LinkError::NotRunning { .. }) => Err(Miss::Silent(pid)),
                Err(e) => Err(Miss::Failed(link_failure(e))),
            }
        },
        |miss| matches!(miss, Miss::Silent(_)),
    );
    match connected {
        Ok(client) => Ok(client.map(|client| Instance { runtime, client })),
        Err(Miss::Failed(failure)) => Err(failure),
        Err(Miss::Silent(pid)) => {
            let pid = pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
            Err(Failure::runtime(format!(
                "a steward (pid {pid}) holds {} but does not answer on {} (is it an older steward? stop it with SIGTERM)",
                dir.display(),
                socket.display()
            )))
        }
    }
}

/// A failed connection to the running instance as one line (exit 1).
pub(super) fn link_failure(e: LinkError) -> Failure {
    match e {
        LinkError::NotRunning { dir } => Failure::runtime(format!(
            "no instance running on {} (start one: `steward`, or `steward run --headless`)",
            dir.display()
        )),
        other => Failure::runtime(other.to_string()),
    }
}

/// A reply as `--json` prints it: `{"ok":..,"text":..,"value":..}`, the
/// value as the instance sent it (`null` when it sent none).
#[derive(serde::Serialize)]
pub(super) struct ReplyJson<'a> {
    pub ok: bool,
    pub text: &'a str,
    pub value: Option<&'a RawValue>,
}

/// Prints one `--json` reply line.
pub(super) fn print_json(ok: bool, text: &str, value: Option<&RawValue>) {
    // Serializing plain fields and an already-valid RawValue cannot fail.
    let line = serde_json::to_string(&ReplyJson { ok, text, value }).unwrap_or_default();
    text::json_line(&line);
}

/// Prints the instance's reply to a command: its line, or with `json` the
/// reply object. A refusal (`ok: false`) is a runtime failure (exit 1).
pub(super) fn print_reply(reply: &Reply, json: bool) -> Result<(), Failure> {
    if json {
        print_json(reply.ok, &reply.text, reply.value.as_deref());
    } else if reply.ok {
        text::println(&reply.text);
    }
    if reply.ok {
        Ok(())
    } else {
        Err(Failure::runtime(reply.text.clone()))
    }
}

/// Prints the outcome of a command carried out here (no instance running),
/// in the same shape as an instance's reply.
pub(super) fn print_done(line: &str, json: bool) {
    if json {
        print_json(true, line, None);
    } else {
        text::println(line);
    }
}
