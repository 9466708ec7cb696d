//! The signals that ask a running steward (dashboard or headless) to shut down,
//! and what each one means. SIGTERM and SIGINT mean the same as `q` (systemd
//! stop or Ctrl+C = graceful shutdown; a second one forces). SIGHUP is not a
//! request of the operator's but news that the terminal is gone: the same event
//! as a failed redraw, graceful and never escalating (an SSH drop sends several,
//! in any order with the failed write). SIGUSR1 and SIGUSR2 are `steward stop`'s
//! own: "graceful stop" (idempotent, never escalates however often it comes)
//! and "force".

use std::future::pending;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// What a received signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    /// SIGTERM/SIGINT: like `q`: graceful the first time, force the next.
    Quit,
    /// SIGHUP: the terminal hung up. Graceful however often it comes; never
    /// counts as the operator's first request.
    HangUp,
    /// SIGUSR1 (plain `steward stop`): graceful; a no-op once a shutdown runs.
    Graceful,
    /// SIGUSR2 (`steward stop --force`).
    Force,
}

/// The stop signals; any that could not be installed is simply never received.
/// Install them before the data dir is locked: `steward stop` may signal as soon
/// as it sees the lock, and SIGUSR1's default action would kill the process.
pub struct QuitSignals {
    terminate: Option<Signal>,
    hangup: Option<Signal>,
    interrupt: Option<Signal>,
    graceful: Option<Signal>,
    force: Option<Signal>,
    /// Tests hand requests in here instead of signalling the whole test process.
    #[cfg(test)]
    injected: Option<tokio::sync::mpsc::UnboundedReceiver<StopRequest>>,
}

async fn next(signal: &mut Option<Signal>) {
    if let Some(signal) = signal
        && signal.recv().await.is_some()
    {
        return;
    }
    // Not installed, or the signal driver is gone (`recv` gave `None`): never fire.
    pending().await
}

impl QuitSignals {
    /// Needs a tokio runtime with the IO driver (inside `block_on`).
    pub fn install() -> QuitSignals {
        QuitSignals {
            terminate: signal(SignalKind::terminate()).ok(),
            hangup: signal(SignalKind::hangup()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
            graceful: signal(SignalKind::user_defined1()).ok(),
            force: signal(SignalKind::user_defined2()).ok(),
            #[cfg(test)]
            injected: None,
        }
    }

    /// No real signals: the requests sent on the returned channel instead.
    #[cfg(test)]
    pub fn injected() -> (QuitSignals, tokio::sync::mpsc::UnboundedSender<StopRequest>) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let signals = QuitSignals {
            terminate: None,
            hangup: None,
            interrupt: None,
            graceful: None,
            force: None,
            injected: Some(receiver),
        };
        (signals, sender)
    }

    /// False when a handler could not be installed (that signal would then
    /// kill steward, or be lost, instead of stopping it in order).
    pub fn all_installed(&self) -> bool {
        [
            &self.terminate,
            &self.hangup,
            &self.interrupt,
            &self.graceful,
            &self.force,
        ]
        .iter()
        .all(|s| s.is_some())
    }

    /// Resolves at the next stop signal.
    pub async fn recv(&mut self) -> StopRequest {
        #[cfg(test)]
        if let Some(injected) = &mut self.injected {
            return match injected.recv().await {
                Some(request) => request,
                None => pending().await,
            };
        }
        tokio::select! {
            () = next(&mut self.terminate) => StopRequest::Quit,
            () = next(&mut self.hangup) => StopRequest::HangUp,
            () = next(&mut self.interrupt) => StopRequest::Quit,
            () = next(&mut self.graceful) => StopRequest::Graceful,
            () = next(&mut self.force) => StopRequest::Force,
        }
    }
}
