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

    /// `M_ARENA_MAX` from glibc's `<malloc.h>`.
    const M_ARENA_MAX: c_int = -8;

    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
        fn malloc_trim(pad: usize) -> c_int;
    }

    pub fn one_arena() {
        // SAFETY: mallopt only sets a tunable; any value is valid to pass.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
        }
    }

    pub fn trim() {
        // SAFETY: malloc_trim takes the arena locks itself; safe to call from
        // any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// One malloc arena for the whole process. Call before threads start (a
/// thread already given an arena keeps it).
pub fn use_one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::one_arena();
}

/// Hands memory freed since the last call back to the kernel. Costs a walk
/// of the heap's free lists: call after bursts, not in a hot loop.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::trim();
}
