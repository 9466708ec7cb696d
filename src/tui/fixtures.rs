//! Fixed snapshots and a fixed clock for the TUI's tests, so renders are
//! byte-for-byte repeatable.

use std::path::PathBuf;

use crate::model::*;

/// 2026-11-22 10:00:00 UTC, the "now" of every render test.
pub const NOW_MS: i64 = 1_795_341_600_000;
const MINUTE: i64 = 60_000;

fn instance() -> Instance {
    Instance {
        data_dir: PathBuf::from("/srv/steward"),
        pid: 4100,
        started_ms: NOW_MS - 42 * MINUTE - 5_000,
        version: "0.1.0".into(),
        live: true,
        as_root: false,
        isolation: String::new(),
    }
}

fn account(id: &str, name: &str, state: WorkerState, pid: Option<i32>) -> AccountView {
    let active = state.is_active();
    AccountView {
        id: id.into(),
        name: name.into(),
        enabled: true,
        secret_len: Some(12),
        worker: WorkerView {
            state,
            pid,
            pgid: pid,
            started_ms: active.then_some(NOW_MS - 17 * MINUTE - 30_000),
            restarts: 0,
            last_exit: None,
            cpu_percent: active.then_some(1.5),
            cpu_seconds: active.then_some(12.5),
            rss_bytes: active.then_some(23 * 1024 * 1024),
            session_file: PathBuf::from(format!("/srv/steward/sessions/{id}.session")),
            lock_holders: pid.into_iter().chain(active.then_some(4100)).collect(),
            command: vec!["steward".into(), "demo-worker".into()],
            env_names: vec![
                "STEWARD_ACCOUNT".into(),
                "STEWARD_SESSION_FILE".into(),
                "STEWARD_SECRET".into(),
                "TMPDIR".into(),
            ],
            restart_history: Vec::new(),
            recent_logs: vec![
                format!("{id}: connected"),
                format!("{id}: 3 messages answered"),
            ],
            stop_forced: false,
            escaped: Vec::new(),
        },
    }
}

fn task(id: u64, kind: TaskKind, name: &str, owner: Option<&str>, state: TaskState) -> TaskView {
    TaskView {
        id,
        kind,
        name: name.into(),
        owner: owner.map(str::to_string),
        state,
        started_ms: NOW_MS - 17 * MINUTE - 30_000,
        restarts: 0,
    }
}

/// Three running workers, no countdowns, no notices: a screen that should sit still.
pub fn idle_snapshot() -> Snapshot {
    Snapshot {
        seq: 10,
        instance: instance(),
        accounts: vec![
            account("alice", "Alice's shop", WorkerState::Running, Some(4201)),
            account("bob", "Bob", WorkerState::Running, Some(4202)),
            account("carol", "Carol (support)", WorkerState::Running, Some(4203)),
        ],
        tasks: vec![
            task(
                1,
                TaskKind::Worker,
                "worker alice",
                Some("alice"),
                TaskState::Running,
            ),
            task(
                2,
                TaskKind::Worker,
                "worker bob",
                Some("bob"),
                TaskState::Running,
            ),
            task(
                3,
                TaskKind::Worker,
                "worker carol",
                Some("carol"),
                TaskState::Running,
            ),
        ],
        ..Default::default()
    }
}

/// The idle snapshot with `total` accounts (the first three are the idle
/// ones), every extra worker running and started at the same instant, so the
/// screen still sits still: a list much longer than one page.
pub fn idle_snapshot_with_accounts(total: usize) -> Snapshot {
    let mut snapshot = idle_snapshot();
    let template = snapshot.accounts[0].clone();
    for n in snapshot.accounts.len()..total {
        let mut extra = template.clone();
        let pid = 5000 + i32::try_from(n).unwrap_or(i32::MAX - 5000);
        extra.id = format!("acct-{n:04}");
        extra.name = format!("Account {n}");
        extra.worker.pid = Some(pid);
        extra.worker.pgid = Some(pid);
        extra.worker.lock_holders = vec![pid, 4100];
        extra.worker.session_file =
            PathBuf::from(format!("/srv/steward/sessions/{}.session", extra.id));
        snapshot.accounts.push(extra);
    }
    snapshot
}

/// Every state at once: backoff and stopping countdowns, an exit, a failure,
/// cancelling and finished tasks, aria2 and temp present, a fresh error notice.
pub fn busy_snapshot() -> Snapshot {
    let mut dave = account(
        "dave",
        "Dave",
        WorkerState::Exited {
            code: Some(1),
            signal: None,
        },
        None,
    );
    dave.worker.restarts = 3;
    dave.worker.last_exit = Some(ExitView {
        code: Some(1),
        signal: None,
        at_ms: NOW_MS - 2 * MINUTE,
    });
    dave.worker.restart_history = vec![
        RestartRecord {
            at_ms: NOW_MS - 9 * MINUTE,
            reason: "exited (code 1)".into(),
        },
        RestartRecord {
            at_ms: NOW_MS - 5 * MINUTE,
            reason: "exited (code 1)".into(),
        },
    ];
    let mut eve = account(
        "eve",
        "Eve",
        WorkerState::Failed {
            reason: "no such file".into(),
        },
        None,
    );
    eve.enabled = false;
    eve.secret_len = None;
    let mut carol = account(
        "carol",
        "Carol (support)",
        WorkerState::Stopping {
            deadline_ms: NOW_MS + 7_400,
        },
        Some(4203),
    );
    carol.worker.restarts = 1;
    Snapshot {
        seq: 11,
        instance: instance(),
        accounts: vec![
            account("alice", "Alice's shop", WorkerState::Running, Some(4201)),
            account(
                "bob",
                "Bob",
                WorkerState::Backoff {
                    until_ms: NOW_MS + 3_200,
                },
                None,
            ),
            carol,
            dave,
            eve,
        ],
        tasks: vec![
            task(
                1,
                TaskKind::Worker,
                "worker alice",
                Some("alice"),
                TaskState::Running,
            ),
            task(
                2,
                TaskKind::Worker,
                "worker bob",
                Some("bob"),
                TaskState::Running,
            ),
            task(
                3,
                TaskKind::Worker,
                "worker carol",
                Some("carol"),
                TaskState::Cancelling {
                    deadline_ms: NOW_MS + 4_500,
                    force: false,
                },
            ),
            task(
                4,
                TaskKind::Download,
                "ubuntu.iso",
                Some("alice"),
                TaskState::Finished,
            ),
            task(
                5,
                TaskKind::Monitor,
                "process sampler",
                None,
                TaskState::Running,
            ),
        ],
        aria2: Some(aria2_running()),
        temp: Some(temp_view()),
        host: Some(host_view(false)),
        last_shutdown: Some(LastShutdown::Crashed),
        notices: vec![
            Notice {
                seq: 1,
                at_ms: NOW_MS - 60_000,
                level: NoticeLevel::Info,
                text: "account dave added".into(),
            },
            Notice {
                seq: 2,
                at_ms: NOW_MS - 1_000,
                level: NoticeLevel::Error,
                text: "cannot start eve: no such file".into(),
            },
        ],
        ..Default::default()
    }
}

fn download(gid: &str, status: DownloadStatus, name: &str, account: Option<&str>) -> DownloadView {
    DownloadView {
        gid: gid.into(),
        status,
        name: name.into(),
        path: Some(PathBuf::from(format!("/srv/steward/downloads/{name}"))),
        total: 0,
        completed: 0,
        speed: 0,
        eta_secs: None,
        account: account.map(str::to_string),
        error: None,
    }
}

/// aria2c running for 25 minutes after one crash, with an active download
/// (speed, ETA), a waiting one, a failed one, and a foreign aria2c beside it.
pub fn aria2_running() -> Aria2View {
    let mut active = download(
        "2089b05ecca3d829",
        DownloadStatus::Active,
        "ubuntu-24.04-desktop-amd64.iso",
        Some("alice"),
    );
    active.total = 6_000_000_000;
    active.completed = 2_700_000_000;
    active.speed = 12 * 1024 * 1024 + 300 * 1024;
    active.eta_secs = Some(281);
    let mut waiting = download(
        "d7a0f1c2b3e4a5f6",
        DownloadStatus::Waiting,
        "debian-13.iso",
        Some("bob"),
    );
    waiting.total = 700 * 1024 * 1024;
    let mut failed = download(
        "5c1e9f00aa11bb22",
        DownloadStatus::Error,
        "report.pdf",
        None,
    );
    failed.total = 0;
    failed.completed = 0;
    failed.path = None;
    failed.error = Some("3: resource not found (HTTP 404)".into());
    Aria2View {
        state: Aria2State::Running,
        pid: Some(4150),
        port: Some(6800),
        version: Some("1.37.0".into()),
        started_ms: Some(NOW_MS - 25 * MINUTE - 10_000),
        restarts: 1,
        last_exit: Some(Aria2Exit {
            pid: 4120,
            code: None,
            signal: Some(9),
            at_ms: NOW_MS - 25 * MINUTE - 12_000,
            stderr_tail: vec![
                "11/22 09:34:40 [NOTICE] Serialized session to '/srv/steward/aria2/session' successfully.".into(),
                "11/22 09:34:45 [NOTICE] Download complete: /srv/steward/downloads/notes.txt".into(),
            ],
        }),
        last_error: None,
        download_dir: Some(PathBuf::from("/srv/steward/downloads")),
        global: Some(Aria2Global {
            download_speed: active.speed,
            upload_speed: 0,
            num_active: 1,
            num_waiting: 1,
            num_stopped: 1,
        }),
        downloads: vec![active, waiting, failed],
        foreign: vec![ForeignAria2 {
            pid: 3877,
            start_time: 123_456,
            port: Some(6801),
            cmdline: vec![
                "aria2c".into(),
                "--enable-rpc".into(),
                "--rpc-listen-port=6801".into(),
                "--rpc-secret=••••".into(),
                "--dir=/home/ops/Downloads".into(),
            ],
        }],
        polled_ms: Some(NOW_MS - 700),
    }
}

fn owner(
    pid: i32,
    account: Option<&str>,
    alive: bool,
    counts: [u64; 3],
    kib: u64,
) -> TempOwnerView {
    TempOwnerView {
        pid,
        start_time: 100_000 + pid as u64,
        account: account.map(str::to_string),
        alive,
        entries: counts[0],
        files: counts[1],
        dirs: counts[2],
        bytes: kib * 1024,
    }
}

/// A host with its data dir on one filesystem and the downloads on
/// another; `low`: the downloads' is below the threshold.
pub fn host_view(low: bool) -> HostView {
    const GIB: u64 = 1 << 30;
    HostView {
        load_1m: 0.4,
        memory_used_bytes: 3 * GIB + GIB / 5,
        memory_total_bytes: 16 * GIB,
        filesystems: vec![
            FsView {
                holds: vec!["data".into(), "temp".into()],
                path: "/srv/steward".into(),
                available_bytes: 120 * GIB,
                total_bytes: 200 * GIB,
                low: false,
            },
            FsView {
                holds: vec!["downloads".into()],
                path: "/mnt/downloads".into(),
                available_bytes: if low { GIB / 2 } else { 2 * GIB },
                total_bytes: 4 * GIB,
                low,
            },
        ],
        min_free_bytes: GIB,
        low_space: low,
        resume_above_bytes: GIB + GIB / 10,
    }
}

/// A temp tree three minutes after its last walk: two live workers, steward
/// itself, and a dead earlier worker of alice whose two entries are orphans.
pub fn temp_view() -> TempView {
    TempView {
        root: PathBuf::from("/srv/steward/tmp"),
        entries: 8,
        files: 12,
        dirs: 3,
        bytes: 5 * 1024 * 1024 + 300 * 1024,
        orphaned: 2,
        untracked: 1,
        oldest_ms: Some(NOW_MS - 26 * 60 * MINUTE - 5 * MINUTE),
        owners: vec![
            owner(3990, Some("alice"), false, [2, 7, 1], 3072),
            owner(4201, Some("alice"), true, [3, 3, 1], 1536),
            owner(4203, Some("carol"), true, [2, 1, 1], 700),
            owner(4100, None, true, [1, 1, 0], 112),
        ],
        refreshed_ms: NOW_MS - 3 * MINUTE,
        walk_ms: 140,
        walking: false,
    }
}

fn path_item(
    id: usize,
    kind: SweepKind,
    path: &str,
    reason: &str,
    size: u64,
    action: SweepAction,
) -> SweepItem {
    SweepItem {
        id,
        kind,
        target: SweepTarget::Path {
            path: PathBuf::from(path),
        },
        reason: reason.into(),
        size: Some(size),
        action,
        holder_pid: None,
        account: None,
    }
}

/// A plan with every kind the dashboard meets: a dead owner's temp dir, an
/// old untracked path, a session with no account (to trash) and one held by a
/// live process (left alone), a leftover worker group, expired trash; one note.
pub fn sweep_plan() -> SweepPlan {
    let mut dead_owner = path_item(
        0,
        SweepKind::TempDeadOwner,
        "/srv/steward/tmp/worker-alice-3990",
        "owner dead (pid 3990 (alice))",
        3 * 1024 * 1024,
        SweepAction::Delete,
    );
    dead_owner.account = Some("alice".into());
    let mut held = path_item(
        3,
        SweepKind::SessionNoAccount,
        "/srv/steward/sessions/yan.session",
        "no account \"yan\", but in use by pid 5150",
        980,
        SweepAction::Leave,
    );
    held.holder_pid = Some(5150);
    held.account = Some("yan".into());
    let mut session = path_item(
        2,
        SweepKind::SessionNoAccount,
        "/srv/steward/sessions/zed.session",
        "no account \"zed\"",
        1_230,
        SweepAction::Trash,
    );
    session.account = Some("zed".into());
    let items = vec![
        dead_owner,
        path_item(
            1,
            SweepKind::TempUntracked,
            "/srv/steward/tmp/dl-cache-old",
            "untracked, last modified 1d02h ago (max_age 1d00h)",
            800 * 1024,
            SweepAction::Delete,
        ),
        session,
        held,
        SweepItem {
            id: 4,
            kind: SweepKind::LeftoverWorker,
            target: SweepTarget::Process {
                pid: 3991,
                start_time: 103_991,
                pgid: 3991,
            },
            reason: "worker of alice started by steward pid 3980, which is gone".into(),
            size: None,
            action: SweepAction::Stop,
            holder_pid: None,
            account: Some("alice".into()),
        },
        path_item(
            5,
            SweepKind::TrashExpired,
            "/srv/steward/trash/old.session.20261110T090000Z",
            "in trash for 12d01h (keep 7d00h)",
            1_100,
            SweepAction::Delete,
        ),
    ];
    SweepPlan {
        id: 7_301,
        created_ms: NOW_MS - 2_000,
        total_bytes: 3 * 1024 * 1024 + 800 * 1024 + 1_100,
        items,
        notes: vec!["cannot read /srv/steward/tmp/locked-by-root: permission denied".into()],
    }
}

/// What applying `sweep_plan` gave: done, skipped (the held session) and failed items.
pub fn sweep_results() -> Vec<SweepItemResult> {
    let plan = sweep_plan();
    let outcome = |id: usize, outcome: SweepOutcome, freed: u64| SweepItemResult {
        item: id,
        kind: plan.items[id].kind,
        target: plan.items[id].target.clone(),
        outcome,
        freed,
    };
    let done = |detail: &str| SweepOutcome::Done {
        detail: detail.into(),
    };
    vec![
        outcome(
            0,
            done("removed 7 files, 1 dirs, 3145728 bytes"),
            3 * 1024 * 1024,
        ),
        outcome(1, done("removed 1 files, 0 dirs, 819200 bytes"), 800 * 1024),
        outcome(
            2,
            done("moved to /srv/steward/trash/zed.session.20261122T100000Z"),
            0,
        ),
        outcome(
            3,
            SweepOutcome::Skipped {
                reason: "no account \"yan\", but in use by pid 5150".into(),
            },
            0,
        ),
        outcome(4, done("stopped with SIGTERM"), 0),
        outcome(
            5,
            SweepOutcome::Failed {
                error: "Permission denied (os error 13)".into(),
            },
            0,
        ),
    ]
}

/// The busy instance with `sweep_plan` previewed (not applied yet).
pub fn sweep_preview_snapshot() -> Snapshot {
    let mut snapshot = busy_snapshot();
    snapshot.seq = 13;
    snapshot.sweep = Some(SweepView {
        plan: sweep_plan(),
        ..Default::default()
    });
    snapshot
}

/// The busy instance after `sweep_plan` was applied.
pub fn sweep_results_snapshot() -> Snapshot {
    let mut snapshot = busy_snapshot();
    snapshot.seq = 14;
    snapshot.sweep = Some(SweepView {
        plan: sweep_plan(),
        applying: false,
        results: sweep_results(),
        finished_ms: Some(NOW_MS - 500),
        error: None,
    });
    snapshot
}

/// The idle instance on a host without aria2c: the degraded state.
pub fn aria2_not_installed_snapshot() -> Snapshot {
    let mut snapshot = idle_snapshot();
    snapshot.aria2 = Some(Aria2View {
        state: Aria2State::NotInstalled {
            binary: "aria2c".into(),
            hint: "aria2c not found on PATH: apt install aria2".into(),
        },
        last_error: Some(
            "aria2c not installed (aria2c not found on PATH: apt install aria2); downloads are unavailable"
                .into(),
        ),
        download_dir: Some(PathBuf::from("/srv/steward/downloads")),
        ..Default::default()
    });
    snapshot
}

/// The idle instance halfway through a graceful shutdown.
pub fn shutting_down_snapshot() -> Snapshot {
    let phase =
        |name: &str, state: PhaseState, started: Option<i64>, ended: Option<i64>| PhaseView {
            name: name.into(),
            state,
            started_ms: started,
            ended_ms: ended,
            deadline_ms: None,
            detail: None,
            pending: Vec::new(),
        };
    let start = NOW_MS - 3_000;
    let mut stop_workers = phase("stop workers", PhaseState::Running, Some(start + 300), None);
    stop_workers.deadline_ms = Some(NOW_MS + 7_600);
    stop_workers.pending = vec![
        PendingItem {
            label: "alice".into(),
            pids: vec![4201],
            deadline_ms: Some(NOW_MS + 7_600),
        },
        PendingItem {
            label: "carol".into(),
            pids: vec![4203],
            deadline_ms: Some(NOW_MS + 7_600),
        },
    ];
    let mut snapshot = idle_snapshot();
    snapshot.seq = 12;
    snapshot.shutdown = Some(ShutdownView {
        started_ms: start,
        forced: false,
        forced_ms: None,
        killed_workers: Vec::new(),
        phases: vec![
            phase(
                "stop intake",
                PhaseState::Done,
                Some(start),
                Some(start + 100),
            ),
            phase(
                "cancel tasks",
                PhaseState::Done,
                Some(start + 100),
                Some(start + 250),
            ),
            PhaseView {
                detail: Some("aria2 session saved".into()),
                ..phase(
                    "save downloads",
                    PhaseState::Done,
                    Some(start + 250),
                    Some(start + 300),
                )
            },
            stop_workers,
            phase("stop aria2", PhaseState::Pending, None, None),
            phase("clean temp", PhaseState::Pending, None, None),
            phase("close store", PhaseState::Pending, None, None),
        ],
        finished_ms: None,
    });
    snapshot
}

/// `snapshot` with every timestamp moved by `shift_ms`, for tests on the real clock.
pub fn shifted(mut snapshot: Snapshot, shift_ms: i64) -> Snapshot {
    let mv = |at: &mut i64| *at += shift_ms;
    mv(&mut snapshot.instance.started_ms);
    for account in &mut snapshot.accounts {
        let worker = &mut account.worker;
        match &mut worker.state {
            WorkerState::Backoff { until_ms: at } | WorkerState::Stopping { deadline_ms: at } => {
                mv(at)
            }
            _ => {}
        }
        worker.started_ms.iter_mut().for_each(mv);
        worker
            .last_exit
            .iter_mut()
            .for_each(|exit| mv(&mut exit.at_ms));
        worker
            .restart_history
            .iter_mut()
            .for_each(|record| mv(&mut record.at_ms));
    }
    for task in &mut snapshot.tasks {
        mv(&mut task.started_ms);
        if let TaskState::Cancelling { deadline_ms, .. } = &mut task.state {
            mv(deadline_ms);
        }
    }
    if let Some(aria2) = &mut snapshot.aria2 {
        match &mut aria2.state {
            Aria2State::Restarting { until_ms: at, .. }
            | Aria2State::Stopping { deadline_ms: at } => mv(at),
            _ => {}
        }
        aria2.started_ms.iter_mut().for_each(mv);
        aria2.polled_ms.iter_mut().for_each(mv);
        aria2
            .last_exit
            .iter_mut()
            .for_each(|exit| mv(&mut exit.at_ms));
    }
    if let Some(temp) = &mut snapshot.temp {
        mv(&mut temp.refreshed_ms);
        temp.oldest_ms.iter_mut().for_each(mv);
    }
    if let Some(sweep) = &mut snapshot.sweep {
        mv(&mut sweep.plan.created_ms);
        sweep.finished_ms.iter_mut().for_each(mv);
    }
    snapshot
        .notices
        .iter_mut()
        .for_each(|notice| mv(&mut notice.at_ms));
    if let Some(shutdown) = &mut snapshot.shutdown {
        mv(&mut shutdown.started_ms);
        shutdown.finished_ms.iter_mut().for_each(mv);
        for phase in &mut shutdown.phases {
            phase.started_ms.iter_mut().for_each(mv);
            phase.ended_ms.iter_mut().for_each(mv);
            phase.deadline_ms.iter_mut().for_each(mv);
            for item in &mut phase.pending {
                item.deadline_ms.iter_mut().for_each(mv);
            }
        }
    }
    snapshot
}
