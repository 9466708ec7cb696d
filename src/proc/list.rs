//! Listing processes: one pass over `/proc/[0-9]*/stat` (`list_processes`, `find_by_comm`).

use std::collections::HashSet;

use super::stat::{Stat, read_stat_into};

/// The pids of `/proc/[0-9]*` (thread group leaders, i.e. processes), in directory order.
pub(crate) fn proc_pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid > 0)
}

/// Every process's `Stat`, zombies included, skipping processes that vanish during the scan.
/// One read per process and one reused buffer: about 10 ms for 1000 processes.
pub fn list_processes() -> Vec<Stat> {
    let mut buf = Vec::with_capacity(512);
    proc_pids()
        .filter_map(|pid| read_stat_into(pid, &mut buf).ok())
        .collect()
}

/// The processes whose comm (the kernel's 15-byte name, e.g. `aria2c`) equals `comm`.
/// Names longer than 15 bytes are compared on their first 15 bytes, as the kernel truncates.
pub fn find_by_comm(comm: &str) -> Vec<Stat> {
    find_by_comms(&[comm])
}

/// The processes whose comm is one of `comms` (compared as in `find_by_comm`).
/// Reads each process's `/proc/PID/comm` (a copy of a name; `stat` formats
/// some fifty fields) and the `stat` of the matches only: with 1,000 workers
/// around, a periodic look for aria2c costs a fraction of `list_processes`.
pub fn find_by_comms<S: AsRef<str>>(comms: &[S]) -> Vec<Stat> {
    CommWatch::default().find(comms)
}

/// `find_by_comms` for a periodic look: a pid whose comm did not match is not
/// read again while it lives, so a quiet machine costs one listing of
/// `/proc` per look instead of a read per process. A process that execs
/// into a matching name keeps its pid; every `FULL_EVERY`-th look reads all
/// processes again to catch those.
#[derive(Debug, Default)]
pub struct CommWatch {
    /// Pids read and found not matching at the last look (`pub(super)` for
    /// `list_tests.rs`).
    pub(super) others: HashSet<i32>,
    looks: u32,
}

impl CommWatch {
    /// Every this many looks, every process is read again.
    const FULL_EVERY: u32 = 6;

    pub fn find<S: AsRef<str>>(&mut self, comms: &[S]) -> Vec<Stat> {
        const TASK_COMM_LEN: usize = 15;
        let wanted: Vec<&[u8]> = comms
            .iter()
            .map(|c| truncate_bytes(c.as_ref(), TASK_COMM_LEN).as_bytes())
            .collect();
        let full = self.looks.is_multiple_of(Self::FULL_EVERY);
        self.looks = self.looks.wrapping_add(1);
        let previous = std::mem::take(&mut self.others);
        let mut buf = Vec::with_capacity(512);
        let mut name = [0u8; 64];
        let mut found = Vec::new();
        for pid in proc_pids() {
            if !full && previous.contains(&pid) {
                self.others.insert(pid);
                continue;
            }
            let Ok(mut file) = std::fs::File::open(format!("/proc/{pid}/comm")) else {
                continue;
            };
            let Ok(n) = std::io::Read::read(&mut file, &mut name) else {
                continue;
            };
            let read = &name[..n];
            let read = read.strip_suffix(b"\n").unwrap_or(read);
            if !wanted.contains(&read) {
                self.others.insert(pid);
                continue;
            }
            // The stat's own comm is compared again: a pid reused in between is not a match.
            if let Ok(st) = read_stat_into(pid, &mut buf)
                && wanted.contains(&st.comm.as_bytes())
            {
                found.push(st);
            }
        }
        found
    }
}

fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_like_the_kernel() {
        assert_eq!(truncate_bytes("aria2c", 15), "aria2c");
        assert_eq!(
            truncate_bytes("a-very-long-process-name", 15),
            "a-very-long-pro"
        );
        assert_eq!(truncate_bytes("ééééééééé", 15), "ééééééé");
    }
}
