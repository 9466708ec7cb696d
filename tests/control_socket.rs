//! The control socket (`<data-dir>/control.sock`) of a real headless
//! instance, probed through real connections: whatever a client sends (or
//! does not send, or does not read), the instance answers with at most one
//! error line or closes, never panics, never grows, and keeps serving the
//! others; other users are refused; a killed instance's socket file is
//! answered "no instance running" and replaced by the next instance.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::control::{Raw, vm_rss};
use common::{Headless, TestDir, wait_for};
use steward::store::AccountRow;

/// Quiet workers: the only snapshot churn is what a test makes.
const CONFIG: &str = "[worker]\ncommand = [\"sleep\", \"86400\"]\nstop_timeout = \"2s\"\n\
                      [aria2]\nenabled = false\n";

/// A headless instance with its stderr in a file (read at any time for a
/// panic message) and its log under `<data-dir>/logs`.
struct Instance {
    dir: TestDir,
    child: Headless,
    stderr: PathBuf,
    _stderr_dir: tempfile::TempDir,
}

impl Instance {
    /// `accounts` accounts on sleeping workers, every one running.
    fn start(accounts: usize) -> Instance {
        Instance::start_with_names(accounts, 0)
    }

    /// As `start`, each account's name padded with `pad` bytes (bigger
    /// snapshots for the same work of the manager).
    fn start_with_names(accounts: usize, pad: usize) -> Instance {
        let dir = TestDir::new();
        dir.write_config(CONFIG);
        let store = common::open_store(&dir);
        for i in 0..accounts {
            store
                .add_account(&AccountRow {
                    id: account(i),
                    name: format!("{} {}", account(i), "n".repeat(pad)),
                    enabled: true,
                    secret: None,
                    created_ms: 0,
                })
                .unwrap();
        }
        drop(store);
        Instance::spawn(dir, accounts)
    }

    /// Starts steward on `dir` and waits until its socket shows `accounts`
    /// workers running.
    fn spawn(dir: TestDir, accounts: usize) -> Instance {
        let stderr_dir = tempfile::tempdir().unwrap();
        let stderr = stderr_dir.path().join("stderr");
        let child = Headless::spawn(
            dir.cmd(&["run", "--headless"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).unwrap()),
        );
        let mut instance = Instance {
            dir,
            child,
            stderr,
            _stderr_dir: stderr_dir,
        };
        instance.wait_running(accounts);
        instance
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn wait_running(&mut self, accounts: usize) {
        let path = self.dir.path().to_path_buf();
        let child = &mut self.child;
        wait_for(Duration::from_secs(60), || {
            assert!(
                child.try_wait().unwrap().is_none(),
                "steward exited while starting"
            );
            let mut raw = Raw::connect(&path).ok()?;
            raw.send(r#"{"protocol":1,"role":"view","client":"test"}"#)
                .ok()?;
            raw.frame()?;
            let (snapshot, _) = raw.status();
            let running = running_workers(&snapshot);
            (running == accounts).then_some(())
        })
        .unwrap_or_else(|| panic!("{accounts} workers running within 60 s"));
    }

    /// steward's stderr and log so far.
    fn output(&self) -> String {
        let mut text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        if let Ok(logs) = std::fs::read_dir(self.path().join("logs")) {
            for entry in logs.flatten() {
                text += &std::fs::read_to_string(entry.path()).unwrap_or_default();
            }
        }
        text
    }

    /// Still running, no panic anywhere in its output, and a status round
    /// trip on `watch` (a connection held since before the abuse) works.
    fn still_serving(&mut self, watch: &mut Raw, after: &str) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "steward exited after {after}: {}",
            self.output()
        );
        let output = self.output();
        assert!(
            !output.contains("panicked"),
            "steward panicked after {after}: {output}"
        );
        let (snapshot, _) = watch.status();
        assert!(
            snapshot["accounts"].is_array(),
            "{}",
            common::control::head(&snapshot.to_string())
        );
    }

    /// Polls the log (generously) for a line containing every one of `parts`.
    fn log_line_with(&self, parts: &[&str], limit: Duration) -> Option<String> {
        wait_for(limit, || {
            self.output()
                .lines()
                .find(|line| parts.iter().all(|p| line.contains(p)))
                .map(str::to_string)
        })
    }
}

fn account(i: usize) -> String {
    format!("acc{i:04}")
}

fn running_workers(snapshot: &serde_json::Value) -> usize {
    snapshot["accounts"].as_array().map_or(0, |accounts| {
        accounts
            .iter()
            .filter(|a| a["worker"]["state"]["state"] == "running")
            .count()
    })
}

/// Deterministic noise (xorshift64): the same bytes every run.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// Writes `bytes` on a thread of its own (the instance may stop reading
/// and close midway: write errors are expected and ignored); returns the
/// thread to join once the connection ended.
fn write_in_background(raw: &Raw, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let mut stream = raw.stream().try_clone().unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        let _ = stream.write_all(&bytes);
    })
}

const CLOSE_WITHIN: Duration = Duration::from_secs(30);

#[test]
fn protocol_abuse_gets_one_error_line_or_a_close_and_the_instance_keeps_serving() {
    let mut instance = Instance::start(3);
    let dir = instance.path().to_path_buf();
    let mut watch = Raw::hello(&dir, "control");

    // Connected and silent: cut off once the hello is overdue (5 s).
    let silent = Raw::connect(&dir).unwrap();

    // Noise instead of a hello: one line of it, and 64 KiB with newlines.
    for (name, bytes) in [
        ("a line of noise as the hello", {
            let mut b: Vec<u8> = noise(300, 7).into_iter().filter(|b| *b != b'\n').collect();
            b.push(b'\n');
            b
        }),
        ("64 KiB of noise as the hello", noise(64 * 1024, 11)),
        ("an empty line as the hello", b"\n".to_vec()),
        ("a JSON array as the hello", b"[1,2,3]\n".to_vec()),
        (
            "a hello with an unknown role",
            b"{\"protocol\":1,\"role\":\"admin\"}\n".to_vec(),
        ),
    ] {
        let raw = Raw::connect(&dir).unwrap();
        let writer = write_in_background(&raw, bytes);
        let ending = raw.ending(CLOSE_WITHIN);
        writer.join().unwrap();
        ending.at_most_one_error();
        instance.still_serving(&mut watch, name);
    }

    // A hello of another protocol version: refused with a clear line.
    let mut raw = Raw::connect(&dir).unwrap();
    raw.send(r#"{"protocol":2,"role":"control","client":"from the future"}"#)
        .unwrap();
    let text = raw.ending(CLOSE_WITHIN).at_most_one_error();
    let text = text.expect("an error line for a wrong version");
    assert!(text.contains("protocol version 2"), "{text}");
    instance.still_serving(&mut watch, "a wrong protocol version");

    // 10 MB on one line, before and after the hello: the instance reads
    // its 64 KiB limit of it and closes.
    for after_hello in [false, true] {
        let raw = if after_hello {
            Raw::hello(&dir, "control")
        } else {
            Raw::connect(&dir).unwrap()
        };
        let writer = write_in_background(&raw, vec![b'x'; 10_000_000]);
        let ending = raw.ending(CLOSE_WITHIN);
        writer.join().unwrap();
        if let Some(text) = ending.at_most_one_error() {
            assert!(text.contains("longer than"), "{text}");
        }
        instance.still_serving(&mut watch, "a 10 MB line");
    }

    // After the hello: noise, invalid JSON, a request without an id.
    for (name, line) in [
        ("a line of noise", {
            let mut b: Vec<u8> = noise(300, 13).into_iter().filter(|b| *b != b'\n').collect();
            b.push(b'\n');
            b
        }),
        ("invalid JSON", b"{\"id\":1,\"ask\":\n".to_vec()),
        (
            "invalid UTF-8 in a string",
            b"{\"id\":1,\"ask\":\"command\",\"command\":{\"command\":\"start_worker\",\"id\":\"\xff\xfe\"}}\n"
                .to_vec(),
        ),
        ("a request without an id", br#"{"ask":"status"}"#.to_vec()),
    ] {
        let mut raw = Raw::hello(&dir, "control");
        let mut line = line;
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        raw.send_bytes(&line).unwrap();
        raw.ending(CLOSE_WITHIN).at_most_one_error();
        instance.still_serving(&mut watch, name);
    }

    // Requests that parse as JSON with an id but ask for nothing known: an
    // error reply to that id, and the connection stays usable.
    let mut raw = Raw::hello(&dir, "control");
    for ask in [
        r#""ask":"fly""#,
        r#""ask":"command","command":{"command":"launch_rockets"}"#,
        r#""ask":"command","command":{"command":"set_enabled","id":"acc0000"}"#,
        r#""ask":"command""#,
        r#""ask":"command","command":{"command":"start_worker","id":"nobody"}"#,
    ] {
        let (reply, _) = raw.ask(ask);
        assert_eq!(reply["ok"], false, "{ask} -> {reply}");
        assert!(
            reply["text"].as_str().is_some_and(|t| !t.is_empty()),
            "{reply}"
        );
        raw.status();
        instance.still_serving(&mut watch, ask);
    }
    // A read-only connection's command is refused, and it stays open.
    let mut view = Raw::hello(&dir, "view");
    let (reply, _) =
        view.ask(r#""ask":"command","command":{"command":"stop_worker","id":"acc0000"}"#);
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(running_workers(&view.status().0), 3);

    // The silent one was cut off on its own (its hello was due in 5 s).
    silent.ending(CLOSE_WITHIN).at_most_one_error();
    instance.still_serving(&mut watch, "a client that never said hello");
}

/// One frame is kept per client however fast snapshots come: a client that
/// subscribes and never reads costs steward a bounded amount of memory, the
/// others keep their answers, and it is disconnected after a while.
#[test]
fn a_client_that_never_reads_costs_no_memory_and_is_cut_off() {
    const ACCOUNTS: usize = 200;
    // Names of 2 KB make each snapshot ~0.5 MB: the snapshots' bytes per
    // second, not their number, is what a client that queued them would hold.
    let instance = Instance::start_with_names(ACCOUNTS, 2000);
    let dir = instance.path().to_path_buf();
    let pid = instance.child.id();
    let stop = Arc::new(AtomicBool::new(false));

    // Churn: accounts disabled and enabled again, one after another on
    // each of a few connections, each command waiting for its reply (the
    // manager acted).
    const CHURNERS: usize = 4;
    let toggles = Arc::new(AtomicU64::new(0));
    let churn: Vec<_> = (0..CHURNERS)
        .map(|churner| {
            let (dir, stop, toggles) = (dir.clone(), stop.clone(), toggles.clone());
            std::thread::spawn(move || {
                let mut raw = Raw::hello(&dir, "control");
                let mut i = churner;
                while !stop.load(Ordering::Relaxed) {
                    for enabled in [false, true] {
                        let (reply, _) = raw.ask(&format!(
                            r#""ask":"command","command":{{"command":"set_enabled","id":"{}","enabled":{enabled}}}"#,
                            account(i % ACCOUNTS)
                        ));
                        assert_eq!(reply["ok"], true, "{reply}");
                    }
                    toggles.fetch_add(1, Ordering::Relaxed);
                    i += CHURNERS;
                }
            })
        })
        .collect();
    // Another client's status round trips, all along.
    let slowest = Arc::new(AtomicU64::new(0));
    let prober = {
        let (dir, stop, slowest) = (dir.clone(), stop.clone(), slowest.clone());
        std::thread::spawn(move || {
            let mut raw = Raw::hello(&dir, "view");
            let mut trips = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (_, took) = raw.status();
                slowest.fetch_max(took.as_millis() as u64, Ordering::Relaxed);
                trips += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            trips
        })
    };

    // Baseline: the highest RSS over a few seconds of churn with nobody stuck.
    let sample = |until: Instant| {
        let mut highest = 0;
        while Instant::now() < until {
            highest = highest.max(vm_rss(pid).expect("steward's VmRSS"));
            std::thread::sleep(Duration::from_millis(100));
        }
        highest
    };
    let baseline = sample(Instant::now() + Duration::from_secs(5));
    // The snapshots published in the window, by their sequence numbers.
    let mut meter = Raw::hello(&dir, "view");
    let (first, _) = meter.status();
    let snapshot_size = first.to_string().len() as u64;

    // Stuck clients: subscribed, never reading, a new one every 2 s, so
    // that several are stuck at any moment of the window, however soon
    // each is cut off.
    let window = Duration::from_secs(30);
    let started = Instant::now();
    let mut stuck = Vec::new();
    let mut highest = baseline;
    while started.elapsed() < window {
        let mut raw = Raw::hello(&dir, "view");
        raw.send(r#"{"id":1,"ask":"subscribe","logs":true}"#)
            .unwrap();
        stuck.push(raw);
        highest = highest.max(sample(Instant::now() + Duration::from_secs(2)));
    }
    let (last, _) = meter.status();
    let made = last["seq"].as_u64().unwrap() - first["seq"].as_u64().unwrap();
    stop.store(true, Ordering::Relaxed);
    for churner in churn {
        churner.join().unwrap();
    }
    let trips = prober.join().unwrap();
    let grew = highest.saturating_sub(baseline);
    eprintln!(
        "{} stuck clients over {window:?}: {made} snapshots of ~{} KB ({} toggles); RSS {} MB -> highest {} MB (+{} MB); \
         {trips} status round trips, slowest {} ms",
        stuck.len(),
        snapshot_size / 1000,
        toggles.load(Ordering::Relaxed),
        baseline / 1_000_000,
        highest / 1_000_000,
        grew / 1_000_000,
        slowest.load(Ordering::Relaxed),
    );
    // The churn must be real for "flat" to mean anything: were a stuck
    // client to queue what it did not read for as long as it is allowed to
    // stay stuck (10 s), that alone would be twice the bound below.
    let per_second = made * snapshot_size / window.as_secs();
    assert!(
        per_second * 10 > 40_000_000,
        "too little churn to test anything: {made} snapshots of {snapshot_size} bytes in {window:?}"
    );
    assert!(
        grew < 20_000_000,
        "steward's RSS grew by {} MB with clients that never read",
        grew / 1_000_000
    );
    assert!(trips >= 20, "only {trips} status round trips in {window:?}");
    let slowest = slowest.load(Ordering::Relaxed);
    assert!(
        slowest < 5_000,
        "a status round trip took {slowest} ms while clients were stuck"
    );
    let line = instance
        .log_line_with(&["client stopped reading"], Duration::from_secs(60))
        .expect("a logged line for a stuck client disconnected");
    eprintln!("{line}");
    // The first stuck client was cut off long ago: what was queued for it
    // (its last frame cut short), then the end of the stream.
    stuck.swap_remove(0).drain(Duration::from_secs(20));
}

/// Where the system has `setpriv` and the test runs as root: a connection
/// whose peer credentials say uid 4242 (with DAC override kept, so the 0700
/// data dir and the 0600 socket are reachable at all) is refused and logged.
#[test]
fn a_connection_from_another_user_is_refused_and_logged() {
    if !rustix::process::geteuid().is_root() {
        skip("not running as root: cannot connect as another uid");
        return;
    }
    let as_other = |script: &str| {
        std::process::Command::new("setpriv")
            .args([
                "--reuid=4242",
                "--regid=4242",
                "--clear-groups",
                "--inh-caps=+dac_override",
                "--ambient-caps=+dac_override",
                "python3",
                "-c",
                script,
            ])
            .output()
    };
    match as_other("import os; print(os.getuid())") {
        Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == "4242" => {}
        Ok(out) => {
            skip(&format!(
                "setpriv cannot run python3 as uid 4242 with DAC override here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return;
        }
        Err(e) => {
            skip(&format!("no setpriv (util-linux): {e}"));
            return;
        }
    }
    let mut instance = Instance::start(1);
    let dir = instance.path().to_path_buf();
    let mut watch = Raw::hello(&dir, "control");
    let script = format!(
        r#"
import socket
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect({socket:?})
try:
    s.sendall(b'{{"protocol":1,"role":"control","client":"intruder"}}\n{{"id":1,"ask":"status"}}\n')
except OSError:
    pass  # refused before the hello was read: what is said is below
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except ConnectionResetError:
        break
    if not chunk:
        break
    data += chunk
print(data.decode())
"#,
        socket = dir.join("control.sock").display().to_string()
    );
    let out = as_other(&script).unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the other user's client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = said.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one refusal line, then the end: {said}");
    let frame: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(frame["frame"], "error", "{frame}");
    assert!(
        frame["text"].as_str().unwrap().contains("refused"),
        "{frame}"
    );
    let logged = instance
        .log_line_with(&["connection refused", "uid 4242"], Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no refusal logged: {}", instance.output()));
    eprintln!("{logged}");
    instance.still_serving(&mut watch, "another user's connection");
}

/// `kill -9` leaves the socket file: a client is told "no instance running"
/// at once, and the next instance (holding the lock) replaces it.
#[test]
fn a_killed_instances_socket_says_not_running_and_the_next_instance_replaces_it() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    let mut instance = Instance::start(2);
    let socket = instance.path().join("control.sock");
    let before = std::fs::metadata(&socket).unwrap();
    assert_eq!(before.permissions().mode() & 0o777, 0o600);
    common::kill9(instance.child.id() as i32);
    instance.child.wait().unwrap();

    let left = std::fs::symlink_metadata(&socket).expect("the socket file stays");
    assert!(left.file_type().is_socket());
    let refused = std::os::unix::net::UnixStream::connect(&socket).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let asked = Instant::now();
    let err = rt
        .block_on(steward::link::Client::connect(
            instance.path(),
            &socket,
            steward::model::Role::Control,
            "test",
        ))
        .err()
        .expect("no instance to connect to");
    let took = asked.elapsed();
    assert!(
        matches!(err, steward::link::LinkError::NotRunning { .. }),
        "{err:?} after {took:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("no instance running on {}", instance.path().display())
    );

    // Opened up meanwhile: the next instance tightens it again.
    std::fs::set_permissions(instance.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let Instance {
        dir,
        child,
        _stderr_dir: old_stderr,
        ..
    } = instance;
    drop((child, old_stderr));
    let mut instance = Instance::spawn(dir, 2);
    // Answering at all is the proof it was rebound: the leftover refuses.
    let after = std::fs::metadata(&socket).unwrap();
    assert_eq!(after.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(instance.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    instance
        .log_line_with(
            &["removing the control socket a previous instance left"],
            Duration::from_secs(20),
        )
        .expect("the leftover's removal logged");
    let mut watch = Raw::hello(instance.path(), "control");
    instance.still_serving(&mut watch, "a restart over a leftover socket");
    drop(watch);

    // A clean exit takes the socket file with it.
    let pid = instance.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = instance.child.wait().unwrap();
    assert!(status.success(), "{status:?}: {}", instance.output());
    assert!(!socket.exists(), "the socket outlived a clean exit");
}

/// Clients past the limit (64) get one refusal line; the ones already in
/// keep being served, and once one leaves a new one gets in.
#[test]
fn clients_past_the_limit_are_refused_and_a_freed_place_is_taken_again() {
    let mut instance = Instance::start(1);
    let dir = instance.path().to_path_buf();
    let mut watch = Raw::hello(&dir, "control");
    let mut served = vec![];
    let refusal = loop {
        assert!(served.len() < 100, "still no refusal after 100 clients");
        let mut raw = Raw::connect(&dir).unwrap();
        raw.send(r#"{"protocol":1,"role":"view","client":"one of many"}"#)
            .unwrap();
        let first = raw.frame().expect("a welcome or a refusal");
        if first["frame"] == "welcome" {
            served.push(raw);
            continue;
        }
        assert_eq!(first["frame"], "error", "{first}");
        assert!(raw.frame().is_none(), "more than the refusal line");
        break first["text"].as_str().unwrap().to_string();
    };
    assert!(
        refusal.contains("clients are connected already"),
        "{refusal}"
    );
    // The watch is one of the 64; a connection of the start-up's polling
    // may not have ended yet.
    let welcomed = served.len() + 1;
    assert!(
        (60..=64).contains(&welcomed),
        "{welcomed} clients welcomed before the first refusal"
    );
    instance.still_serving(&mut watch, "a client past the limit");
    for raw in &mut served {
        raw.status();
    }
    drop(served.pop());
    wait_for(Duration::from_secs(20), || {
        let mut raw = Raw::connect(&dir).ok()?;
        raw.send(r#"{"protocol":1,"role":"view","client":"the next one"}"#)
            .ok()?;
        (raw.frame()?["frame"] == "welcome").then_some(())
    })
    .expect("a place freed by a client that left is taken again");
}

/// Straight to stderr, past libtest's capture, so the skip is seen.
fn skip(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}
