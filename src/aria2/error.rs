//! `Aria2Error`: everything that can go wrong talking to or running aria2c, one clear line each.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// An aria2 operation that did not happen. The Display is the line shown to people.
#[derive(Debug, thiserror::Error)]
pub enum Aria2Error {
    #[error("aria2 is disabled in the config ([aria2] enabled = false)")]
    Disabled,
    #[error("aria2c not installed ({})", super::binary::not_found_hint(binary))]
    NotInstalled { binary: String },
    #[error("aria2 is not running ({state})")]
    NotRunning { state: String },
    #[error("cannot reach aria2 RPC at {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("aria2 RPC at {addr} did not answer within {timeout:?}")]
    Timeout { addr: SocketAddr, timeout: Duration },
    #[error("aria2 RPC at {addr}: bad HTTP answer: {detail}")]
    Http { addr: SocketAddr, detail: String },
    #[error(
        "aria2 RPC at {addr} refused steward's secret (Unauthorized): it is not the instance steward started"
    )]
    Unauthorized { addr: SocketAddr },
    #[error("aria2 RPC error {code}: {message}")]
    Rpc { code: i64, message: String },
    #[error("aria2 RPC: unexpected answer to {method}: {detail}")]
    Protocol { method: String, detail: String },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("store: {0}")]
    Store(String),
    #[error("download dir {0:?} refused: use a relative path without `..`")]
    InvalidSubdir(String),
    #[error("URL {0:?} refused: give one http(s), ftp, sftp, magnet or file URL")]
    InvalidUrl(String),
    #[error("account id refused: {0}")]
    InvalidAccount(String),
    #[error("the aria2 supervisor has ended (steward is shutting down)")]
    Gone,
}

impl Aria2Error {
    /// An I/O error with what was being done and where.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Aria2Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// True when the RPC endpoint could not be reached at all (nothing listening, or timed out).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Aria2Error::Connect { .. } | Aria2Error::Timeout { .. }
        )
    }
}
