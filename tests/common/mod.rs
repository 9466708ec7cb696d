//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod http;

/// True when aria2c can be run. Otherwise prints `skipped: aria2c not installed`
/// and returns false, except under `CI=true`, where a missing aria2c fails the test.
pub fn aria2c_available() -> bool {
    if steward::aria2::binary::resolve("aria2c").is_some() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("aria2c not installed, and CI=true: install it (apt-get install aria2)");
    }
    // Straight to stderr, past libtest's capture of print macros, so the skip is seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: aria2c not installed");
    false
}
