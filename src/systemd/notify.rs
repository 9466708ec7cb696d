//! The service manager's notify socket (sd_notify(3)), by hand: steward
//! takes `NOTIFY_SOCKET` and `WATCHDOG_USEC` once at start and removes them
//! from its environment, so no worker, aria2c or keeper it starts can speak
//! for it (workers get a socket of steward's own instead), and keeps one
//! datagram socket for the process's life. The `sd-notify` crate reads the
//! environment on every call, which that removal would defeat.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

/// Where steward's notifications go; `None` outside a service manager.
#[derive(Clone, Default)]
pub struct Notifier {
    target: Option<Arc<Target>>,
    /// The watchdog interval the service manager asked for (`WatchdogSec=`).
    pub watchdog: Option<Duration>,
}

struct Target {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("active", &self.target.is_some())
            .field("watchdog", &self.watchdog)
            .finish()
    }
}

/// The variables taken from the environment.
const VARIABLES: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

impl Notifier {
    /// Takes the notify socket and watchdog interval from the environment and
    /// removes them from it. Call before any thread exists.
    pub fn take_from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        for name in VARIABLES {
            // SAFETY: the caller runs this before any thread exists (first
            // thing in `cli::main`), so nothing reads the environment meanwhile.
            #[allow(unsafe_code)]
            unsafe {
                std::env::remove_var(name)
            };
        }
        let watchdog = watchdog_interval(usec.as_deref(), pid.as_deref(), std::process::id());
        let target = socket.and_then(|path| match connect(path.as_encoded_bytes()) {
            Ok(target) => Some(Arc::new(target)),
            Err(e) => {
                // No logging exists yet: stderr is the journal here.
                eprintln!(
                    "steward: cannot use NOTIFY_SOCKET: {e} (running without service notifications)"
                );
                None
            }
        });
        Notifier { target, watchdog }
    }

    /// No socket, but a watchdog interval: for tests of what would be sent.
    #[cfg(test)]
    pub fn inactive_with_watchdog(watchdog: Duration) -> Notifier {
        Notifier {
            target: None,
            watchdog: Some(watchdog),
        }
    }

    /// Whether a service manager listens.
    pub fn active(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `lines` (`KEY=value`, newline separated) as one datagram; a
    /// failure is logged once per call and otherwise ignored (a notification
    /// is never worth stopping the fleet for).
    pub fn send(&self, lines: &str) {
        let Some(target) = &self.target else { return };
        if let Err(e) = target
            .socket
            .send_to_addr(lines.as_bytes(), &target.address)
        {
            tracing::debug!(error = %e, "service notification not sent");
        }
    }
}

fn connect(path: &[u8]) -> io::Result<Target> {
    let address = match path.strip_prefix(b"@") {
        // A leading @ names an abstract socket (sd_notify(3)).
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None if path.starts_with(b"/") => SocketAddr::from_pathname(
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path),
        )?,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither an absolute path nor an abstract name",
            ));
        }
    };
    let socket = UnixDatagram::unbound()?;
    // Never block the control loop on a full socket buffer.
    socket.set_nonblocking(true)?;
    Ok(Target { socket, address })
}

/// `WATCHDOG_USEC` when it is meant for this process (`WATCHDOG_PID` unset
/// or ours) and positive.
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if pid.is_some_and(|p| p.parse::<u32>().ok() != Some(me)) {
        return None;
    }
    let usec: u64 = usec?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_ours_only_when_the_pid_matches() {
        let d = Some(Duration::from_secs(30));
        assert_eq!(watchdog_interval(Some("30000000"), None, 7), d);
        assert_eq!(watchdog_interval(Some("30000000"), Some("7"), 7), d);
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }

    #[test]
    fn a_datagram_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            target: Some(Arc::new(
                connect(path.as_os_str().as_encoded_bytes()).unwrap(),
            )),
            watchdog: None,
        };
        notifier.send("READY=1\nSTATUS=up");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=up");
    }
}
