//! The built-in reference worker (`steward demo-worker`): what a well-behaved
//! worker does. It appends a heartbeat to its session file, keeps a scratch
//! file in its TMPDIR, logs now and then, and on SIGTERM/SIGINT finishes the
//! write in hand and exits 0 within a second. `STEWARD_DEMO_STOP_DELAY_MS`
//! makes it take that long to clean up, to show a slow worker's stop.

use std::fs::OpenOptions;
use std::io::Write;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

/// Time between heartbeats.
const BEAT: Duration = Duration::from_secs(2);
/// Every how many beats a log line goes to stdout.
const LOG_EVERY: u64 = 5;

/// Runs until SIGTERM or SIGINT; returns the process exit code.
pub async fn run() -> i32 {
    let account = std::env::var("STEWARD_ACCOUNT").unwrap_or_else(|_| "demo".into());
    let session = std::env::var_os("STEWARD_SESSION_FILE");
    let scratch = std::env::var_os("TMPDIR").map(|d| {
        std::path::PathBuf::from(d).join(format!("demo-worker-{}.tmp", std::process::id()))
    });
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("demo-worker: cannot install signal handlers");
        return 1;
    };
    println!(
        "demo worker for {account} started (pid {})",
        std::process::id()
    );
    let mut ticker = tokio::time::interval(BEAT);
    let mut beats: u64 = 0;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = ticker.tick() => {
                beats += 1;
                // The write is synchronous and short: a signal arriving now is
                // handled after it completes, so no half-written line is left.
                if let Some(path) = &session {
                    let line = format!("heartbeat {beats} pid {}\n", std::process::id());
                    if let Err(e) = OpenOptions::new().append(true).create(true).open(path).and_then(|mut f| f.write_all(line.as_bytes())) {
                        eprintln!("demo-worker: cannot write session file: {e}");
                    }
                }
                if let Some(path) = &scratch
                    && let Err(e) = std::fs::write(path, format!("beat {beats}\n"))
                {
                    eprintln!("demo-worker: cannot write scratch file: {e}");
                }
                if beats % LOG_EVERY == 1 {
                    println!("demo worker for {account}: {beats} heartbeats");
                }
            }
        }
    }
    println!("demo worker for {account} stopping");
    let delay = std::env::var("STEWARD_DEMO_STOP_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if delay > 0 {
        // A stand-in for real cleanup work (flushing, closing connections).
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Some(path) = &scratch {
        let _ = std::fs::remove_file(path);
    }
    0
}
