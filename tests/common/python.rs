//! The Python that runs the worker examples and the session-lock tests: the
//! venv `.ci/run` makes under `target/pyvenv`, or `STEWARD_TEST_PYTHON`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The test venv's python, if it imports `modules` (e.g. `"pyrogram"`,
/// `"pyrogram.storage"`). Missing: the test fails under `CI=true` and is
/// skipped (with a printed reason) elsewhere.
pub fn test_python(modules: &str) -> Option<PathBuf> {
    let python = std::env::var_os("STEWARD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyvenv/bin/python"));
    let works = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(python);
    }
    let why = format!(
        "no python with {modules} at {} (run .ci/run, or: python3 -m venv target/pyvenv && target/pyvenv/bin/pip install pyrogram telethon aria2p)",
        python.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}, and CI=true");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
    None
}
