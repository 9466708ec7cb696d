//! The data dir's layout and permissions (issue 12, items 1 and 3): which
//! dirs are refused, symlinked or foreign subdirs stop the start, everything
//! steward makes is private whatever the umask, and a dry run writes nothing.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::{Headless, TestDir, age_days, open_store, stderr, steward_bin, wait_for};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every path under `root` (not following symlinks), sorted.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

/// `steward --data-dir DATA args...` with a clean environment for logging.
fn steward(data: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(steward_bin());
    cmd.arg("--data-dir").arg(data).args(args);
    cmd.env_remove("STEWARD_LOG");
    cmd
}

fn run(data: &Path, args: &[&str]) -> Output {
    steward(data, args).output().expect("run steward")
}

/// A refusal: exit 2, one line on stderr containing every `needles`.
fn assert_refused(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("steward: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// `steward run --headless` must end by itself (a refusal) within a deadline.
fn headless_refused(data: &Path, needles: &[&str]) {
    let mut child = Headless::spawn(
        steward(data, &["run", "--headless"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let ended = wait_for(Duration::from_secs(15), || child.try_wait().ok().flatten());
    assert!(ended.is_some(), "run --headless did not refuse to start");
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    let code = ended.and_then(|s| s.code());
    assert_eq!(code, Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

#[test]
fn a_home_dir_is_refused_and_nothing_in_it_changes() {
    let dir = TestDir::new();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    std::fs::write(home.join(".bashrc"), "alias ll='ls -l'\n").unwrap();
    let old = home.join("tmp/old-notes.txt");
    std::fs::write(&old, "keep me").unwrap();
    age_days(&old, 30);
    let before = tree(&home);
    for args in [
        &["sweep"][..],
        &["sweep", "--dry-run"],
        &["account", "list"],
    ] {
        let out = steward(&home, args).env("HOME", &home).output().unwrap();
        assert_refused(&out, &["home directory", &home.display().to_string()]);
        assert_eq!(tree(&home), before, "{args:?} changed the home dir");
    }
    // --init does not make a home a data dir.
    let out = steward(&home, &["--init", "sweep"])
        .env("HOME", &home)
        .output()
        .unwrap();
    assert_refused(&out, &["home directory"]);
    assert_eq!(tree(&home), before);
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "keep me");
}

#[test]
fn the_filesystem_root_is_refused_and_a_dry_run_creates_nothing_there() {
    // What an older steward may have left there: it must stay exactly as it is.
    let planted = [Path::new("/steward.db"), Path::new("/sweep.lock")];
    let stamp = |p: &Path| {
        std::fs::symlink_metadata(p)
            .ok()
            .map(|m| (m.ino(), m.mtime_nsec(), m.mtime()))
    };
    let before: Vec<_> = planted.iter().map(|p| stamp(p)).collect();
    let out = run(Path::new("/"), &["sweep", "--dry-run"]);
    assert_refused(&out, &["refusing data dir /", "filesystem root"]);
    let after: Vec<_> = planted.iter().map(|p| stamp(p)).collect();
    assert_eq!(
        after, before,
        "/steward.db or /sweep.lock was created or written"
    );
    for sys in ["/etc", "/tmp", "/usr/", "/var/lib/.."] {
        let out = run(Path::new(sys), &["sweep", "--dry-run"]);
        assert_refused(&out, &["refusing data dir", "system directory"]);
    }
}

#[test]
fn read_only_commands_create_nothing() {
    let dir = TestDir::new();
    let data = dir.path().join("data");
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["account", "list"],
        &["trash", "list"],
        &["sweep", "--dry-run"],
        &["sweep", "--dry-run", "--json"],
        &["doctor"],
    ] {
        let out = run(&data, args);
        assert_ne!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!data.exists(), "{args:?} created the data dir");
    }
    // An existing data dir with a store: a dry run makes no lock file, no store.
    let dir = TestDir::new();
    drop(open_store(&dir));
    let before = tree(dir.path());
    let out = dir.run(&["sweep", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after: Vec<PathBuf> = tree(dir.path())
        .into_iter()
        // SQLite's shared-memory index of a WAL database, made by any reader.
        .filter(|p| !p.ends_with("steward.db-shm") && !p.ends_with("steward.db-wal"))
        .collect();
    let before: Vec<PathBuf> = before
        .into_iter()
        .filter(|p| !p.ends_with("steward.db-shm") && !p.ends_with("steward.db-wal"))
        .collect();
    assert_eq!(after, before, "a dry run created files");
    assert!(!dir.path().join("sweep.lock").exists());
}

#[test]
fn a_foreign_dir_is_refused_unless_init() {
    let dir = TestDir::new();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("thesis.tex"), "\\documentclass{article}").unwrap();
    std::fs::create_dir(data.join("photos")).unwrap();
    let before = tree(&data);
    let out = run(&data, &["account", "add", "alice"]);
    assert_refused(
        &out,
        &["does not look like a steward data dir", "photos", "--init"],
    );
    assert_eq!(tree(&data), before, "a refused command created files");
    let out = run(&data, &["sweep", "--dry-run"]);
    assert_refused(&out, &["--init"]);

    let out = run(&data, &["--init", "account", "add", "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // It is a steward data dir now: no --init needed any more.
    let out = run(&data, &["account", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(data.join("thesis.tex")).unwrap(),
        "\\documentclass{article}"
    );

    // A dir holding only what steward makes is fine without --init.
    let fresh = TestDir::new();
    fresh.write_config("[temp]\nmax_age = \"1h\"\n");
    std::fs::create_dir(fresh.path().join("logs")).unwrap();
    let out = fresh.run(&["account", "add", "bob"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_symlinked_subdir_stops_the_start_and_its_target_survives() {
    for (sub, name) in [
        ("tmp", "old-file"),
        ("trash", "bob.session.1700000000000"),
        ("sessions", "ghost.session"),
    ] {
        let dir = TestDir::new();
        drop(open_store(&dir));
        let outside = TestDir::new();
        let precious = outside.path().join(name);
        std::fs::write(&precious, "precious").unwrap();
        age_days(&precious, 60);
        let link = dir.path().join(sub);
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        let link_text = link.display().to_string();

        assert_refused(&dir.run(&["sweep"]), &[&link_text, "symlink"]);
        assert_refused(&dir.run(&["sweep", "--dry-run"]), &[&link_text, "symlink"]);
        assert_refused(&dir.run(&["account", "add", "carol"]), &[&link_text]);
        headless_refused(dir.path(), &[&link_text, "symlink"]);

        assert_eq!(
            std::fs::read_to_string(&precious).unwrap(),
            "precious",
            "{sub}"
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{sub}: the link was 'fixed'"
        );
    }
}

#[test]
fn a_subdir_that_is_a_file_stops_the_start() {
    let dir = TestDir::new();
    drop(open_store(&dir));
    std::fs::write(dir.path().join("logs"), "not a dir").unwrap();
    assert_refused(&dir.run(&["sweep"]), &["logs", "not a directory"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("logs")).unwrap(),
        "not a dir"
    );
}

/// `steward ...` under `umask 000`.
fn open_umask(data: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(steward_bin())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("STEWARD_LOG");
    cmd
}

fn status_json(data: &Path) -> Option<serde_json::Value> {
    let out = run(data, &["status", "--json"]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn under_umask_000_everything_steward_makes_is_private() {
    let dir = TestDir::new();
    let data = dir.path().join("data");
    let out = open_umask(&data, &["account", "add", "alice"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut steward = Headless::spawn(
        open_umask(&data, &["run", "--headless"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let running = wait_for(Duration::from_secs(20), || {
        let s = status_json(&data)?;
        (crate::common::worker_state(&s, "alice").as_deref() == Some("running")).then_some(())
    });
    assert!(running.is_some(), "alice's worker never ran");
    let out = open_umask(&data, &["stop"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ended = wait_for(Duration::from_secs(20), || {
        steward.try_wait().ok().flatten()
    });
    assert!(
        ended.is_some_and(|s| s.success()),
        "steward did not stop cleanly"
    );
    assert_private(&data);
    for made in [
        "steward.db",
        "steward.lock",
        "status.json",
        "sessions/alice.session",
    ] {
        assert!(
            data.join(made).exists(),
            "{made} was never made: the walk proves little"
        );
    }
    let logs = std::fs::read_dir(data.join("logs")).unwrap().count();
    assert!(logs > 0, "no log file was made");
    // (The sweep tightens what it finds: the walk above came first.)
    let out = open_umask(&data, &["sweep"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(data.join("sweep.lock").exists());
    assert_private(&data);
}

/// Every dir under `data` (itself included) is 0700, every file 0600.
fn assert_private(data: &Path) {
    assert_eq!(mode(data), 0o700, "data dir");
    let mut seen_files = 0;
    for path in tree(data) {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let kind = meta.file_type();
        if kind.is_socket() {
            continue;
        }
        let m = meta.mode() & 0o7777;
        if kind.is_dir() {
            assert_eq!(m, 0o700, "{} is {m:04o}", path.display());
        } else {
            assert!(kind.is_file(), "{} is neither file nor dir", path.display());
            assert_eq!(m, 0o600, "{} is {m:04o}", path.display());
            seen_files += 1;
        }
    }
    assert!(seen_files >= 4, "{seen_files} files");
}

fn read_logs(data: &Path) -> String {
    std::fs::read_dir(data.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

#[test]
fn readable_modes_are_tightened_with_a_log_line() {
    let dir = TestDir::new();
    drop(open_store(&dir));
    let db = dir.path().join("steward.db");
    std::fs::create_dir(dir.path().join("sessions")).unwrap();
    chmod(dir.path(), 0o755);
    chmod(&db, 0o644);
    chmod(&dir.path().join("sessions"), 0o750);
    let mut steward = dir.spawn_headless();
    let up = wait_for(Duration::from_secs(20), || {
        dir.status_json()
            .filter(|s| s["instance"]["live"] == true)
            .map(|_| ())
    });
    assert!(up.is_some(), "steward did not start");
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&dir.path().join("sessions")), 0o700);
    let out = dir.run(&["stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        wait_for(Duration::from_secs(20), || steward
            .try_wait()
            .ok()
            .flatten())
        .is_some()
    );
    let log = read_logs(dir.path());
    let want = format!("tightened {} from 0644 to 0600", db.display());
    assert!(log.contains(&want), "{want:?} not in the log:\n{log}");
    assert!(log.contains("from 0755 to 0700"), "{log}");

    // A one-shot command logs it too, and keeps stderr for its own line.
    chmod(&db, 0o640);
    let out = dir.run(&["account", "add", "dave"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(mode(&db), 0o600);
    let want = format!("tightened {} from 0640 to 0600", db.display());
    assert!(read_logs(dir.path()).contains(&want), "{want:?} not logged");
}

#[test]
fn a_world_writable_data_dir_or_subdir_is_refused() {
    let dir = TestDir::new();
    drop(open_store(&dir));
    chmod(dir.path(), 0o777);
    let root = dir.path().display().to_string();
    assert_refused(
        &dir.run(&["account", "add", "x"]),
        &[&root, "writable by others", "chmod 700"],
    );
    assert_refused(&dir.run(&["sweep", "--dry-run"]), &["writable by others"]);
    headless_refused(dir.path(), &["writable by others"]);
    assert_eq!(mode(dir.path()), 0o777, "refused, never 'fixed'");

    let dir = TestDir::new();
    drop(open_store(&dir));
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let old = tmp.join("planted");
    std::fs::write(&old, "x").unwrap();
    age_days(&old, 30);
    chmod(&tmp, 0o777);
    let tmp_text = tmp.display().to_string();
    assert_refused(
        &dir.run(&["sweep"]),
        &[&tmp_text, "writable by others", "planted"],
    );
    headless_refused(dir.path(), &[&tmp_text, "writable by others"]);
    assert!(old.exists());

    // A store others can write is refused too: rows may have been planted.
    let dir = TestDir::new();
    drop(open_store(&dir));
    chmod(&dir.path().join("steward.db"), 0o666);
    assert_refused(
        &dir.run(&["sweep"]),
        &["steward.db", "writable by others", "chmod 600"],
    );
}

/// A throwaway system user, created once (root only).
fn other_user() -> Option<u32> {
    const NAME: &str = "steward-safety";
    let id = || {
        let out = Command::new("id").args(["-u", NAME]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if let Some(uid) = id() {
        return Some(uid);
    }
    let _ = Command::new("useradd")
        .args(["--system", "--no-create-home", NAME])
        .status();
    id()
}

#[test]
fn a_data_dir_owned_by_another_user_is_refused() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipped: not running as root (needs a second user's data dir)");
        return;
    }
    let Some(uid) = other_user() else {
        panic!("cannot create the throwaway user steward-safety (useradd)");
    };
    let dir = TestDir::new();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    chmod(&data, 0o700);
    // As if the other user had prepared it: root must never act on it.
    std::os::unix::fs::chown(&data, Some(uid), Some(uid)).unwrap();
    chmod(dir.path(), 0o755);
    assert_refused(
        &run(&data, &["sweep", "--dry-run"]),
        &[&data.display().to_string(), &format!("owned by uid {uid}")],
    );
    assert_refused(&run(&data, &["account", "add", "x"]), &["owned by uid"]);
    headless_refused(&data, &["owned by uid"]);
    assert!(!data.join("steward.db").exists());

    // Ours, but one subdir is theirs.
    let dir = TestDir::new();
    drop(open_store(&dir));
    let trash = dir.path().join("trash");
    std::fs::create_dir(&trash).unwrap();
    std::os::unix::fs::chown(&trash, Some(uid), Some(uid)).unwrap();
    assert_refused(
        &dir.run(&["sweep"]),
        &[&trash.display().to_string(), "owned by uid"],
    );
}

#[test]
fn the_temp_root_must_be_a_dedicated_dir_inside_the_data_dir() {
    let outside = TestDir::new();
    let cases = |data: &Path| {
        vec![
            data.join("sessions"),
            data.join("downloads/tmp"),
            data.join("trash"),
            data.to_path_buf(),
            outside.path().to_path_buf(),
        ]
    };
    let dir = TestDir::new();
    drop(open_store(&dir));
    for root in cases(dir.path()) {
        dir.write_config(&format!("[temp]\nroot = \"{}\"\n", root.display()));
        for args in [&["sweep"][..], &["sweep", "--dry-run"]] {
            assert_refused(
                &dir.run(args),
                &["config error", "[temp] root", "dedicated dir"],
            );
        }
        headless_refused(dir.path(), &["config error", "[temp] root"]);
    }
    // A dedicated dir of another name is fine, and made private.
    let own = dir.path().join("scratch");
    dir.write_config(&format!("[temp]\nroot = \"{}\"\n", own.display()));
    let out = dir.run(&["sweep"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&own), 0o700);
}
