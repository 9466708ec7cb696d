//! aria2c's command line: every flag steward relies on, built in one place,
//! and the `extra_args` the config may add (minus those that would undo ours).

use std::path::PathBuf;

/// Everything one launch of aria2c needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    pub binary: PathBuf,
    /// RPC port on 127.0.0.1.
    pub port: u16,
    /// Our own aria2 config file (0600), holding `rpc-secret=...`.
    pub conf_file: PathBuf,
    /// `--save-session` and `--input-file`: unfinished downloads resume from it.
    pub session_file: PathBuf,
    pub download_dir: PathBuf,
    pub max_concurrent: u32,
    /// `--stop-with-process`: aria2c halts within about 1 s once this pid is gone.
    pub stop_with_pid: u32,
    /// Seconds between session saves (covers a SIGKILL of aria2c).
    pub save_session_interval: u32,
    /// From the config, already filtered by `filter_extra_args`.
    pub extra_args: Vec<String>,
}

/// Options steward sets itself; `extra_args` naming one of them are dropped.
const RESERVED: &[&str] = &[
    "conf-path",
    "daemon",
    "D",
    "disable-ipv6",
    "enable-rpc",
    "input-file",
    "i",
    "no-conf",
    "rpc-listen-all",
    "rpc-listen-port",
    "rpc-secret",
    "rpc-user",
    "rpc-passwd",
    "save-session",
    "stop-with-process",
];

impl LaunchSpec {
    /// The full argument list (without the binary).
    ///
    /// The secret is not on it: `/proc/PID/cmdline` is readable by every local
    /// user, so `rpc-secret` goes in `conf_file` (mode 0600) named by
    /// `--conf-path`. That also keeps `~/.aria2/aria2.conf` out, which is what
    /// `--no-conf` would do (the two cannot be combined: `--no-conf` ignores `--conf-path`).
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--enable-rpc=true".to_owned(),
            "--rpc-listen-all=false".to_owned(),
            "--disable-ipv6=true".to_owned(),
            format!("--rpc-listen-port={}", self.port),
            format!("--conf-path={}", self.conf_file.display()),
            format!("--stop-with-process={}", self.stop_with_pid),
            format!("--save-session={}", self.session_file.display()),
            format!("--save-session-interval={}", self.save_session_interval),
            format!("--input-file={}", self.session_file.display()),
            "--continue=true".to_owned(),
            // A server without Range support cannot resume what a restart
            // interrupted: start that download again from zero rather than
            // fail it with error 8 for good. (0: once every URI of the
            // download refused to resume.)
            "--always-resume=false".to_owned(),
            "--max-resume-failure-tries=0".to_owned(),
            // aria2 1.36 aborts (assertion in Piece::initWrCache) when such a
            // download starts over with its write cache on.
            "--disk-cache=0".to_owned(),
            format!("--dir={}", self.download_dir.display()),
            format!("--max-concurrent-downloads={}", self.max_concurrent.max(1)),
            // Control files (.aria2) as fresh as the session, for a SIGKILLed aria2c.
            format!("--auto-save-interval={}", self.save_session_interval),
            // Plain, quiet console output: it is captured and logged line by line.
            "--enable-color=false".to_owned(),
            "--summary-interval=0".to_owned(),
            "--show-console-readout=false".to_owned(),
        ];
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// The contents of `conf_file`.
    pub fn conf_contents(secret: &super::secret::RpcSecret) -> String {
        format!(
            "# Written by steward for its own aria2c; regenerated at every start.\nrpc-secret={}\n",
            secret.expose()
        )
    }
}

/// Splits `extra` into the arguments kept and those dropped because they
/// would change how steward runs and reaches aria2c (RPC, secret, session, daemon).
pub fn filter_extra_args(extra: &[String]) -> (Vec<String>, Vec<String>) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut iter = extra.iter();
    while let Some(arg) = iter.next() {
        let name = option_name(arg);
        if name.is_some_and(|n| RESERVED.contains(&n)) {
            dropped.push(arg.clone());
            // `--opt value` form: the value goes too.
            if !arg.contains('=')
                && let Some(next) = iter.as_slice().first()
                && !next.starts_with('-')
                && !matches!(
                    name,
                    Some(
                        "daemon"
                            | "D"
                            | "no-conf"
                            | "enable-rpc"
                            | "disable-ipv6"
                            | "rpc-listen-all"
                    )
                )
            {
                dropped.push(next.clone());
                iter.next();
            }
        } else {
            kept.push(arg.clone());
        }
    }
    (kept, dropped)
}

/// `--name=value` / `--name` → `name`; `-D` → `D`; anything else → `None`.
fn option_name(arg: &str) -> Option<&str> {
    if let Some(long) = arg.strip_prefix("--") {
        Some(long.split_once('=').map_or(long, |(n, _)| n))
    } else if let Some(short) = arg.strip_prefix('-') {
        short.get(..1)
    } else {
        None
    }
}

/// The value of `--name=value` (or `--name value`) in a command line.
pub fn option_value<'a>(cmdline: &'a [String], name: &str) -> Option<&'a str> {
    let long = format!("--{name}");
    let mut iter = cmdline.iter();
    while let Some(arg) = iter.next() {
        if let Some(value) = arg.strip_prefix(&long) {
            if let Some(value) = value.strip_prefix('=') {
                return Some(value);
            }
            if value.is_empty() {
                return iter.next().map(String::as_str);
            }
        }
    }
    None
}

/// A command line fit to show: the value of any `--rpc-secret` / `--rpc-passwd` masked.
pub fn redact_cmdline(cmdline: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(cmdline.len());
    let mut mask_next = false;
    for arg in cmdline {
        if mask_next {
            out.push("••••".to_owned());
            mask_next = false;
            continue;
        }
        let secretive = ["--rpc-secret", "--rpc-passwd"]
            .iter()
            .find(|opt| arg.starts_with(*opt));
        match secretive {
            Some(opt) if arg.len() == opt.len() => {
                out.push(arg.clone());
                mask_next = true;
            }
            Some(opt) if arg[opt.len()..].starts_with('=') => out.push(format!("{opt}=••••")),
            _ => out.push(arg.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aria2::secret::RpcSecret;

    fn spec() -> LaunchSpec {
        LaunchSpec {
            binary: "aria2c".into(),
            port: 6801,
            conf_file: "/d/aria2/aria2.conf".into(),
            session_file: "/d/aria2/session".into(),
            download_dir: "/d/downloads".into(),
            max_concurrent: 3,
            stop_with_pid: 42,
            save_session_interval: 5,
            extra_args: vec!["--max-download-limit=1M".into()],
        }
    }

    #[test]
    fn args_hold_every_flag_and_no_secret() {
        let args = spec().args();
        for want in [
            "--enable-rpc=true",
            "--rpc-listen-all=false",
            "--disable-ipv6=true",
            "--rpc-listen-port=6801",
            "--conf-path=/d/aria2/aria2.conf",
            "--stop-with-process=42",
            "--save-session=/d/aria2/session",
            "--save-session-interval=5",
            "--input-file=/d/aria2/session",
            "--continue=true",
            "--always-resume=false",
            "--max-resume-failure-tries=0",
            "--disk-cache=0",
            "--dir=/d/downloads",
            "--max-concurrent-downloads=3",
        ] {
            assert!(
                args.iter().any(|a| a == want),
                "{want} missing from {args:?}"
            );
        }
        assert_eq!(
            args.last().map(String::as_str),
            Some("--max-download-limit=1M")
        );
        assert!(!args.iter().any(|a| a.contains("secret") || a == "--daemon"));
        let conf = LaunchSpec::conf_contents(&RpcSecret::new("s3cr3t"));
        assert!(conf.contains("\nrpc-secret=s3cr3t\n"));
    }

    #[test]
    fn extra_args_cannot_undo_ours() {
        let extra: Vec<String> = [
            "--max-download-limit=1M",
            "--daemon=true",
            "-D",
            "--rpc-listen-all=true",
            "--rpc-secret",
            "x",
            "--split=4",
            "--input-file=/etc/other",
        ]
        .map(String::from)
        .to_vec();
        let (kept, dropped) = filter_extra_args(&extra);
        assert_eq!(kept, ["--max-download-limit=1M", "--split=4"]);
        assert_eq!(dropped.len(), 6, "{dropped:?}");
    }

    #[test]
    fn option_values_and_redaction() {
        let cmd: Vec<String> = [
            "aria2c",
            "--rpc-listen-port=6800",
            "--rpc-secret=abc",
            "--rpc-secret",
            "def",
            "--dir",
            "/x",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(option_value(&cmd, "rpc-listen-port"), Some("6800"));
        assert_eq!(option_value(&cmd, "dir"), Some("/x"));
        assert_eq!(option_value(&cmd, "save-session"), None);
        let shown = redact_cmdline(&cmd).join(" ");
        assert!(!shown.contains("abc") && !shown.contains("def"), "{shown}");
        assert!(shown.contains("--rpc-secret=••••"));
    }
}
