//! The dashboard end to end: the real binary in tmux with three demo-worker
//! accounts (and one orphaned session file for the sweep), driven by keys,
//! read back with capture-pane (polling with a deadline, no fixed sleeps).
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::*;

#[test]
fn dashboard_end_to_end_in_tmux() {
    let dir = TestDir::new();
    // Demo workers that take a moment to clean up, so the progress view is seen.
    dir.write_config("[worker]\nenv = { STEWARD_DEMO_STOP_DELAY_MS = \"1500\" }\n");
    for id in ["alice", "bob", "carol"] {
        assert!(dir.run(&["account", "add", id]).status.success());
    }
    // A session file whose account does not exist: the sweep step moves it to trash.
    let ghost = dir.session_file("ghost");
    std::fs::create_dir_all(ghost.parent().unwrap()).unwrap();
    std::fs::write(&ghost, b"left behind").unwrap();
    let exit_file = dir.path().join("exit-code");
    let stty_file = dir.path().join("stty-after");
    let command = format!(
        "{bin} --data-dir {data}; echo $? > {exit}; stty -a > {stty}; sleep 120",
        bin = steward_bin(),
        data = dir.path().display(),
        exit = exit_file.display(),
        stty = stty_file.display(),
    );
    let name = format!("steward-e2e-{}", std::process::id());
    let tmux = Tmux::start(&name, 100, 30, &command);

    // The three workers appear with their real pids.
    let pids = wait_for(Duration::from_secs(30), || {
        let status = dir.status_json()?;
        let pids: Vec<i32> = ["alice", "bob", "carol"]
            .iter()
            .filter_map(|id| worker_pid(&status, id))
            .collect();
        (pids.len() == 3).then_some(pids)
    })
    .expect("three workers running");
    tmux.wait_screen("the three pids", |s| {
        pids.iter().all(|p| s.contains(&p.to_string()))
    });

    // Help overlay, generated from the keymap.
    tmux.keys(&["?"]);
    tmux.wait_screen("the help overlay", |s| {
        s.contains("Keys:") && s.contains("show this help")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the help closed", |s| !s.contains("Keys:"));

    // Tasks pane: cancel the first task (alice's worker supervision).
    tmux.keys(&["2"]);
    tmux.wait_screen("the tasks pane", |s| s.contains("worker alice"));
    tmux.keys(&["c"]);
    tmux.wait_screen("a cancelled task", |s| s.contains("cancelled"));

    // Accounts pane: remove bob, confirm.
    tmux.keys(&["1"]);
    tmux.wait_screen("the accounts pane", |s| s.contains("Accounts"));
    tmux.keys(&["j"]);
    tmux.keys(&["d"]);
    tmux.wait_screen("the confirm dialog", |s| s.contains("Remove account bob"));
    tmux.keys(&["y"]);
    wait_for(Duration::from_secs(20), || {
        let status = dir.status_json()?;
        let gone = status["accounts"]
            .as_array()?
            .iter()
            .all(|a| a["id"] != "bob");
        let trashed = std::fs::read_dir(dir.path().join("trash"))
            .ok()?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("bob.session"));
        (gone && trashed).then_some(())
    })
    .expect("bob removed and his session file in trash");
    tmux.wait_screen("bob gone from the list", |s| !s.contains(" bob "));
    assert!(!dir.session_file("bob").exists());

    // Sweep: the preview lists the orphaned session, y applies, Esc closes.
    tmux.keys(&["o"]);
    tmux.wait_screen("the sweep preview", |s| {
        s.contains("Sweep preview") && s.contains("sessions/ghost.session")
    });
    tmux.keys(&["y"]);
    tmux.wait_screen("the sweep results", |s| {
        s.contains("Sweep results") && s.contains("✓ done") && s.contains("moved to")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the sweep dialog closed", |s| !s.contains("Sweep results"));
    assert!(!ghost.exists(), "the orphaned session file is still there");
    let trashed = std::fs::read_dir(dir.path().join("trash"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("ghost.session"));
    assert!(trashed, "the orphaned session file is not in trash");

    // Quit: the progress view, then exit 0 with the terminal restored.
    tmux.keys(&["q"]);
    tmux.wait_screen("the shutdown progress view", |s| {
        s.contains("Shutting down") && s.contains("stop workers")
    });
    let code = wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&exit_file)
            .ok()
            .filter(|t| !t.is_empty())
    })
    .expect("steward exited");
    assert_eq!(code.trim(), "0");
    let stty = wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&stty_file)
            .ok()
            .filter(|t| !t.is_empty())
    })
    .expect("stty ran");
    assert!(
        stty.split_whitespace().any(|w| w == "icanon"),
        "terminal left in raw mode: {stty}"
    );
    assert!(
        stty.split_whitespace().any(|w| w == "echo"),
        "echo left off: {stty}"
    );
    for id in ["alice", "bob", "carol"] {
        assert!(
            worker_pids(dir.path(), id).is_empty(),
            "a worker of {id} is left"
        );
    }
    for pid in pids {
        assert!(!alive(pid), "worker pid {pid} is left");
    }
    drop(tmux);
}
