//! The hidden test drivers `temp-churn` / `temp-worker`: the integration
//! tests run the real temp registry in a process they can SIGKILL at any
//! instant. Built only with the `test-drivers` feature, which `cargo test`
//! turns on and a release build leaves out.

use super::sweep::open_store;
use super::{Failure, Globals};
use crate::temp::TempRegistry;

fn registry(globals: &Globals) -> Result<TempRegistry, Failure> {
    let config = globals.config()?;
    let store = open_store(globals)?;
    TempRegistry::from_config(&config, &globals.data_dir, store)
        .map_err(|e| Failure::runtime(e.to_string()))
}

/// `temp-churn`: create and release temp entries in a loop.
pub(super) fn churn(globals: &Globals, seed: u64, iterations: u64) -> Result<(), Failure> {
    let reg = registry(globals)?;
    crate::temp::churn::churn(&reg, seed, iterations).map_err(Failure::runtime)
}

/// `temp-worker`: run a command with its own registered TMPDIR.
pub(super) fn temp_worker(
    globals: &Globals,
    account: &str,
    command: &[String],
) -> Result<(), Failure> {
    let reg = registry(globals)?;
    match crate::temp::churn::worker(&reg, account, command).map_err(Failure::runtime)? {
        0 => Ok(()),
        code => Err(Failure::runtime(format!("worker exited with code {code}"))),
    }
}
