//! The metrics endpoint end to end, on a real headless instance listening on
//! a free loopback port: the text parses (promtool, and the small parser
//! below, written from the exposition format's description), its figures
//! agree with `status --json`, `steward metrics` prints the same families,
//! and slow, oversized and piled-up clients are cut off while a
//! well-behaved scrape still gets its answer. `/healthz` says 503 while the
//! instance is frozen (SIGSTOP) and 200 again once it runs.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::{Headless, TestDir, wait_for, worker_pid, worker_state};

const ACCOUNTS: [&str; 3] = ["alice", "bob", "carol"];

/// A port nobody listens on right now (the instance binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Instance {
    dir: TestDir,
    addr: SocketAddr,
    steward: Headless,
}

/// A headless instance with `ACCOUNTS` running and the endpoint up.
fn start() -> Instance {
    let dir = TestDir::new();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    dir.write_config(&format!(
        "[aria2]\nenabled = false\n[metrics]\nlisten = \"{addr}\"\n"
    ));
    for id in ACCOUNTS {
        let out = dir.run(&["account", "add", id, "--name", id]);
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let steward = dir.spawn_headless();
    let instance = Instance { dir, addr, steward };
    let all_running = wait_for(Duration::from_secs(30), || {
        let status = instance.dir.status_json()?;
        ACCOUNTS
            .iter()
            .all(|id| worker_state(&status, id).as_deref() == Some("running"))
            .then_some(())
    });
    assert!(all_running.is_some(), "the workers did not all start");
    let up = wait_for(Duration::from_secs(10), || {
        get(instance.addr, "/healthz")
            .ok()
            .filter(|r| r.status == 200)
    });
    assert!(up.is_some(), "no /healthz 200 from a live instance");
    instance
}

struct Response {
    status: u16,
    head: String,
    body: String,
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Response {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// Reads until the server closes (or errors), within a generous limit.
fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return raw,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
}

fn request(addr: SocketAddr, text: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(text.as_bytes())?;
    let raw = read_all(&mut stream);
    parse_response(&raw).ok_or_else(|| std::io::Error::other("no HTTP answer"))
}

fn get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: steward\r\nUser-Agent: test\r\n\r\n"),
    )
}

/// One sample: the metric's name and its labels.
type Series = (String, BTreeMap<String, String>);

/// The exposition format's text, parsed without anything of steward's or
/// prometheus-client's: every sample belongs to a family declared by HELP
/// and TYPE before it, names and label names are valid, label values are
/// unescaped, values are numbers, no series twice, counters end in `_total`.
fn parse_exposition(text: &str) -> BTreeMap<Series, f64> {
    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut help = BTreeSet::new();
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    assert!(text.ends_with('\n'), "the text ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(valid_name(name), "{line}");
            assert!(help.insert(name.to_string()), "HELP twice: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(help.contains(name), "TYPE before HELP: {line}");
            assert!(
                ["counter", "gauge", "untyped", "histogram", "summary"].contains(&kind),
                "{line}"
            );
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter without _total: {line}");
            }
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "{line}"
            );
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
        let (name, rest) = match line.find(['{', ' ']) {
            Some(at) => line.split_at(at),
            None => panic!("no value: {line}"),
        };
        assert!(valid_name(name), "{line}");
        assert!(types.contains_key(name), "sample before its TYPE: {line}");
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            let end = loop {
                let (start, c) = chars.next().expect("unterminated labels");
                if c == '}' {
                    break start;
                }
                let key_end = inner[start..].find('=').unwrap() + start;
                let key = &inner[start..key_end];
                assert!(valid_name(key), "{line}");
                while chars.peek().is_some_and(|&(i, _)| i <= key_end) {
                    chars.next();
                }
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    match chars.next().expect("unterminated value").1 {
                        '\\' => match chars.next().unwrap().1 {
                            'n' => value.push('\n'),
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            other => panic!("bad escape \\{other} in {line}"),
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                assert!(labels.insert(key.to_string(), value).is_none(), "{line}");
                if chars.peek().is_some_and(|&(_, c)| c == ',') {
                    chars.next();
                }
            };
            rest = &inner[end + 1..];
        }
        let value = rest.trim();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
        };
        assert!(
            samples.insert((name.to_string(), labels), value).is_none(),
            "series twice: {line}"
        );
    }
    samples
}

fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples.get(&(name.to_string(), labels)).copied()
}

fn promtool_available() -> bool {
    if Command::new("promtool").arg("--version").output().is_ok() {
        return true;
    }
    eprintln!("promtool not installed (Debian package prometheus): that check is skipped");
    false
}

fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        common::stdout(&out),
        common::stderr(&out)
    );
}

/// The figures `status --json` and `/metrics` both tell, from either side.
fn figures_from_status(status: &serde_json::Value) -> BTreeMap<String, f64> {
    let accounts = status["accounts"].as_array().unwrap();
    let mut out = BTreeMap::new();
    let running = accounts
        .iter()
        .filter(|a| a["worker"]["state"]["state"] == "running")
        .count();
    out.insert("accounts running".into(), running as f64);
    for a in accounts {
        let id = a["id"].as_str().unwrap();
        let w = &a["worker"];
        out.insert(format!("{id} restarts"), w["restarts"].as_f64().unwrap());
        out.insert(
            format!("{id} up"),
            f64::from(u8::from(w["state"]["state"] == "running")),
        );
        out.insert(
            format!("{id} lock held"),
            f64::from(u8::from(!w["lock_holders"].as_array().unwrap().is_empty())),
        );
    }
    out
}

fn figures_from_metrics(samples: &BTreeMap<Series, f64>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    out.insert(
        "accounts running".into(),
        value(samples, "steward_accounts", &[("state", "running")]).unwrap(),
    );
    for id in ACCOUNTS {
        let account = [("account", id)];
        out.insert(
            format!("{id} restarts"),
            value(samples, "steward_worker_restarts_total", &account).unwrap(),
        );
        out.insert(
            format!("{id} up"),
            value(samples, "steward_worker_up", &account).unwrap(),
        );
        out.insert(
            format!("{id} lock held"),
            value(samples, "steward_worker_session_lock_held", &account).unwrap(),
        );
    }
    out
}

#[test]
fn metrics_parse_and_agree_with_status() {
    let instance = start();
    let dir = &instance.dir;
    // One restart, so the counters are not all zero: bob's worker is killed.
    let status = dir.status_json().unwrap();
    let bob = worker_pid(&status, "bob").unwrap();
    common::kill9(bob);
    let restarted = wait_for(Duration::from_secs(30), || {
        let status = dir.status_json()?;
        let pid = worker_pid(&status, "bob")?;
        (pid != bob && worker_state(&status, "bob").as_deref() == Some("running")).then_some(())
    });
    assert!(restarted.is_some(), "bob's worker was not restarted");

    // Both read the same snapshot once nothing moves: retried until a pair
    // of reads agree (a publish may fall between the two).
    let mut last = None;
    let agreed = wait_for(Duration::from_secs(30), || {
        let before = figures_from_status(&dir.status_json()?);
        let response = get(instance.addr, "/metrics").ok()?;
        let after = figures_from_status(&dir.status_json()?);
        let from_metrics = figures_from_metrics(&parse_exposition(&response.body));
        let agree = before == after && after == from_metrics;
        last = Some((after, from_metrics.clone()));
        agree.then_some((response, from_metrics))
    });
    let (response, figures) =
        agreed.unwrap_or_else(|| panic!("/metrics never agreed with status --json: {last:?}"));
    assert_eq!(figures["accounts running"], 3.0);
    assert_eq!(figures["bob restarts"], 1.0);
    assert_eq!(figures["alice restarts"], 0.0);
    assert_eq!(figures["alice lock held"], 1.0);
    assert_eq!(response.status, 200);
    assert!(
        response
            .head
            .contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{}",
        response.head
    );
    let samples = parse_exposition(&response.body);
    assert_eq!(
        value(
            &samples,
            "steward_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert!(
        value(
            &samples,
            "steward_worker_rss_bytes",
            &[("account", "alice")]
        )
        .unwrap()
            > 0.0
    );
    assert!(
        value(
            &samples,
            "steward_worker_cpu_seconds_total",
            &[("account", "alice")]
        )
        .is_some()
    );
    assert_eq!(value(&samples, "steward_sweep_runs_total", &[]), Some(1.0));
    // The only label values are ids, states, kinds and the version: no pid.
    let pid = instance.steward.id().to_string();
    for (_, labels) in samples.keys() {
        assert!(labels.values().all(|v| !v.contains(&pid)), "{labels:?}");
    }
    if promtool_available() {
        promtool_check(&response.body);
    }

    // `steward metrics` prints the same families, parsed the same way.
    let out = dir.run(&["metrics"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let printed = parse_exposition(&common::stdout(&out));
    let names = |s: &BTreeMap<Series, f64>| -> BTreeSet<String> {
        s.keys().map(|(name, _)| name.clone()).collect()
    };
    assert_eq!(names(&printed), names(&samples));
    assert_eq!(figures_from_metrics(&printed)["bob restarts"], 1.0);
    if promtool_available() {
        promtool_check(&common::stdout(&out));
    }

    // Other paths and methods.
    assert_eq!(get(instance.addr, "/").unwrap().status, 404);
    assert_eq!(get(instance.addr, "/metrics/x").unwrap().status, 404);
    let post = request(
        instance.addr,
        "POST /metrics HTTP/1.1\r\nHost: steward\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(post.status, 405);
    assert!(post.head.contains("Allow: GET"), "{}", post.head);
}

#[test]
fn metrics_without_an_instance_exit_1() {
    let dir = TestDir::new();
    let out = dir.run(&["metrics"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(err.contains("no instance running"), "{err}");
}

#[test]
fn slow_large_and_piled_up_clients_are_cut_off() {
    let instance = start();
    let addr = instance.addr;

    // Slowloris: half a head, then nothing. The deadline ends it (408).
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: steward\r\n")
        .unwrap();
    let raw = read_all(&mut slow);
    let answer = parse_response(&raw).expect("the slow client was not answered");
    assert_eq!(answer.status, 408, "{}", answer.head);

    // A 1 MB head is refused, not read into memory.
    let mut large = TcpStream::connect(addr).unwrap();
    let mut head = String::from("GET /metrics HTTP/1.1\r\nHost: steward\r\n");
    while head.len() < 1024 * 1024 {
        head.push_str("X-Filler: ");
        head.push_str(&"a".repeat(1000));
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    // The server may close before taking it all: only its answer matters.
    let _ = large.write_all(head.as_bytes());
    let raw = read_all(&mut large);
    match parse_response(&raw) {
        Some(answer) => assert_eq!(answer.status, 431, "{}", answer.head),
        None => assert!(raw.is_empty(), "{}", String::from_utf8_lossy(&raw)),
    }

    // Many idle connections: past the cap each is told 503 at once; the
    // ones inside it are cut off by the head deadline.
    let hogs: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let readers: Vec<_> = hogs
            .into_iter()
            .map(|mut hog| {
                s.spawn(move || parse_response(&read_all(&mut hog)).map_or(0, |r| r.status))
            })
            .collect();
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let refused = statuses.iter().filter(|&&s| s == 503).count();
    let timed_out = statuses.iter().filter(|&&s| s == 408).count();
    assert!(refused >= 100 - 32, "{statuses:?}");
    assert_eq!(refused + timed_out, 100, "{statuses:?}");

    // A well-behaved scrape afterwards gets its answer.
    let scraped = wait_for(Duration::from_secs(20), || {
        get(addr, "/metrics").ok().filter(|r| r.status == 200)
    });
    let scraped = scraped.expect("no /metrics 200 after the abuse");
    assert!(
        scraped
            .body
            .contains("steward_worker_up{account=\"alice\"} 1")
    );
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn healthz_is_503_while_the_instance_is_frozen() {
    let instance = start();
    let pid = instance.steward.id();
    signal(pid, "-STOP");
    let frozen = wait_for(Duration::from_secs(10), || {
        (process_state(pid) == Some('T')).then_some(())
    });
    assert!(frozen.is_some(), "steward did not stop");
    // The loop must stay still longer than /healthz allows (3 pulses of
    // 2 s): time passing is what is tested here, so this waits for it.
    std::thread::sleep(Duration::from_secs(7));
    // The request is queued by the kernel while steward is frozen, and
    // answered once it runs again: from a loop that last turned 7 s ago.
    let mut stream = TcpStream::connect(instance.addr).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: steward\r\n\r\n")
        .unwrap();
    signal(pid, "-CONT");
    let answer = parse_response(&read_all(&mut stream)).expect("no answer");
    assert_eq!(answer.status, 503, "{}\n{}", answer.head, answer.body);
    assert!(answer.body.contains("not turned"), "{}", answer.body);
    let healthy = wait_for(Duration::from_secs(20), || {
        get(instance.addr, "/healthz")
            .ok()
            .filter(|r| r.status == 200)
    });
    assert!(healthy.is_some(), "/healthz did not come back to 200");
}
