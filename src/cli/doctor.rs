//! `steward doctor`: checks the setup and says what to fix, one line each.

use std::path::Path;

use super::status::lock_state;
use super::{Failure, Globals};
use crate::lock::LockState;
use crate::store::Store;

struct Check {
    ok: bool,
    what: String,
}

/// A finding that is not a failure (doctor still exits 0) but needs the
/// operator's attention.
fn warnings() -> Vec<String> {
    let mut out = Vec::new();
    if crate::proc::running_as_root() {
        out.push(format!("running as root: {}", crate::proc::ROOT_WARNING));
    }
    out
}

pub(super) fn run(globals: &Globals) -> Result<(), Failure> {
    let mut checks = Vec::new();
    let config = match globals.config() {
        Ok(c) => {
            checks.push(Check {
                ok: true,
                what: format!("config {} ok", globals.config_path.display()),
            });
            Some(c)
        }
        Err(e) => {
            checks.push(Check {
                ok: false,
                what: e.message,
            });
            None
        }
    };
    checks.push(data_dir_writable(globals.data_dir.root()));
    checks.push(match lock_state(globals) {
        Ok(LockState::Free) => Check {
            ok: true,
            what: "instance lock free (no steward running on this data dir)".into(),
        },
        Ok(LockState::HeldBy(pid)) => Check {
            ok: true,
            what: format!(
                "instance lock held by steward pid {}",
                pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
            ),
        },
        Err(e) => Check {
            ok: false,
            what: e.message,
        },
    });
    let db = globals.data_dir.db_file();
    checks.push(if db.exists() {
        match Store::open_readonly(&db).and_then(|s| s.schema_version()) {
            Ok(v) => Check {
                ok: true,
                what: format!("store {} at schema version {v}", db.display()),
            },
            Err(e) => Check {
                ok: false,
                what: e.to_string(),
            },
        }
    } else {
        Check {
            ok: true,
            what: format!("store {} not created yet (made on first use)", db.display()),
        }
    });
    if let Some(config) = &config {
        checks.push(match &config.worker.command {
            Some(argv) if !argv.is_empty() => match resolve(&argv[0]) {
                Some(path) => Check {
                    ok: true,
                    what: format!("worker command {} found at {}", argv[0], path.display()),
                },
                None => Check {
                    ok: false,
                    what: format!(
                        "worker command {} not found on PATH (install it or fix [worker].command)",
                        argv[0]
                    ),
                },
            },
            _ => Check {
                ok: true,
                what: "worker command not set: accounts run the built-in demo worker".into(),
            },
        });
    }
    if let Some(config) = &config {
        let binary = &config.aria2.binary;
        checks.push(if !config.aria2.enabled {
            Check {
                ok: true,
                what: "aria2 disabled in the config".into(),
            }
        } else {
            match crate::aria2::binary::resolve(binary) {
                Some(path) => Check {
                    ok: true,
                    what: format!("aria2c found at {}", path.display()),
                },
                None => Check {
                    ok: false,
                    what: if binary.contains('/') {
                        format!(
                            "{}; steward runs without downloads",
                            crate::aria2::binary::not_found_hint(binary)
                        )
                    } else {
                        format!("{binary} not found on PATH (apt install aria2, or set [aria2].binary); steward runs without downloads")
                    },
                },
            }
        });
    }
    super::text::outln!("steward {}", env!("CARGO_PKG_VERSION"));
    for c in &checks {
        super::text::outln!("{} {}", if c.ok { "ok  " } else { "FAIL" }, c.what);
    }
    for w in warnings() {
        println!("WARN {w}");
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        return Err(Failure::runtime(format!(
            "{failed} check(s) failed (see above)"
        )));
    }
    Ok(())
}

fn data_dir_writable(root: &Path) -> Check {
    let probe = root.join(format!(".doctor-probe-{}", std::process::id()));
    let result = std::fs::create_dir_all(root)
        .and_then(|()| std::fs::write(&probe, b"probe"))
        .and_then(|()| std::fs::remove_file(&probe));
    match result {
        Ok(()) => Check {
            ok: true,
            what: format!("data dir {} writable", root.display()),
        },
        Err(e) => Check {
            ok: false,
            what: format!(
                "data dir {} not writable: {e} (fix permissions or use --data-dir)",
                root.display()
            ),
        },
    }
}

/// Finds `program` as a path or on PATH, executable.
fn resolve(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let p = Path::new(program);
        return executable(p).then(|| p.to_path_buf());
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}
