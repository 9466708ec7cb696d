//! The low-space guard through the real binary: the downloads dir on a small
//! tmpfs of its own, a real aria2c and a throttled local HTTP server. Filling
//! the tmpfs below `[host] min_free_space` pauses the active download (and
//! `status --json` warns); deleting the filler resumes it, and a download the
//! operator paused stays paused. A run that ends while holding leaves the
//! next run to resume. Needs root (mount) and aria2c; without them it prints
//! why it skipped. Every wait polls with a deadline.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{FileServer, pattern};
use common::*;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(60);
const MIB: u64 = 1 << 20;

/// A tmpfs mounted for the test, unmounted on drop (lazily if still busy).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None`, with the reason printed, when mounting is not permitted here.
    fn mount(dir: &Path, size_mib: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m,mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(out) => {
                skip(&format!(
                    "cannot mount a tmpfs ({})",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                None
            }
            Err(e) => {
                skip(&format!("cannot run mount ({e})"));
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

fn skip(why: &str) {
    // Straight to stderr, past libtest's capture, so the skip is seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

/// Polls `status --json` until `check` answers.
fn status_until<T>(dir: &TestDir, what: &str, mut check: impl FnMut(&Value) -> Option<T>) -> T {
    let end = Instant::now() + LONG;
    let mut last = None;
    loop {
        if let Some(status) = dir.status_json() {
            if let Some(v) = check(&status) {
                return v;
            }
            last = Some(status);
        }
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}; last status: {:#}",
            last.unwrap_or(Value::Null)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn download_status(status: &Value, gid: &str) -> Option<String> {
    status["aria2"]["downloads"]
        .as_array()?
        .iter()
        .find(|d| d["gid"] == gid)?["status"]
        .as_str()
        .map(str::to_owned)
}

fn add_download(dir: &TestDir, url: &str) -> String {
    let out = dir.run(&["download", "add", url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    text.strip_prefix("download ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no gid in {text:?}"))
        .to_string()
}

#[test]
fn low_space_on_the_downloads_fs_pauses_the_active_download_and_space_back_resumes_it() {
    if !aria2c_available() {
        return;
    }
    let dir = TestDir::new();
    let downloads = dir.path().join("downloads-fs");
    let Some(_tmpfs) = Tmpfs::mount(&downloads, 96) else {
        return;
    };
    dir.write_config(&format!(
        "[aria2]\ndownload_dir = \"{}\"\n[host]\nmin_free_space = \"40MiB\"\n",
        downloads.display()
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // 128 KiB/s: two minutes for 16 MiB, far more than the test needs.
    let server = rt.block_on(FileServer::start(
        vec![
            ("/held.bin", pattern(16 * MIB as usize, 1)),
            ("/mine.bin", pattern(16 * MIB as usize, 2)),
        ],
        Some(128 * 1024),
    ));
    let start = || {
        Headless::spawn(
            dir.cmd(&["run", "--headless"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
    };
    let mut steward = start();
    let first = status_until(&dir, "aria2 running and the host sampled", |s| {
        (s["aria2"]["state"]["state"] == "running" && s["host"].is_object()).then(|| s.clone())
    });
    let host = &first["host"];
    assert_eq!(host["min_free_bytes"], 40 * MIB);
    assert_eq!(host["low_space"], false);
    let fs: Vec<&Value> = host["filesystems"].as_array().unwrap().iter().collect();
    let on_tmpfs = fs
        .iter()
        .find(|f| f["holds"] == serde_json::json!(["downloads"]))
        .unwrap_or_else(|| panic!("no entry for the downloads fs: {host:#}"));
    assert_eq!(on_tmpfs["total_bytes"], 96 * MIB);
    assert!(
        fs.iter().any(|f| f["holds"][0] == "data"),
        "the data dir's fs: {host:#}"
    );

    let held = add_download(&dir, &server.url("/held.bin"));
    let mine = add_download(&dir, &server.url("/mine.bin"));
    // The operator pauses one of them, over aria2's own RPC.
    let port = first["aria2"]["port"].as_u64().unwrap() as u16;
    let secret =
        steward::aria2::RpcSecret::read_file(&dir.path().join("aria2").join("rpc-secret")).unwrap();
    let rpc = steward::aria2::Aria2Rpc::new(port, secret);
    status_until(&dir, "both downloads active", |s| {
        (download_status(s, &held)? == "active" && download_status(s, &mine)? == "active")
            .then_some(())
    });
    rt.block_on(rpc.pause(&mine)).unwrap();
    status_until(&dir, "the operator's pause", |s| {
        (download_status(s, &mine)? == "paused").then_some(())
    });

    // Fill the tmpfs to 32 MiB available: below the 40 MiB threshold.
    let available = fs4::available_space(&downloads).unwrap();
    let filler = downloads.join("filler");
    std::fs::write(&filler, vec![0u8; (available - 32 * MIB) as usize]).unwrap();
    let low = status_until(&dir, "the download held for low space", |s| {
        (s["host"]["low_space"] == true && download_status(s, &held)? == "paused")
            .then(|| s.clone())
    });
    let notices = low["notices"].to_string();
    assert!(
        notices.contains("low disk space") && notices.contains("min_free_space 40MiB"),
        "{notices}"
    );
    let fs = low["host"]["filesystems"].as_array().unwrap();
    assert!(fs.iter().any(|f| f["low"] == true), "{:#}", low["host"]);
    let text = stdout(&dir.run(&["status"]));
    assert!(text.contains("warning: low disk space"), "{text}");

    // Space back (above the threshold plus its margin): steward's hold ends;
    // the operator's own pause stays.
    std::fs::remove_file(&filler).unwrap();
    let back = status_until(&dir, "the held download resumed", |s| {
        let status = download_status(s, &held)?;
        (s["host"]["low_space"] == false && (status == "active" || status == "complete"))
            .then(|| s.clone())
    });
    assert_eq!(download_status(&back, &mine).as_deref(), Some("paused"));
    assert!(back["notices"].to_string().contains("resumed"), "{back:#}");

    // Low again, and steward stopped while it holds the download: the next
    // run, with space back, resumes it (and only it).
    let available = fs4::available_space(&downloads).unwrap();
    std::fs::write(&filler, vec![0u8; (available - 32 * MIB) as usize]).unwrap();
    status_until(&dir, "the download held again", |s| {
        (s["host"]["low_space"] == true && download_status(s, &held)? == "paused").then_some(())
    });
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        wait_for(LONG, || steward.try_wait().unwrap()).is_some(),
        "steward did not exit"
    );
    std::fs::remove_file(&filler).unwrap();
    let again = start();
    let pid = again.id();
    let after = status_until(&dir, "the held download resumed by the next run", |s| {
        let status = download_status(s, &held)?;
        let told = s["notices"].to_string().contains("download(s) resumed");
        (s["instance"]["pid"] == pid && told && (status == "active" || status == "complete"))
            .then(|| s.clone())
    });
    assert_eq!(download_status(&after, &mine).as_deref(), Some("paused"));
    let out = dir.run(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(server);
}
