//! Benchmark helper (issue 7, scenario 6): times the temp registry's stats
//! walk (`TempRegistry::refresh_stats`) on a data dir's temp tree, in-process,
//! and prints one JSON object (milliseconds) with the figures it found.
//!
//! ```text
//! cargo run --release --example temp_stats -- DATA_DIR [--iterations N]
//! ```
//!
//! `first_ms` is the first walk of this process (nothing cached in-process;
//! the kernel's caches are whatever the caller left); `repeat_ms` summarises
//! the walks after it (the registry caches unchanged directories, which is
//! what a running instance's walker does every `stats_interval`).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use steward::config::Config;
use steward::paths::DataDir;
use steward::store::Store;
use steward::temp::TempRegistry;

fn run() -> Result<serde_json::Value, String> {
    let mut data_dir = None;
    let mut iterations = 5usize;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--iterations" => {
                iterations = it
                    .next()
                    .ok_or("--iterations needs a value")?
                    .parse()
                    .map_err(|e| format!("--iterations: {e}"))?;
            }
            other if data_dir.is_none() => data_dir = Some(DataDir::new(other)),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let data_dir = data_dir.ok_or("usage: temp_stats DATA_DIR [--iterations N]")?;
    let config = Config::load(&data_dir.config_file(), false).map_err(|e| e.to_string())?;
    let store = Store::open(&data_dir.db_file()).map_err(|e| e.to_string())?;
    let registry = TempRegistry::from_config(&config, &data_dir, Arc::new(Mutex::new(store)))
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let view = registry.refresh_stats();
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut repeat = Vec::new();
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        std::hint::black_box(registry.refresh_stats());
        repeat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    repeat.sort_by(f64::total_cmp);
    Ok(serde_json::json!({
        "first_ms": first_ms,
        "repeat_ms": {
            "median": repeat[repeat.len() / 2],
            "min": repeat[0],
            "max": repeat[repeat.len() - 1],
            "n": repeat.len(),
        },
        "entries": view.entries,
        "files": view.files,
        "dirs": view.dirs,
        "bytes": view.bytes,
        "untracked": view.untracked,
    }))
}

fn main() -> ExitCode {
    match run() {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("temp_stats: {e}");
            ExitCode::from(1)
        }
    }
}
