//! Benchmark helper (issue 7, scenario 7): times `steward::proc` in-process
//! against a bare loop over `/proc/*/stat`, and prints one JSON object with
//! the median, min and max of each, in milliseconds.
//!
//! ```text
//! cargo run --release --example proc_scan -- [--iterations N] [--comm NAME] [--file PATH]
//! ```
//!
//! - `find_by_comm`: `steward::proc::find_by_comm(NAME)` (default `aria2c`);
//! - `bare_loop`: read every `/proc/N/stat` with `std::fs::read_to_string`
//!   and compare the name between the parentheses: the floor;
//! - `list_processes`: `steward::proc::list_processes()`;
//! - with `--file`: `flock_holders(PATH)` (one read of `/proc/locks`) and
//!   `open_file_holders(PATH)` (a walk of `/proc/*/fd`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

struct Args {
    iterations: usize,
    comm: String,
    file: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        iterations: 51,
        comm: "aria2c".to_owned(),
        file: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--iterations" => {
                args.iterations = value()?.parse().map_err(|e| format!("--iterations: {e}"))?;
            }
            "--comm" => args.comm = value()?,
            "--file" => args.file = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    args.iterations = args.iterations.max(1);
    Ok(args)
}

/// Runs `f` `n` times after one warm-up call; returns the durations in ms
/// (sorted) and the last result.
fn time<T>(n: usize, mut f: impl FnMut() -> T) -> (Vec<f64>, T) {
    let mut last = f();
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        last = std::hint::black_box(f());
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms, last)
}

fn summary(ms: &[f64]) -> serde_json::Value {
    let median = if ms.is_empty() {
        0.0
    } else if ms.len() % 2 == 1 {
        ms[ms.len() / 2]
    } else {
        (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
    };
    serde_json::json!({
        "median": median,
        "min": ms.first().copied().unwrap_or(0.0),
        "max": ms.last().copied().unwrap_or(0.0),
        "n": ms.len(),
    })
}

/// The floor: every `/proc/N/stat`, read whole, the name compared.
fn bare_loop(comm: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut found = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')'))
            && open < close
            && &stat[open + 1..close] == comm
        {
            found += 1;
        }
    }
    found
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("proc_scan: {e}");
            return ExitCode::from(2);
        }
    };
    let n = args.iterations;
    let (find_ms, found) = time(n, || steward::proc::find_by_comm(&args.comm).len());
    let (bare_ms, bare_found) = time(n, || bare_loop(&args.comm));
    let (list_ms, count) = time(n, || steward::proc::list_processes().len());
    let mut out = serde_json::json!({
        "iterations": n,
        "processes": count,
        "comm": args.comm,
        "found": found,
        "bare_found": bare_found,
        "find_by_comm_ms": summary(&find_ms),
        "bare_loop_ms": summary(&bare_ms),
        "list_processes_ms": summary(&list_ms),
    });
    if let Some(file) = &args.file {
        let (flock_ms, holders) = time(n, || steward::proc::flock_holders(file));
        let (open_ms, open) = time(n, || steward::proc::open_file_holders(file));
        out["flock_holders_ms"] = summary(&flock_ms);
        out["flock_holders"] = serde_json::json!(holders);
        out["open_file_holders_ms"] = summary(&open_ms);
        out["open_file_holders"] = serde_json::json!(open);
    }
    println!("{out}");
    ExitCode::SUCCESS
}
