//! `Sampler`: CPU% and RSS of a chosen set of pids, one read of `/proc/PID/stat` each.
//!
//! One read per pid and per sample, with a reused buffer: `utime + stime` (fields 14 and 15)
//! for CPU, `rss` (field 24, pages) for memory, `starttime` (field 22) to notice a reused pid.
//! (It used to go through `sysinfo`, which also reads `/proc/PID/status` for the owner's uid on
//! every refresh: three times the system calls for figures steward does not show.)

use std::collections::HashMap;
use std::io::Read;
use std::time::Instant;

use super::clock::clock_ticks_per_second;

/// CPU and memory use of one process.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// Percent of one core since the previous sample (can exceed 100 on several cores). 0 on
    /// the first sample of a pid: CPU use is a difference between two samples.
    pub cpu_percent: f32,
    pub rss_bytes: u64,
}

/// What the previous sample of one pid saw.
#[derive(Debug, Clone, Copy)]
struct Seen {
    start_time: u64,
    ticks: u64,
    at: Instant,
}

/// The fields of one `/proc/PID/stat` the sampler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Raw {
    ticks: u64,
    start_time: u64,
    rss_pages: u64,
}

/// Parses utime + stime, starttime and rss out of a `/proc/PID/stat` line.
fn parse(text: &[u8]) -> Option<Raw> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    // After ')' the fields start at field 3 (state): field N is at index N - 3.
    let mut fields = rest.split_ascii_whitespace();
    let mut nth = |skip: usize| -> Option<u64> { fields.nth(skip)?.parse().ok() };
    let utime = nth(11)?; // field 14
    let stime = nth(0)?; // field 15
    let start_time = nth(6)?; // field 22
    let rss_pages = nth(1)?; // field 24
    Some(Raw {
        ticks: utime + stime,
        start_time,
        rss_pages,
    })
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// Samples CPU% and RSS of only the pids asked for. Keep one alive and call `sample` once per
/// dashboard tick (CPU% is the difference to the previous sample of the same process).
pub struct Sampler {
    prev: HashMap<i32, Seen>,
    buf: Vec<u8>,
}

impl Sampler {
    pub fn new() -> Result<Sampler, std::io::Error> {
        Ok(Sampler {
            prev: HashMap::new(),
            buf: Vec::with_capacity(512),
        })
    }

    fn read(&mut self, pid: i32) -> Option<Raw> {
        self.buf.clear();
        std::fs::File::open(format!("/proc/{pid}/stat"))
            .and_then(|mut f| f.read_to_end(&mut self.buf))
            .ok()?;
        parse(&self.buf)
    }

    /// Reads CPU and memory of `pids` and returns their usage. Pids that do not exist are
    /// absent from the result; pids not asked for are forgotten.
    pub fn sample(&mut self, pids: &[i32]) -> HashMap<i32, Usage> {
        let ticks_per_sec = clock_ticks_per_second().max(1) as f64;
        let page = page_size();
        let mut out = HashMap::with_capacity(pids.len());
        let mut next = HashMap::with_capacity(pids.len());
        for &pid in pids {
            if pid <= 0 || out.contains_key(&pid) {
                continue;
            }
            let Some(raw) = self.read(pid) else { continue };
            let now = Instant::now();
            let cpu_percent = match self.prev.get(&pid) {
                Some(p) if p.start_time == raw.start_time => {
                    let secs = now.duration_since(p.at).as_secs_f64();
                    let used = raw.ticks.saturating_sub(p.ticks) as f64 / ticks_per_sec;
                    if secs > 0.0 {
                        (used / secs * 100.0) as f32
                    } else {
                        0.0
                    }
                }
                _ => 0.0,
            };
            next.insert(
                pid,
                Seen {
                    start_time: raw.start_time,
                    ticks: raw.ticks,
                    at: now,
                },
            );
            out.insert(
                pid,
                Usage {
                    cpu_percent,
                    rss_bytes: raw.rss_pages * page,
                },
            );
        }
        self.prev = next;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_self_and_skips_missing() {
        let me = std::process::id() as i32;
        let mut sampler = Sampler::new().unwrap();
        let first = sampler.sample(&[me, i32::MAX]);
        assert!(first[&me].rss_bytes > 0);
        assert_eq!(first[&me].cpu_percent, 0.0);
        assert!(!first.contains_key(&i32::MAX));
        // Burn some CPU so the second sample has something to show.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let second = sampler.sample(&[me]);
        assert!(second[&me].cpu_percent >= 0.0);
        assert_eq!(second.len(), 1);
    }

    #[test]
    fn parses_stat_lines() {
        let line = b"42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 555 1000 12 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
        assert_eq!(
            parse(line),
            Some(Raw {
                ticks: 10,
                start_time: 555,
                rss_pages: 12
            })
        );
        assert_eq!(parse(b"42 (x) S 1"), None);
        assert_eq!(parse(b"garbage"), None);
    }
}
