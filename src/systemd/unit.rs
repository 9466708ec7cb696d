//! The unit file `steward service print` writes: `assets/steward.service`
//! with this machine's binary, data dir, config and stop timeout filled in,
//! in the system flavour (a dedicated user, sandboxed) or the `--user` one.
//! Rewritten key by key, so the shipped asset stays a working unit itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The unit as shipped (`assets/steward.service`).
pub const TEMPLATE: &str = include_str!("../../assets/steward.service");

/// The system flavour's data dir: `StateDirectory=steward`.
pub const SYSTEM_DATA_DIR: &str = "/var/lib/steward";

/// What a printed unit is made for.
#[derive(Debug, Clone)]
pub struct UnitOptions {
    pub binary: PathBuf,
    pub data_dir: PathBuf,
    pub config: Option<PathBuf>,
    /// `systemctl --user`: no `User=`, no sandboxing that needs privileges.
    pub user_unit: bool,
    /// The data dir the flavour's `StateDirectory=steward` makes (kept only
    /// when `data_dir` is it).
    pub state_dir: PathBuf,
    /// `TimeoutStopSec=`: above the whole shutdown plan.
    pub stop_timeout: Duration,
    /// Dirs outside the data dir steward writes (a download dir, a temp root).
    pub also_writable: Vec<PathBuf>,
}

/// Keys a user unit leaves out: `User=`/`Group=` are the user already, and
/// the sandboxing ones need privileges a user manager does not have.
const NOT_IN_USER_UNITS: [&str; 5] = [
    "User",
    "Group",
    "ProtectSystem",
    "ReadWritePaths",
    "PrivateTmp",
];

/// The unit text for `options`.
pub fn render(options: &UnitOptions) -> String {
    let uses_state_dir = options.data_dir == options.state_dir;
    let mut out = String::new();
    // Comment lines belong to the key line after them: kept or dropped with it.
    let mut comments = String::new();
    for line in TEMPLATE.lines() {
        if line.starts_with('#') {
            comments.push_str(line);
            comments.push('\n');
            continue;
        }
        let key = line.split_once('=').map(|(k, _)| k.trim());
        let replaced = match key {
            Some(k) if options.user_unit && NOT_IN_USER_UNITS.contains(&k) => None,
            Some("StateDirectory" | "StateDirectoryMode") if !uses_state_dir => None,
            Some("ExecStart") => Some(format!("ExecStart={}", exec_start(options))),
            Some("TimeoutStopSec") => Some(format!(
                "TimeoutStopSec={}s",
                options.stop_timeout.as_secs()
            )),
            Some("ReadWritePaths") => {
                let dirs: Vec<String> = std::iter::once(&options.data_dir)
                    .chain(&options.also_writable)
                    .map(|d| quote(d))
                    .collect();
                Some(format!("ReadWritePaths={}", dirs.join(" ")))
            }
            Some("WantedBy") if options.user_unit => Some("WantedBy=default.target".to_string()),
            _ => Some(line.to_string()),
        };
        if let Some(line) = replaced {
            out.push_str(&comments);
            out.push_str(&line);
            out.push('\n');
        }
        comments.clear();
    }
    out.push_str(&comments);
    out
}

fn exec_start(options: &UnitOptions) -> String {
    let mut words = vec![
        quote(&options.binary),
        "--data-dir".to_string(),
        quote(&options.data_dir),
    ];
    if let Some(config) = &options.config {
        words.push("--config".to_string());
        words.push(quote(config));
    }
    words.push("run --headless".to_string());
    words.join(" ")
}

/// A path as one systemd word: quoted (C-style escapes) when it needs it;
/// `%` is doubled, as systemd expands specifiers in these lines.
fn quote(path: &Path) -> String {
    let text = path.display().to_string().replace('%', "%%");
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c))
    {
        return text;
    }
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            _ => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(user_unit: bool, data_dir: &str) -> UnitOptions {
        UnitOptions {
            binary: "/opt/steward bin/steward".into(),
            data_dir: data_dir.into(),
            config: Some("/etc/steward.toml".into()),
            user_unit,
            state_dir: if user_unit {
                "/home/op/.local/state/steward".into()
            } else {
                SYSTEM_DATA_DIR.into()
            },
            stop_timeout: Duration::from_secs(52),
            also_writable: vec!["/srv/downloads".into()],
        }
    }

    #[test]
    fn the_system_unit_gets_this_machines_paths() {
        let unit = render(&options(false, SYSTEM_DATA_DIR));
        assert!(unit.contains(
            "ExecStart=\"/opt/steward bin/steward\" --data-dir /var/lib/steward --config /etc/steward.toml run --headless\n"
        ), "{unit}");
        assert!(unit.contains("TimeoutStopSec=52s\n"));
        assert!(unit.contains("ReadWritePaths=/var/lib/steward /srv/downloads\n"));
        assert!(unit.contains("User=steward\n") && unit.contains("StateDirectory=steward\n"));
        assert!(unit.contains("KillMode=mixed\n") && unit.contains("Type=notify\n"));
    }

    #[test]
    fn the_user_unit_drops_what_needs_privileges_with_its_comments() {
        let unit = render(&options(true, "/srv/fleet"));
        for gone in [
            "User=",
            "Group=",
            "ProtectSystem=",
            "PrivateTmp=",
            "StateDirectory=",
            "A dedicated user",
        ] {
            assert!(!unit.contains(gone), "{gone} left in:\n{unit}");
        }
        assert!(unit.contains("WantedBy=default.target\n"));
        assert!(unit.contains("NoNewPrivileges=yes\n"));
    }

    #[test]
    fn odd_paths_are_quoted_and_specifiers_escaped() {
        assert_eq!(quote(Path::new("/a b/\"c\"")), r#""/a b/\"c\"""#);
        assert_eq!(quote(Path::new("/srv/100%")), "/srv/100%%");
    }
}
