//! Drivers for the hidden `steward temp-churn` and `steward temp-worker`
//! subcommands, used by the integration tests to exercise the real registry
//! in a real process that can be SIGKILLed at any instant.

use std::io::Write;
use std::path::PathBuf;

use super::{Owner, TempGuard, TempRegistry};
use crate::proc::ProcId;

/// A small xorshift generator: deterministic from the seed, no dependency.
/// Shared with the crash-chaos test, which replays runs from a seed too.
/// The seed must not be 0 (xorshift stays at 0): callers pass `seed | 1`.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Creates and releases temp entries in a tight loop (dirs with a few files
/// inside, and plain files), `iterations` times (0 = until killed). Prints
/// `ready` once the first entry exists.
pub fn churn(registry: &TempRegistry, seed: u64, iterations: u64) -> Result<(), String> {
    let mut rng = Rng(seed | 1);
    let mut held: Vec<TempGuard> = Vec::new();
    let mut announced = false;
    let mut i = 0u64;
    while iterations == 0 || i < iterations {
        i += 1;
        let account = format!("acc{}", rng.below(3));
        if held.len() < 8 && rng.below(3) != 0 {
            let owner = Owner::for_account(&account);
            let guard = if rng.below(2) == 0 {
                let g = registry
                    .create_dir(&owner, "churn")
                    .map_err(|e| e.to_string())?;
                for n in 0..rng.below(4) {
                    std::fs::write(g.path().join(format!("f{n}")), vec![b'x'; 512])
                        .map_err(|e| e.to_string())?;
                }
                g
            } else {
                let g = registry
                    .create_file(&owner, "churn", "tmp")
                    .map_err(|e| e.to_string())?;
                if let Some(mut f) = g.file() {
                    f.write_all(b"data").map_err(|e| e.to_string())?;
                }
                g
            };
            held.push(guard);
        } else if !held.is_empty() {
            let idx = rng.below(held.len() as u64) as usize;
            held.swap_remove(idx).release().map_err(|e| e.to_string())?;
        }
        if !announced && !held.is_empty() {
            println!("ready");
            let _ = std::io::stdout().flush();
            announced = true;
        }
    }
    Ok(())
}

/// What the supervisor does for a worker's `TMPDIR`, standalone: registers a
/// worker dir for `account`, runs `command` with it, hands the row to the
/// child, prints `dir <path>` and `pid <pid>`, waits for the child, then
/// releases the dir. Returns the child's exit code.
pub fn worker(registry: &TempRegistry, account: &str, command: &[String]) -> Result<i32, String> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| "no worker command given".to_string())?;
    let guard = registry.worker_dir(account).map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    guard.apply_to(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| format!("{program}: {e}"))?;
    let pid = child.id() as i32;
    let id = ProcId::of(pid).map_err(|e| format!("cannot identify worker pid {pid}: {e}"))?;
    guard.reassign(id).map_err(|e| e.to_string())?;
    let path: PathBuf = guard.path().to_owned();
    println!("dir {}", path.display());
    println!("pid {pid}");
    let _ = std::io::stdout().flush();
    let status = child.wait().map_err(|e| e.to_string())?;
    guard.release().map_err(|e| e.to_string())?;
    Ok(status.code().unwrap_or(1))
}
