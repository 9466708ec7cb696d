//! Turning a start time in clock ticks since boot into wall-clock time: clock tick rate and boot time.

use std::sync::OnceLock;

use super::ident::ProcId;

/// `AT_CLKTCK` in the auxiliary vector: the value `sysconf(_SC_CLK_TCK)` returns.
const AT_CLKTCK: usize = 17;

/// `sysconf(_SC_CLK_TCK)`: the unit of `/proc/PID/stat` times. Read from `/proc/self/auxv`
/// once (that is where libc gets it); 100 (the value on every mainstream Linux arch) if that
/// fails.
pub fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| auxv_clock_ticks().unwrap_or(100))
}

fn auxv_clock_ticks() -> Option<u64> {
    const WORD: usize = std::mem::size_of::<usize>();
    let bytes = std::fs::read("/proc/self/auxv").ok()?;
    let words: Vec<usize> = bytes
        .chunks_exact(WORD)
        .map(|c| {
            let mut w = [0u8; WORD];
            w.copy_from_slice(c);
            usize::from_ne_bytes(w)
        })
        .collect();
    words
        .chunks_exact(2)
        .find(|pair| pair[0] == AT_CLKTCK)
        .map(|pair| pair[1] as u64)
        .filter(|&t| t > 0)
}

/// Boot time in seconds since the Unix epoch (`btime` in `/proc/stat`). Cached after the first
/// successful read so that wall-clock start times stay stable across calls.
pub fn boot_time_unix() -> Option<u64> {
    static BTIME: OnceLock<u64> = OnceLock::new();
    if let Some(b) = BTIME.get() {
        return Some(*b);
    }
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let btime = text
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(*BTIME.get_or_init(|| btime))
}

/// Wall-clock start of the process in milliseconds since the Unix epoch (boot time has whole
/// second precision, so this is accurate to about a second).
pub fn start_time_unix_ms(id: &ProcId) -> Option<u64> {
    let boot_ms = boot_time_unix()?.checked_mul(1000)?;
    let since_boot_ms = id.start_time.checked_mul(1000)? / clock_ticks_per_second();
    boot_ms.checked_add(since_boot_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn own_start_is_recent_wall_time() {
        assert!(clock_ticks_per_second() >= 1);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let start = start_time_unix_ms(&ProcId::current()).unwrap();
        // The boot time is truncated to whole seconds, hence the 2 s slack.
        assert!(start <= now_ms + 2000, "start {start} now {now_ms}");
        assert!(
            start + 3_600_000 > now_ms,
            "test process started over an hour ago?"
        );
    }
}
