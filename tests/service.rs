//! steward as a systemd service: the unit `steward service print` writes
//! passes `systemd-analyze verify`; and, with the test playing the service
//! manager's side of sd_notify(3) (a datagram socket in `NOTIFY_SOCKET`,
//! `WATCHDOG_USEC` set), `run --headless` says READY=1, keeps STATUS=
//! current, pings the watchdog from its control loop (never while frozen),
//! and says STOPPING=1 and each shutdown phase; under the journal its log
//! lines carry syslog priorities.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Headless, TestDir, wait_for};

#[test]
fn the_printed_units_pass_systemd_analyze_verify() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        // .ci/run installs systemd where it is missing.
        println!("skipped: systemd-analyze is not installed");
        return;
    };
    assert!(out.status.success());
    let dir = TestDir::new();
    let units = tempfile::tempdir().unwrap();
    let config = units.path().join("steward.toml");
    std::fs::write(&config, "[shutdown]\nclean_temp = \"100s\"\n").unwrap();
    for (flavour, extra) in [("system", vec![]), ("user", vec!["--user"])] {
        let mut args = vec!["--config", config.to_str().unwrap(), "service", "print"];
        args.extend(extra);
        let out = dir.run(&args);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let unit = common::stdout(&out);
        assert!(
            unit.contains(&format!(
                "--data-dir {} --config {} run --headless",
                dir.path().display(),
                config.display()
            )),
            "{flavour}: {unit}"
        );
        // 100 s of temp cleaning alone: the stop timeout covers the plan.
        let timeout: u64 = unit
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .and_then(|v| v.trim_end_matches('s').parse().ok())
            .unwrap();
        assert!(
            timeout > 100 + 10 + 5 + 3 + 3 + 5,
            "{flavour}: TimeoutStopSec={timeout}"
        );
        let place = units.path().join(flavour);
        std::fs::create_dir(&place).unwrap();
        let file = place.join("steward.service");
        std::fs::write(&file, &unit).unwrap();
        let verified = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&file)
            .output()
            .unwrap();
        // verify exits 0 on many complaints: any line it prints is one.
        let said = format!("{}{}", common::stdout(&verified), common::stderr(&verified));
        assert!(
            verified.status.success() && said.trim().is_empty(),
            "{flavour}:\n{said}\n{unit}"
        );
    }
}

/// The service manager's side: every datagram with the time it came.
struct ServiceManager {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    heard: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl ServiceManager {
    fn listen() -> ServiceManager {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = heard.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push((Instant::now(), text));
            }
        });
        ServiceManager {
            _dir: dir,
            path,
            heard,
        }
    }

    /// Every `KEY=value` line heard so far, with when.
    fn lines(&self) -> Vec<(Instant, String)> {
        self.heard
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(at, text)| {
                text.lines()
                    .map(|l| (*at, l.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn wait_line(&self, what: &str, check: impl Fn(&str) -> bool) -> Instant {
        wait_for(Duration::from_secs(30), || {
            self.lines()
                .into_iter()
                .find(|(_, l)| check(l))
                .map(|(at, _)| at)
        })
        .unwrap_or_else(|| panic!("never heard {what}; heard {:#?}", self.lines()))
    }

    fn pings_between(&self, from: Instant, to: Instant) -> Vec<Instant> {
        self.lines()
            .into_iter()
            .filter(|(at, l)| l == "WATCHDOG=1" && *at >= from && *at < to)
            .map(|(at, _)| at)
            .collect()
    }
}

fn signal(pid: u32, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn run_headless_speaks_sd_notify_from_start_to_stop() {
    let dir = TestDir::new();
    // Workers that take a moment to stop, so the stop phase is seen running.
    dir.write_config(
        "[worker]\ncommand = [\"sh\", \"-c\", \"trap 'sleep 2; exit 0' TERM; while :; do sleep 0.1; done\"]\n\
         stop_timeout = \"20s\"\n",
    );
    for id in ["alice", "bob", "carol"] {
        assert!(dir.run(&["account", "add", id]).status.success());
    }
    let manager = ServiceManager::listen();
    // A watchdog of 3 s: steward must ping every 1.5 s (half of it).
    let watchdog = Duration::from_secs(3);
    let instance = Headless::spawn(
        dir.cmd(&["run", "--headless"])
            .env("NOTIFY_SOCKET", &manager.path)
            .env("WATCHDOG_USEC", watchdog.as_micros().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let ready = manager.wait_line("READY=1", |l| l == "READY=1");
    manager.wait_line("a STATUS with every account running", |l| {
        l.starts_with("STATUS=3/3 accounts running · aria2 ")
    });
    // Workers never see the service manager's variables.
    let status = dir.status_json().unwrap();
    let pid = common::worker_pid(&status, "alice").unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(!environ.contains("NOTIFY_SOCKET") && !environ.contains("WATCHDOG_USEC"));

    // The watchdog cadence: several pings, no gap as long as the interval.
    wait_for(Duration::from_secs(30), || {
        (manager.pings_between(ready, Instant::now()).len() >= 4).then_some(())
    })
    .expect("watchdog pings");
    let pings = manager.pings_between(ready, Instant::now());
    for pair in pings.windows(2) {
        assert!(
            pair[1] - pair[0] < watchdog,
            "a ping gap of {:?}",
            pair[1] - pair[0]
        );
    }

    // A frozen control loop (the whole process stopped) sends nothing; once
    // it runs again, the pings come back.
    signal(instance.id(), "-STOP");
    let frozen_at = Instant::now();
    std::thread::sleep(watchdog * 2); // the frozen span itself is what is tested
    let thawed_at = Instant::now();
    signal(instance.id(), "-CONT");
    // A datagram sent just before the stop may arrive a moment into it.
    let during = manager.pings_between(frozen_at + Duration::from_millis(200), thawed_at);
    assert!(during.is_empty(), "pings while frozen: {during:?}");
    wait_for(Duration::from_secs(10), || {
        (!manager.pings_between(thawed_at, Instant::now()).is_empty()).then_some(())
    })
    .expect("pings again after SIGCONT");

    // systemctl stop: SIGTERM.
    signal(instance.id(), "-TERM");
    let stopping = manager.wait_line("STOPPING=1", |l| l == "STOPPING=1");
    assert!(ready < stopping);
    manager.wait_line("the worker phase's STATUS", |l| {
        l.starts_with("STATUS=stop workers") || l.starts_with("STATUS=shutting down: stop workers")
    });
    manager.wait_line("an EXTEND_TIMEOUT_USEC while a phase runs", |l| {
        l.starts_with("EXTEND_TIMEOUT_USEC=")
    });
    manager.wait_line("the final STATUS", |l| l == "STATUS=shut down");
    let mut instance = instance;
    let exited = instance.wait().unwrap();
    assert_eq!(exited.code(), Some(0));
    // The order as a whole: READY, then STOPPING, then the phases, then the end.
    let lines: Vec<String> = manager.lines().into_iter().map(|(_, l)| l).collect();
    let position = |wanted: &str| lines.iter().position(|l| l == wanted).unwrap();
    assert!(position("READY=1") < position("STOPPING=1"));
    assert!(position("STOPPING=1") < position("STATUS=shut down"));
}

#[test]
fn outside_systemd_nothing_changes_and_under_the_journal_lines_carry_priorities() {
    let dir = TestDir::new();
    assert!(dir.run(&["account", "add", "alice"]).status.success());
    let mut instance = Headless::spawn(
        dir.cmd(&["run", "--headless"])
            .env("JOURNAL_STREAM", "8:12345")
            .env("NO_COLOR", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut pipe = instance.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut text).unwrap();
        text
    });
    wait_for(Duration::from_secs(30), || {
        let status = dir.status_json()?;
        (common::worker_state(&status, "alice")? == "running").then_some(())
    })
    .expect("alice running");
    signal(instance.id(), "-TERM");
    assert_eq!(instance.wait().unwrap().code(), Some(0));
    let stderr = reader.join().unwrap();
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("<6>") && l.contains("manager started")),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "colours in the journal: {stderr}"
    );
    // No timestamps of its own: the journal keeps them.
    assert!(
        stderr
            .lines()
            .filter(|l| l.starts_with('<'))
            .all(|l| !l.contains("Z ")),
        "{stderr}"
    );
}
