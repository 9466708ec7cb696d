//! `steward doctor`: checks the setup and says what to fix, one line each.

use std::path::Path;

use super::failure::Failure;
use super::globals::{Globals, lock_state};
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
    checks.extend(layout_checks(globals));
    let running = matches!(lock_state(globals), Ok(LockState::HeldBy(_)));
    checks.push(containment(globals, running));
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
    let mut warns = warnings();
    if matches!(lock_state(globals), Ok(LockState::Free)) {
        warns.extend(super::status::leftover_workers(&globals.data_dir));
    }
    for w in warns {
        super::text::outln!("WARN {w}");
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        return Err(Failure::runtime(format!(
            "{failed} check(s) failed (see above)"
        )));
    }
    Ok(())
}

/// Which way descendants that leave a worker's process group are kept from
/// outliving its stop: the running steward's mode, else what a start here
/// would use. Never a failure: the subreaper alone still stops them.
fn containment(globals: &Globals, running: bool) -> Check {
    use crate::manager::{CGROUP_PER_WORKER, SUBREAPER_ONLY};
    let what = if running {
        let mode = crate::manager::read_status_file(&globals.data_dir.status_file())
            .map(|s| s.instance.isolation)
            .filter(|m| !m.is_empty());
        match mode {
            Some(mode) => format!("escaped descendants: {mode} (running steward)"),
            None => "escaped descendants: mode of the running steward unknown (an older steward?)"
                .into(),
        }
    } else {
        match crate::proc::cgroup::usable_dir() {
            Ok(dir) => format!(
                "escaped descendants: {CGROUP_PER_WORKER} (under {})",
                dir.display()
            ),
            Err(why) => {
                format!("escaped descendants: {SUBREAPER_ONLY} (cgroup v2 not usable: {why})")
            }
        }
    };
    Check { ok: true, what }
}

/// The layout check's findings, changing nothing (doctor writes nothing).
fn layout_checks(globals: &Globals) -> Vec<Check> {
    let root = globals.data_dir.root().display();
    let found = match globals.inspect_layout() {
        Ok(found) => found,
        Err(e) => {
            return vec![Check {
                ok: false,
                what: e.message,
            }];
        }
    };
    if !found.exists {
        return vec![Check {
            ok: true,
            what: format!("data dir {root} does not exist yet (made, mode 0700, on first use)"),
        }];
    }
    let mut checks =
        vec![
            match rustix::fs::access(globals.data_dir.root(), rustix::fs::Access::WRITE_OK) {
                Ok(()) => Check {
                    ok: true,
                    what: format!(
                        "data dir {root} is steward's: owned by uid {}, writable by no one else",
                        rustix::process::geteuid().as_raw()
                    ),
                },
                Err(e) => Check {
                    ok: false,
                    what: format!(
                        "data dir {root} not writable: {e} (fix permissions or use --data-dir)"
                    ),
                },
            },
        ];
    for change in &found.tightened {
        checks.push(Check {
            ok: true,
            what: format!(
                "{} is {:04o}, readable by others: the next start tightens it to {:04o}",
                change.path.display(),
                change.from,
                change.to
            ),
        });
    }
    let missing: Vec<String> = found
        .created
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if !missing.is_empty() {
        checks.push(Check {
            ok: true,
            what: format!(
                "not created yet (made, mode 0700, on first use): {}",
                missing.join(", ")
            ),
        });
    }
    checks
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
