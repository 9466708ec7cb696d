//! Finding the aria2c binary: a name is looked up on `PATH`, a path is taken as is.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Resolves `binary` (`aria2c`, or `/opt/aria2/bin/aria2c`) to an executable
/// file; `None` means "not installed" (the degraded state, not an error).
pub fn resolve(binary: &str) -> Option<PathBuf> {
    if binary.is_empty() {
        return None;
    }
    if binary.contains('/') {
        let path = PathBuf::from(binary);
        return is_executable(&path).then_some(path);
    }
    let path_var = std::env::var_os("PATH")?;
    std::env::split_paths(&path_var)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
}

/// Why `binary` did not resolve, and what to do: a name is looked up on PATH
/// (install aria2); a path was configured (fix `[aria2].binary`).
pub fn not_found_hint(binary: &str) -> String {
    if binary.contains('/') {
        format!("{binary} does not exist or is not executable: fix [aria2].binary")
    } else {
        format!("{binary} not found on PATH: apt install aria2")
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The process name (`comm`, at most 15 bytes) a launched `binary` shows in `/proc/PID/stat`.
pub fn comm_of(binary: &Path) -> String {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.chars()
        .scan(0, |len, c| {
            *len += c.len_utf8();
            (*len <= 15).then_some(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_refuses_missing_or_plain_files() {
        assert!(resolve("sh").is_some());
        assert!(resolve("/bin/sh").is_some());
        assert!(resolve("no-such-binary-steward").is_none());
        assert!(resolve("/nonexistent/aria2c").is_none());
        assert!(resolve("/etc/passwd").is_none());
        assert!(resolve("").is_none());
    }

    #[test]
    fn comm_is_truncated_like_the_kernel_does() {
        assert_eq!(comm_of(Path::new("/usr/bin/aria2c")), "aria2c");
        assert_eq!(
            comm_of(Path::new("/x/a-very-long-binary-name")),
            "a-very-long-bin"
        );
    }
}
