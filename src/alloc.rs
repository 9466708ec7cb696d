//! Process-wide tuning of glibc's allocator for a long-running steward. It
//! only asks malloc to keep less memory; it never allocates or frees itself.
//! Elsewhere (musl, other platforms) both calls do nothing.
//!
//! glibc gives each thread that meets contention an arena of its own, and
//! freed memory stays in the arena it came from: with tokio's worker and
//! blocking threads an idle instance with 1,000 workers kept about 4 MB more
//! resident than one arena needs (steward's allocation rate is far too low
//! for arena contention to matter). After a burst (1,000 workers starting, a
//! big snapshot rebuilt) the freed memory stays mapped until trimmed.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    /// `M_ARENA_MAX` and `M_MMAP_THRESHOLD` from glibc's `<malloc.h>`.
    const M_ARENA_MAX: c_int = -8;
    const M_MMAP_THRESHOLD: c_int = -3;
    /// glibc's initial threshold; setting it turns off its growth.
    const MMAP_THRESHOLD: c_int = 128 * 1024;

    #[allow(unsafe_code)]
    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
        fn malloc_trim(pad: usize) -> c_int;
    }

    pub fn tune() {
        // SAFETY: mallopt only sets a tunable; any value is valid to pass.
        #[allow(unsafe_code)]
        unsafe {
            mallopt(M_ARENA_MAX, 1);
            mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }

    pub fn trim() {
        // SAFETY: malloc_trim takes the arena locks itself; safe to call from
        // any thread at any time.
        #[allow(unsafe_code)]
        unsafe {
            malloc_trim(0);
        }
    }
}

/// One malloc arena for the whole process, and large blocks always mapped
/// on their own. (glibc raises its mmap threshold to the size of each large
/// block freed, so later snapshot-sized buffers, hundreds of KB at 1,000
/// accounts, came from the heap and stayed resident after use.) Call before
/// threads start (a thread already given an arena keeps it).
pub fn tune_for_long_runs() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::tune();
}

/// Hands memory freed since the last call back to the kernel. Costs a walk
/// of the heap's free lists: call after bursts, not in a hot loop.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::trim();
}
