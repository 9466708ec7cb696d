//! The locks against real processes: `flock(1)` children and descriptions
//! of this test process.

use super::*;
use crate::paths::DataDir;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A `flock FILE sleep 30` child in its own process group, killed (group
/// and all) on drop: flock(1) hands the locked fd to `sleep` too.
struct Holder(Child);

impl Holder {
    fn spawn(path: &Path) -> Holder {
        let child = Command::new("flock")
            .arg(path)
            .args(["sleep", "30"])
            .process_group(0)
            .spawn()
            .unwrap();
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let pgid = rustix::process::Pid::from_raw(self.0.id() as i32).unwrap();
        let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        let _ = self.0.wait();
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until nobody holds a lock on `path`. Not instant after a drop
/// in a test binary: a child being spawned by another test thread holds
/// copies of all our descriptors (close-on-exec or not) between its
/// fork and its exec.
fn wait_free(path: &Path) {
    wait_until("the lock to be free", || !flock_held(path));
}

fn flock_n_succeeds(path: &Path) -> bool {
    Command::new("flock")
        .args(["-n"])
        .arg(path)
        .arg("true")
        .status()
        .unwrap()
        .success()
}

#[test]
fn instance_lock_excludes_a_second_description_and_names_our_pid() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path().join("nested/data"));
    assert_eq!(InstanceLock::holder(&dd).unwrap(), LockState::Free);
    assert!(!dd.root().exists(), "holder() must not create the data dir");

    let lock = InstanceLock::acquire(&dd).unwrap();
    let me = std::process::id() as i32;
    assert_eq!(
        std::fs::read_to_string(dd.lock_file()).unwrap(),
        format!("{me}\n")
    );
    let err = InstanceLock::acquire(&dd).unwrap_err();
    assert!(
        matches!(err, LockError::InUse { pid: Some(p), .. } if p == me),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "data dir {} is in use by steward pid {me}",
            dd.root().display()
        )
    );
    assert_eq!(
        InstanceLock::holder(&dd).unwrap(),
        LockState::HeldBy(Some(me))
    );
    // The failed attempt did not wipe the holder's pid.
    assert_eq!(
        std::fs::read_to_string(dd.lock_file()).unwrap(),
        format!("{me}\n")
    );

    drop(lock);
    wait_free(&dd.lock_file());
    assert_eq!(InstanceLock::holder(&dd).unwrap(), LockState::Free);
    let again = InstanceLock::acquire(&dd).unwrap();
    assert_eq!(again.path(), dd.lock_file());
}

#[test]
fn instance_lock_is_visible_to_other_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path());
    let lock = InstanceLock::acquire(&dd).unwrap();
    assert!(
        !flock_n_succeeds(&dd.lock_file()),
        "child got the lock we hold"
    );
    drop(lock);
    wait_free(&dd.lock_file());
    assert!(flock_n_succeeds(&dd.lock_file()), "lock not freed by drop");
}

#[test]
fn instance_lock_held_by_a_non_steward_has_no_pid() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path());
    std::fs::write(dd.lock_file(), "").unwrap();
    let _holder = Holder::spawn(&dd.lock_file());
    wait_until("flock child to hold the lock", || {
        InstanceLock::holder(&dd).unwrap() != LockState::Free
    });
    let err = InstanceLock::acquire(&dd).unwrap_err();
    assert!(matches!(err, LockError::InUse { pid: None, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "data dir {} is in use by a steward of unknown pid",
            dd.root().display()
        )
    );
}

#[test]
fn a_session_path_that_is_a_symlink_or_not_a_file_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, "keep").unwrap();
    let sessions = tmp.path().join("sessions");
    std::fs::create_dir(&sessions).unwrap();

    let link = sessions.join("a.lock");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let err = SessionLock::try_acquire(&link).err().unwrap();
    assert!(matches!(err, LockError::Symlink { .. }), "{err}");
    assert!(err.to_string().contains("a.lock is a symlink"), "{err}");
    let session = sessions.join("a.session");
    std::os::unix::fs::symlink(&outside, &session).unwrap();
    let err = check_session_path(&session).unwrap_err();
    assert!(matches!(err, LockError::Symlink { .. }), "{err}");
    assert!(check_session_path(&sessions.join("missing.session")).is_ok());
    assert!(matches!(
        check_session_path(&sessions),
        Err(LockError::NotRegular { .. })
    ));
    assert!(!crate::proc::flock_holders(&outside).contains(&(std::process::id() as i32)));
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");

    // A dangling link: O_CREAT must not create its target.
    let dangling = sessions.join("b.lock");
    let target = tmp.path().join("would-be-created");
    std::os::unix::fs::symlink(&target, &dangling).unwrap();
    let err = SessionLock::try_acquire(&dangling).err().unwrap();
    assert!(matches!(err, LockError::Symlink { .. }), "{err}");
    assert!(!target.exists());

    let fifo = sessions.join("c.lock");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let err = SessionLock::try_acquire(&fifo).err().unwrap();
    assert!(matches!(err, LockError::NotRegular { .. }), "{err}");
}

#[test]
fn session_lock_detects_a_holder_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("sessions/acc.lock");
    assert!(!flock_held(&path), "missing file");

    // Create it (0600) and release it.
    let lock = SessionLock::try_acquire(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(lock.path(), path);
    drop(lock);
    wait_free(&path);

    let holder = Holder::spawn(&path);
    wait_until("flock child to hold the session lock", || flock_held(&path));
    let err = SessionLock::try_acquire(&path).unwrap_err();
    assert!(
        matches!(&err, LockError::Held { path: p } if *p == path),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("{} is locked by another process", path.display())
    );

    // Kill flock and its sleep; the lock goes once both have exited.
    drop(holder);
    wait_free(&path);
    let lock = SessionLock::try_acquire(&path).unwrap();
    assert!(!flock_n_succeeds(&path));
    drop(lock);
    wait_free(&path);
    assert!(flock_n_succeeds(&path));
}

#[test]
fn session_lock_lives_while_any_copy_of_the_description_is_open() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("acc.lock");
    let lock = SessionLock::try_acquire(&path).unwrap();
    // A dup shares the description, as the worker's inherited fd does.
    let copy = lock.file().try_clone().unwrap();
    drop(lock);
    assert!(flock_held(&path));
    assert!(matches!(
        SessionLock::try_acquire(&path),
        Err(LockError::Held { .. })
    ));
    drop(copy);
    wait_free(&path);
    SessionLock::try_acquire(&path).unwrap();
}

#[test]
fn a_second_sweeper_is_refused_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path().join("data"));
    let lock = SweepLock::try_acquire(&dd).unwrap();
    let me = std::process::id();
    assert_eq!(
        std::fs::read_to_string(SweepLock::path(&dd)).unwrap(),
        format!("{me}\n")
    );
    let err = SweepLock::try_acquire(&dd).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("another sweep is running (steward pid {me}): wait for it to finish")
    );
    drop(lock);
    wait_free(&SweepLock::path(&dd));
    SweepLock::try_acquire(&dd).unwrap();
}

#[test]
fn a_sweep_lock_held_without_a_pid_names_no_pid() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path());
    std::fs::write(SweepLock::path(&dd), "").unwrap();
    let _holder = Holder::spawn(&SweepLock::path(&dd));
    wait_until("flock child to hold the sweep lock", || {
        flock_held(&SweepLock::path(&dd))
    });
    let err = SweepLock::try_acquire(&dd).unwrap_err();
    assert!(matches!(err, SweepLockError::Busy { pid: None }), "{err:?}");
    assert!(
        err.to_string().contains("(a steward of unknown pid)"),
        "{err}"
    );
}

#[test]
fn a_temp_path_lock_is_refused_while_another_description_holds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("t");
    std::fs::write(&path, "").unwrap();
    let other = File::open(&path).unwrap();
    other.lock().unwrap();
    let mine = File::open(&path).unwrap();
    let err = lock_temp_path(&mine).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
    drop(other);
    wait_free(&path);
    lock_temp_path(&mine).unwrap();
    assert!(flock_held(&path));
}

#[test]
fn the_flock_probe_sees_a_held_dir_and_never_follows_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    assert!(!flock_held(&dir));
    let f = File::open(&dir).unwrap();
    f.lock().unwrap();
    assert!(flock_held(&dir));
    assert!(flock_held_on(&File::open(&dir).unwrap()));
    let link = tmp.path().join("l");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    assert!(!flock_held(&link));
    drop(f);
    wait_free(&dir);
    assert!(!flock_held_on(&File::open(&dir).unwrap()));
}
