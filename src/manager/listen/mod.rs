//! The control socket, `<data-dir>/control.sock`: how the CLI and attached
//! dashboards reach a running instance. Only steward's own user (or root)
//! gets past the peer check; the frames are `model::protocol`'s, the client
//! side is `link`. Opened and removed while the instance lock is held, so a
//! socket file left by a killed instance is only ever replaced by the next
//! instance of the same data dir.

mod connection;
mod feed;
mod served;

pub(super) use served::Served;

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// Clients served at once; one more is told so and closed.
const MAX_CLIENTS: usize = 64;
/// How long clients get, once the instance stopped, to read its last snapshot.
const FAREWELL: Duration = Duration::from_secs(1);

/// The listening socket and its connections.
pub(super) struct ControlSocket {
    path: PathBuf,
    stop: CancellationToken,
    closing: CancellationToken,
    connections: TaskTracker,
}

impl ControlSocket {
    /// Replaces a leftover socket file (the caller holds the instance lock),
    /// binds `path` readable by steward's user only, and serves.
    pub(super) fn open(path: &Path, served: Served) -> io::Result<ControlSocket> {
        remove_leftover(path)?;
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let listener = UnixListener::from_std(listener)?;
        let socket = ControlSocket {
            path: path.to_path_buf(),
            stop: CancellationToken::new(),
            closing: served.closing.clone(),
            connections: TaskTracker::new(),
        };
        tokio::spawn(accept_loop(
            listener,
            served,
            socket.stop.clone(),
            socket.connections.clone(),
        ));
        info!(path = %path.display(), "control socket listening");
        Ok(socket)
    }

    /// Stops accepting, gives connected clients a moment to read the last
    /// snapshot, and removes the socket file (still under the instance lock).
    pub(super) async fn close(self) {
        self.stop.cancel();
        self.closing.cancel();
        self.connections.close();
        let _ = tokio::time::timeout(FAREWELL, self.connections.wait()).await;
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            warn!(error = %e, path = %self.path.display(), "cannot remove the control socket");
        }
    }
}

/// A socket file at `path` is a killed instance's: remove it. Anything else
/// there (a regular file, a dir, a symlink) is not ours to remove.
fn remove_leftover(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            info!(path = %path.display(), "removing the control socket a previous instance left");
            std::fs::remove_file(path)
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket (move it away)",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

async fn accept_loop(
    listener: UnixListener,
    served: Served,
    stop: CancellationToken,
    connections: TaskTracker,
) {
    let me = rustix::process::geteuid().as_raw();
    while let Some(stream) =
        super::accept::next_connection(&stop, "control socket", || listener.accept()).await
    {
        let (who, allowed) = match stream.peer_cred() {
            Ok(cred) => (
                format!(
                    "uid {} pid {}",
                    cred.uid(),
                    cred.pid().map_or_else(|| "?".into(), |p| p.to_string())
                ),
                cred.uid() == me || cred.uid() == 0,
            ),
            Err(e) => (format!("unknown peer ({e})"), false),
        };
        if !allowed {
            connections.spawn(refuse(
                stream,
                who,
                format!("refused: only uid {me} (steward's user) or root may use this instance"),
            ));
            continue;
        }
        if connections.len() >= MAX_CLIENTS {
            connections.spawn(refuse(
                stream,
                who,
                format!("refused: {MAX_CLIENTS} clients are connected already"),
            ));
            continue;
        }
        connections.spawn(connection::serve(stream, served.clone(), who));
    }
}

async fn refuse(stream: UnixStream, who: String, text: String) {
    let (_, mut write) = stream.into_split();
    connection::refuse(&mut write, &who, &text).await;
}
