//! SIGTERM, SIGHUP and SIGINT while the screen is up: each means the same as `q`
//! (SSH disconnect or systemd stop = graceful shutdown; a second one forces).

use std::future::pending;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The three quit signals; any that could not be installed is simply never received.
pub struct QuitSignals {
    terminate: Option<Signal>,
    hangup: Option<Signal>,
    interrupt: Option<Signal>,
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
    pub fn install() -> QuitSignals {
        QuitSignals {
            terminate: signal(SignalKind::terminate()).ok(),
            hangup: signal(SignalKind::hangup()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Resolves at the next quit signal.
    pub async fn recv(&mut self) {
        tokio::select! {
            () = next(&mut self.terminate) => {}
            () = next(&mut self.hangup) => {}
            () = next(&mut self.interrupt) => {}
        }
    }
}
