//! The RPC secret: random per steward run, hex, kept in 0600 files under
//! `<data-dir>/aria2/`, and never shown by `Debug` or logged.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::Aria2Error;

/// aria2's `--rpc-secret` value. `Debug` hides it so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct RpcSecret(String);

impl RpcSecret {
    /// 16 bytes from `/dev/urandom`, hex-encoded (32 characters).
    pub fn generate() -> Result<Self, Aria2Error> {
        let path = Path::new("/dev/urandom");
        let mut bytes = [0u8; 16];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| Aria2Error::io("reading", path, e))?;
        Ok(RpcSecret(hex(&bytes)))
    }

    /// Wraps a known value (read from the secret file, or given by a test).
    pub fn new(value: impl Into<String>) -> Self {
        RpcSecret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret file written by `write_private`: its first line, trimmed.
    pub fn read_file(path: &Path) -> Result<Self, Aria2Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Aria2Error::io("reading", path, e))?;
        let value = text.lines().next().unwrap_or("").trim();
        if value.is_empty() {
            return Err(Aria2Error::io(
                "reading",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, "empty secret file"),
            ));
        }
        Ok(RpcSecret(value.to_owned()))
    }
}

impl fmt::Debug for RpcSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RpcSecret(••••)")
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Writes `contents` to `path` with mode 0600: into `path.tmp` (created 0600,
/// so the value is never readable by others, not even briefly), then renamed over `path`.
pub fn write_private(path: &Path, contents: &str) -> Result<(), Aria2Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    // A stale tmp file may have other permissions: start from nothing.
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Aria2Error::io("creating", &tmp, e))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Aria2Error::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Aria2Error::io("renaming to", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_random_hex_and_hidden_from_debug() {
        let a = RpcSecret::generate().unwrap();
        let b = RpcSecret::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 32);
        assert!(a.expose().chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn private_files_are_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpc-secret");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, "abc123\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(RpcSecret::read_file(&path).unwrap().expose(), "abc123");
    }
}
