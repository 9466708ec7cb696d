//! The loop itself, on a real store in a temp dir: what it does with
//! commands during a shutdown, when every client is gone, and when another
//! process commits to the store. aria2 is disabled and no worker runs.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::manager::{Manager, ManagerOptions, RunningManager};
use crate::model::{Command, NoticeLevel, Snapshot};
use crate::paths::DataDir;
use crate::store::{AccountRow, Store};

const LIMIT: Duration = Duration::from_secs(30);

async fn manager(dir: &tempfile::TempDir) -> RunningManager {
    let mut config = Config::default();
    config.aria2.enabled = false;
    config.worker.command = Some(vec!["sleep".into(), "300".into()]);
    Manager::start(ManagerOptions {
        notifier: Default::default(),
        config,
        data_dir: DataDir::new(dir.path()),
        self_exe: "/nonexistent/steward".into(),
    })
    .await
    .unwrap()
}

async fn until(m: &RunningManager, check: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
    let mut rx = m.handle.snapshots.clone();
    let end = tokio::time::Instant::now() + LIMIT;
    loop {
        let snap = rx.borrow_and_update().clone();
        if check(&snap) {
            return snap;
        }
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            tokio::time::timeout(left, rx.changed())
                .await
                .is_ok_and(|r| r.is_ok()),
            "no snapshot passed the check: {snap:#?}"
        );
    }
}

fn has_notice(snap: &Snapshot, level: NoticeLevel, text: &str) -> bool {
    snap.notices
        .iter()
        .any(|n| n.level == level && n.text.contains(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_work_is_refused_during_a_shutdown_and_the_plan_ends_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(&dir).await;
    let send = |cmd| m.handle.commands.send(cmd);
    send(Command::Shutdown { force: false }).await.unwrap();
    send(Command::Shutdown { force: false }).await.unwrap();
    send(Command::StartWorker { id: "alice".into() })
        .await
        .unwrap();
    let snap = until(&m, |s| {
        has_notice(s, NoticeLevel::Error, "shutting down: command refused")
    })
    .await;
    assert!(snap.shutdown.is_some(), "the plan's progress is published");
    let report = tokio::time::timeout(LIMIT, m.done).await.unwrap().unwrap();
    assert!(!report.forced, "a second graceful request does not force");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_client_gone_begins_a_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let RunningManager { handle, done } = manager(&dir).await;
    drop(handle);
    let report = tokio::time::timeout(LIMIT, done).await.unwrap().unwrap();
    assert!(!report.phases.is_empty(), "the plan ran: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_by_another_process_reaches_the_fleet_and_our_own_write_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(&dir).await;
    // Another connection stands for `steward account add` in another shell.
    let theirs = Store::open(&DataDir::new(dir.path()).db_file()).unwrap();
    theirs
        .add_account(&AccountRow {
            id: "bob".into(),
            name: "bob".into(),
            enabled: false,
            secret: None,
            created_ms: 0,
        })
        .unwrap();
    until(&m, |s| {
        s.accounts.iter().any(|a| a.id == "bob")
            && has_notice(
                s,
                NoticeLevel::Info,
                "account bob added (from another process)",
            )
    })
    .await;
    let add = Command::AddAccount {
        id: "carol".into(),
        name: None,
        secret: None,
        enabled: false,
    };
    m.handle.commands.send(add.clone()).await.unwrap();
    m.handle.commands.send(add).await.unwrap();
    let snap = until(&m, |s| {
        s.accounts.iter().any(|a| a.id == "carol") && has_notice(s, NoticeLevel::Error, "carol")
    })
    .await;
    let said = |text: &str| {
        snap.notices
            .iter()
            .filter(|n| n.text.contains(text))
            .count()
    };
    assert_eq!(said("account carol added"), 1, "{:#?}", snap.notices);
    assert_eq!(said("from another process"), 1, "our own write is not news");
    m.handle
        .commands
        .send(Command::Shutdown { force: true })
        .await
        .unwrap();
    tokio::time::timeout(LIMIT, m.done).await.unwrap().unwrap();
}
