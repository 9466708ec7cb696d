//! Handing an open descriptor to a child across `exec`: Rust opens every file
//! close-on-exec, so the flag is cleared in the child between fork and exec
//! (the parent's copy keeps it, so no other child inherits it).

use std::os::fd::{BorrowedFd, RawFd};
use std::process::Command;

/// Makes the child of `cmd` inherit descriptor `fd` (same number, same open
/// file description: a flock on it is then held by the child too). The
/// caller keeps `fd` open until `cmd` has been spawned.
pub fn inherit_across_exec(cmd: &mut Command, fd: RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls
    // fcntl, which is async-signal-safe. Were `fd` closed in the parent before
    // the spawn, fcntl would fail (or name another descriptor, which would
    // merely be inherited too): no memory is touched.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(fd);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            Ok(())
        });
    }
}
