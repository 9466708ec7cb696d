//! `App::update` as plain data: actions in, UI state and `Command`s out. No
//! terminal, no async, no clock.

use crate::model::{Command, DownloadView, Snapshot, WorkerState};

use super::action::Action;
use super::app::{App, Modal, ShutdownAsked};
use super::details::DetailsTarget;
use super::fixtures;
use super::keymap::Mode;
use super::link::Attachment;
use super::pane::Pane;
use super::rows::Aria2Row;

fn app() -> App {
    App::new((80, 24), true)
}

/// Applies `actions` in order and returns every command they produced.
fn run(app: &mut App, snapshot: &Snapshot, actions: &[Action]) -> Vec<Command> {
    actions
        .iter()
        .flat_map(|action| app.update(*action, snapshot))
        .collect()
}

fn typed(text: &str) -> Vec<Action> {
    text.chars().map(Action::InputChar).collect()
}

#[test]
fn quit_asks_gracefully_then_forcefully_and_freezes_everything_else() {
    let snapshot = fixtures::idle_snapshot();
    let mut app = app();
    assert_eq!(
        run(&mut app, &snapshot, &[Action::Quit]),
        vec![Command::Shutdown { force: false }]
    );
    assert_eq!(app.shutdown, ShutdownAsked::Gracefully);
    assert_eq!(app.mode(&snapshot), Mode::Shutdown);
    // Keys other than quit do nothing while the progress view is up.
    assert!(
        run(
            &mut app,
            &snapshot,
            &[Action::NextPane, Action::ToggleWorker, Action::AddAccount]
        )
        .is_empty()
    );
    assert_eq!(app.focus, Pane::Accounts);
    assert!(app.modals.is_empty());
    assert_eq!(
        run(&mut app, &snapshot, &[Action::Quit]),
        vec![Command::Shutdown { force: true }]
    );
    assert_eq!(app.shutdown, ShutdownAsked::Forcefully);
}

#[test]
fn quit_during_a_shutdown_the_manager_began_forces() {
    let snapshot = fixtures::shutting_down_snapshot();
    let mut app = app();
    assert_eq!(app.mode(&snapshot), Mode::Shutdown);
    assert_eq!(
        run(&mut app, &snapshot, &[Action::Quit]),
        vec![Command::Shutdown { force: true }]
    );
}

#[test]
fn steward_stops_graceful_request_is_sent_once_and_never_escalates() {
    let idle = fixtures::idle_snapshot();
    let mut app = app();
    assert_eq!(
        app.stop_requested(false, &idle),
        vec![Command::Shutdown { force: false }]
    );
    assert!(app.stop_requested(false, &idle).is_empty());
    assert_eq!(app.shutdown, ShutdownAsked::Gracefully);
    let mut app = self::app();
    let shutting_down = fixtures::shutting_down_snapshot();
    assert!(app.stop_requested(false, &shutting_down).is_empty());
    assert_eq!(
        app.stop_requested(true, &shutting_down),
        vec![Command::Shutdown { force: true }]
    );
    assert_eq!(app.shutdown, ShutdownAsked::Forcefully);
}

#[test]
fn panes_switch_by_tab_shift_tab_and_digit() {
    let snapshot = fixtures::idle_snapshot();
    let mut app = app();
    run(&mut app, &snapshot, &[Action::NextPane, Action::NextPane]);
    assert_eq!(app.focus, Pane::Aria2);
    run(&mut app, &snapshot, &[Action::PrevPane]);
    assert_eq!(app.focus, Pane::Tasks);
    run(&mut app, &snapshot, &[Action::FocusPane(Pane::Logs)]);
    assert_eq!(app.focus, Pane::Logs);
}

#[test]
fn movement_clamps_at_both_ends() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    let selected = |app: &App| app.selected_account(&snapshot).map(|a| a.id.clone());
    assert_eq!(selected(&app).as_deref(), Some("alice"));
    run(&mut app, &snapshot, &[Action::MoveUp]);
    assert_eq!(selected(&app).as_deref(), Some("alice"));
    run(&mut app, &snapshot, &[Action::MoveDown, Action::MoveDown]);
    assert_eq!(selected(&app).as_deref(), Some("carol"));
    run(&mut app, &snapshot, &[Action::PageDown]);
    assert_eq!(selected(&app).as_deref(), Some("eve"));
    run(&mut app, &snapshot, &[Action::Top]);
    assert_eq!(selected(&app).as_deref(), Some("alice"));
    run(&mut app, &snapshot, &[Action::Bottom, Action::PageUp]);
    assert_eq!(selected(&app).as_deref(), Some("alice"));
}

#[test]
fn selection_follows_its_account_when_rows_move() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    run(&mut app, &snapshot, &[Action::MoveDown, Action::MoveDown]);
    let mut reordered = snapshot.clone();
    reordered.accounts.reverse();
    assert_eq!(app.selected_account(&reordered).unwrap().id, "carol");
    reordered.accounts.retain(|a| a.id != "carol");
    // Gone: the same position is selected instead.
    assert_eq!(app.selected_account(&reordered).unwrap().id, "bob");
}

#[test]
fn s_starts_or_stops_by_the_worker_state_and_r_restarts() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    assert_eq!(
        run(&mut app, &snapshot, &[Action::ToggleWorker]),
        vec![Command::StopWorker { id: "alice".into() }]
    );
    // bob is in backoff: no process, so `s` starts it.
    assert!(!snapshot.accounts[1].worker.state.is_active());
    assert_eq!(
        run(
            &mut app,
            &snapshot,
            &[Action::MoveDown, Action::ToggleWorker]
        ),
        vec![Command::StartWorker { id: "bob".into() }]
    );
    assert_eq!(
        run(&mut app, &snapshot, &[Action::RestartWorker]),
        vec![Command::RestartWorker { id: "bob".into() }]
    );
}

#[test]
fn account_keys_without_accounts_say_so() {
    let snapshot = Snapshot::default();
    let mut app = app();
    assert!(run(&mut app, &snapshot, &[Action::ToggleWorker]).is_empty());
    assert_eq!(app.hint.as_deref(), Some("no account selected"));
    assert!(run(&mut app, &snapshot, &[Action::RemoveAccount]).is_empty());
    assert!(app.modals.is_empty());
}

#[test]
fn remove_asks_first_and_the_dialog_carries_the_command() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    assert!(
        run(
            &mut app,
            &snapshot,
            &[Action::MoveDown, Action::RemoveAccount]
        )
        .is_empty()
    );
    assert_eq!(app.mode(&snapshot), Mode::Confirm);
    let Some(Modal::Confirm(dialog)) = app.modals.last() else {
        panic!("no confirm dialog: {:?}", app.modals);
    };
    assert_eq!(dialog.command, Command::RemoveAccount { id: "bob".into() });
    assert!(dialog.lines.iter().any(|l| l.contains("trash")));
    // Keys of the panes do nothing inside the dialog.
    assert!(
        run(
            &mut app,
            &snapshot,
            &[Action::ToggleWorker, Action::MoveDown]
        )
        .is_empty()
    );
    assert_eq!(
        run(&mut app, &snapshot, &[Action::Accept]),
        vec![Command::RemoveAccount { id: "bob".into() }]
    );
    assert!(app.modals.is_empty());

    assert!(run(&mut app, &snapshot, &[Action::RemoveAccount, Action::Back]).is_empty());
    assert!(app.modals.is_empty(), "Esc drops the command");
}

#[test]
fn the_add_form_validates_inline_and_sends_only_a_valid_account() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    let form_error = |app: &App| match app.modals.last() {
        Some(Modal::AddAccount(form)) => form.error.clone(),
        other => panic!("no form: {other:?}"),
    };
    run(&mut app, &snapshot, &[Action::AddAccount]);
    assert_eq!(app.mode(&snapshot), Mode::Form);
    assert_eq!(form_error(&app), None, "an untouched form shows no error");
    assert!(run(&mut app, &snapshot, &[Action::Accept]).is_empty());
    assert!(form_error(&app).unwrap().contains("empty"));

    assert!(run(&mut app, &snapshot, &typed("a/b")).is_empty());
    assert!(form_error(&app).unwrap().contains("character other than"));
    assert!(run(&mut app, &snapshot, &[Action::Accept]).is_empty());

    run(
        &mut app,
        &snapshot,
        &[Action::DeleteChar, Action::DeleteChar],
    );
    assert_eq!(form_error(&app), None);
    run(&mut app, &snapshot, &[Action::DeleteChar]);
    run(&mut app, &snapshot, &typed("alice"));
    assert_eq!(
        form_error(&app).as_deref(),
        Some("account alice already exists")
    );

    run(&mut app, &snapshot, &[Action::DeleteChar]);
    run(&mut app, &snapshot, &typed("e_2"));
    run(&mut app, &snapshot, &[Action::NextField]);
    // A name with a control character (pasted) or past 200 characters is
    // refused on submit, with the name field focused.
    run(&mut app, &snapshot, &typed("x\u{1b}[2J"));
    assert!(run(&mut app, &snapshot, &[Action::Accept]).is_empty());
    assert!(form_error(&app).unwrap().contains("control character"));
    for _ in 0..5 {
        run(&mut app, &snapshot, &[Action::DeleteChar]);
    }
    run(&mut app, &snapshot, &typed(&"n".repeat(201)));
    assert!(run(&mut app, &snapshot, &[Action::Accept]).is_empty());
    assert!(form_error(&app).unwrap().contains("at most 200"));
    for _ in 0..201 {
        run(&mut app, &snapshot, &[Action::DeleteChar]);
    }
    // `q` and `j` are text here, not quit or move.
    run(&mut app, &snapshot, &typed("Alice quick j"));
    assert_eq!(app.shutdown, ShutdownAsked::No);
    assert_eq!(
        run(&mut app, &snapshot, &[Action::Accept]),
        vec![Command::AddAccount {
            id: "alice_2".into(),
            name: Some("Alice quick j".into()),
            secret: None,
            enabled: true,
        }]
    );
    assert!(app.modals.is_empty());
}

#[test]
fn cancel_needs_a_live_task() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    run(&mut app, &snapshot, &[Action::FocusPane(Pane::Tasks)]);
    assert_eq!(
        run(&mut app, &snapshot, &[Action::CancelTask]),
        vec![Command::CancelTask {
            id: 1,
            force: false
        }]
    );
    assert_eq!(
        run(&mut app, &snapshot, &[Action::ForceCancelTask]),
        vec![Command::CancelTask { id: 1, force: true }]
    );
    // Task 4 has finished.
    assert!(
        run(
            &mut app,
            &snapshot,
            &[
                Action::Top,
                Action::MoveDown,
                Action::MoveDown,
                Action::MoveDown,
                Action::CancelTask
            ]
        )
        .is_empty()
    );
    assert_eq!(
        app.hint.as_deref(),
        Some("task 4 is finished: nothing to cancel")
    );
    // The next key clears the hint.
    run(&mut app, &snapshot, &[Action::MoveUp]);
    assert_eq!(app.hint, None);
}

#[test]
fn the_filter_narrows_rows_keeps_on_enter_and_clears_on_esc() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    run(&mut app, &snapshot, &[Action::StartFilter]);
    assert_eq!(app.mode(&snapshot), Mode::Filter);
    run(&mut app, &snapshot, &typed("EXIT"));
    assert_eq!(
        app.selected_account(&snapshot).unwrap().id,
        "dave",
        "matches the state word, any case"
    );
    run(&mut app, &snapshot, &[Action::Accept]);
    assert_eq!(app.mode(&snapshot), Mode::Pane(Pane::Accounts));
    assert_eq!(app.pane(Pane::Accounts).filter, "EXIT");
    assert_eq!(
        run(&mut app, &snapshot, &[Action::ToggleWorker]),
        vec![Command::StartWorker { id: "dave".into() }]
    );
    run(&mut app, &snapshot, &[Action::Back]);
    assert_eq!(app.pane(Pane::Accounts).filter, "");
    assert_eq!(
        app.selected_account(&snapshot).unwrap().id,
        "dave",
        "the row stays selected"
    );

    // Panes without rows have nothing to filter.
    run(
        &mut app,
        &snapshot,
        &[Action::FocusPane(Pane::Logs), Action::StartFilter],
    );
    assert_eq!(app.mode(&snapshot), Mode::Pane(Pane::Logs));
}

#[test]
fn esc_dismisses_the_notice_when_there_is_nothing_else_to_back_out_of() {
    let snapshot = fixtures::busy_snapshot();
    let now = fixtures::NOW_MS;
    let mut app = app();
    assert_eq!(app.visible_notice(&snapshot, now).unwrap().seq, 2);
    run(&mut app, &snapshot, &[Action::Back]);
    assert!(app.visible_notice(&snapshot, now).is_none());
    let mut newer = snapshot.clone();
    newer.notices.push(crate::model::Notice {
        seq: 3,
        at_ms: now,
        level: crate::model::NoticeLevel::Info,
        text: "worker bob started".into(),
    });
    assert_eq!(app.visible_notice(&newer, now).unwrap().seq, 3);
    assert!(
        app.visible_notice(&newer, now + 60_000).is_none(),
        "notices fade"
    );
}

#[test]
fn details_and_help_open_and_close() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    run(&mut app, &snapshot, &[Action::OpenDetails]);
    assert_eq!(
        app.modals,
        vec![Modal::Details(DetailsTarget::Account("alice".into()))]
    );
    run(&mut app, &snapshot, &[Action::Back]);
    run(
        &mut app,
        &snapshot,
        &[
            Action::FocusPane(Pane::Tasks),
            Action::Bottom,
            Action::OpenDetails,
        ],
    );
    assert_eq!(app.modals, vec![Modal::Details(DetailsTarget::Task(5))]);
    run(
        &mut app,
        &snapshot,
        &[
            Action::Back,
            Action::ToggleHelp,
            Action::MoveDown,
            Action::MoveDown,
            Action::MoveUp,
        ],
    );
    assert_eq!(app.modals, vec![Modal::Help { scroll: 1 }]);
    run(&mut app, &snapshot, &[Action::ToggleHelp]);
    assert!(app.modals.is_empty());
}

#[test]
fn s_on_a_stopping_worker_stops_it_again_rather_than_starting_a_second() {
    let mut snapshot = fixtures::idle_snapshot();
    snapshot.accounts[0].worker.state = WorkerState::Stopping {
        deadline_ms: fixtures::NOW_MS + 5_000,
    };
    let mut app = app();
    assert_eq!(
        run(&mut app, &snapshot, &[Action::ToggleWorker]),
        vec![Command::StopWorker { id: "alice".into() }]
    );
}

/// Presses `code` through the keymap, as the loop does, and returns the commands.
fn press(app: &mut App, snapshot: &Snapshot, code: crossterm::event::KeyCode) -> Vec<Command> {
    let event = crossterm::event::KeyEvent::new(code, crossterm::event::KeyModifiers::NONE);
    match super::keymap::action_for(app.mode(snapshot), app.attachment, &event) {
        Some(action) => app.update(action, snapshot),
        None => Vec::new(),
    }
}

fn press_chars(app: &mut App, snapshot: &Snapshot, text: &str) -> Vec<Command> {
    text.chars()
        .flat_map(|c| press(app, snapshot, crossterm::event::KeyCode::Char(c)))
        .collect()
}

#[test]
fn r_in_the_aria2_pane_asks_then_restarts_exactly_once() {
    use crossterm::event::KeyCode;
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    press(&mut app, &snapshot, KeyCode::Char('3'));
    assert_eq!(app.focus, Pane::Aria2);
    // Esc backs out: nothing is sent.
    assert!(press_chars(&mut app, &snapshot, "r").is_empty());
    assert_eq!(app.mode(&snapshot), Mode::Confirm);
    let Some(Modal::Confirm(dialog)) = app.modals.last() else {
        panic!("no confirm dialog: {:?}", app.modals);
    };
    assert_eq!(dialog.command, Command::RestartAria2);
    assert!(dialog.lines[0].contains("Its session is saved first; downloads resume."));
    assert!(press(&mut app, &snapshot, KeyCode::Esc).is_empty());
    assert!(app.modals.is_empty());
    // Enter confirms.
    press_chars(&mut app, &snapshot, "r");
    assert_eq!(
        press(&mut app, &snapshot, KeyCode::Enter),
        vec![Command::RestartAria2]
    );
    assert!(app.modals.is_empty());
    // So does y; a second y is a pane key again and sends nothing.
    assert_eq!(
        press_chars(&mut app, &snapshot, "ryy"),
        vec![Command::RestartAria2]
    );
    // `r` in the Accounts pane is not a restart of aria2.
    press(&mut app, &snapshot, KeyCode::Char('1'));
    assert!(press_chars(&mut app, &snapshot, "r").is_empty());
    assert!(app.modals.is_empty());
}

#[test]
fn r_without_an_aria2_to_restart_says_why() {
    let mut snapshot = fixtures::idle_snapshot();
    let mut app = app();
    run(&mut app, &snapshot, &[Action::FocusPane(Pane::Aria2)]);
    assert!(run(&mut app, &snapshot, &[Action::RestartAria2]).is_empty());
    assert_eq!(
        app.hint.as_deref(),
        Some("this build has no aria2 subsystem")
    );
    snapshot.aria2 = Some(crate::model::Aria2View {
        state: crate::model::Aria2State::Disabled,
        ..Default::default()
    });
    assert!(run(&mut app, &snapshot, &[Action::RestartAria2]).is_empty());
    assert!(app.hint.as_deref().unwrap().contains("enabled = true"));
    assert!(app.modals.is_empty());
    // Not installed: `r` asks, and the dialog says it will be started.
    let snapshot = fixtures::aria2_not_installed_snapshot();
    run(&mut app, &snapshot, &[Action::RestartAria2]);
    let Some(Modal::Confirm(dialog)) = app.modals.last() else {
        panic!("no confirm dialog: {:?}", app.modals);
    };
    assert!(dialog.lines.iter().any(|l| l.contains("not installed now")));
}

fn selected_download<'s>(app: &App, snapshot: &'s Snapshot) -> Option<&'s DownloadView> {
    match app.selected_aria2_row(snapshot)? {
        Aria2Row::Download(download) => Some(download),
        Aria2Row::Foreign(_) => None,
    }
}

#[test]
fn x_removes_the_selected_download_after_a_confirm() {
    use crossterm::event::KeyCode;
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    press_chars(&mut app, &snapshot, "3j");
    assert_eq!(
        selected_download(&app, &snapshot).unwrap().gid,
        "d7a0f1c2b3e4a5f6"
    );
    assert!(press_chars(&mut app, &snapshot, "x").is_empty());
    let Some(Modal::Confirm(dialog)) = app.modals.last() else {
        panic!("no confirm dialog: {:?}", app.modals);
    };
    assert!(dialog.lines[0].contains("d7a0f1c2b3e4a5f6 (debian-13.iso, waiting)"));
    // Esc (and n) back out.
    assert!(press(&mut app, &snapshot, KeyCode::Esc).is_empty());
    assert!(app.modals.is_empty());
    assert!(press_chars(&mut app, &snapshot, "xn").is_empty());
    assert!(app.modals.is_empty());
    // Delete is the same key; y confirms, sending exactly one command.
    press(&mut app, &snapshot, KeyCode::Delete);
    assert_eq!(app.mode(&snapshot), Mode::Confirm);
    assert_eq!(
        press_chars(&mut app, &snapshot, "y"),
        vec![Command::RemoveDownload {
            gid: "d7a0f1c2b3e4a5f6".into()
        }]
    );
    assert!(app.modals.is_empty());
    // The filter narrows what `x` acts on; with no match there is nothing to remove.
    press_chars(&mut app, &snapshot, "/report");
    press(&mut app, &snapshot, KeyCode::Enter);
    assert_eq!(
        selected_download(&app, &snapshot).unwrap().name,
        "report.pdf"
    );
    press_chars(&mut app, &snapshot, "/zzz");
    assert!(press(&mut app, &snapshot, KeyCode::Enter).is_empty());
    assert!(press_chars(&mut app, &snapshot, "x").is_empty());
    assert_eq!(app.hint.as_deref(), Some("no download selected"));
    assert!(app.modals.is_empty());
}

#[test]
fn a_in_the_aria2_pane_adds_a_download_only_when_valid() {
    use crossterm::event::KeyCode;
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    let form_error = |app: &App| match app.modals.last() {
        Some(Modal::AddDownload(form)) => form.error.clone(),
        other => panic!("no download form: {other:?}"),
    };
    press_chars(&mut app, &snapshot, "3a");
    assert_eq!(app.mode(&snapshot), Mode::Form);
    assert!(press(&mut app, &snapshot, KeyCode::Enter).is_empty());
    assert!(form_error(&app).unwrap().contains("empty"));
    // Esc backs out, sending nothing.
    assert!(press(&mut app, &snapshot, KeyCode::Esc).is_empty());
    assert!(app.modals.is_empty());

    press_chars(&mut app, &snapshot, "a");
    // `q`, `r`, `x` are text here.
    assert!(press_chars(&mut app, &snapshot, "example.org/rqx.iso").is_empty());
    assert!(press(&mut app, &snapshot, KeyCode::Enter).is_empty());
    assert!(form_error(&app).unwrap().contains("refused"), "no scheme");
    for _ in 0.."example.org/rqx.iso".len() {
        press(&mut app, &snapshot, KeyCode::Backspace);
    }
    press_chars(&mut app, &snapshot, "https://example.org/rqx.iso");
    assert_eq!(form_error(&app), None);
    press(&mut app, &snapshot, KeyCode::Tab);
    press_chars(&mut app, &snapshot, "bad/id");
    assert!(form_error(&app).unwrap().contains("character other than"));
    assert!(press(&mut app, &snapshot, KeyCode::Enter).is_empty());
    for _ in 0.."/id".len() {
        press(&mut app, &snapshot, KeyCode::Backspace);
    }
    assert_eq!(
        press(&mut app, &snapshot, KeyCode::Enter),
        vec![Command::AddDownload {
            url: "https://example.org/rqx.iso".into(),
            account: Some("bad".into()),
            subdir: None,
        }]
    );
    assert!(app.modals.is_empty());
    assert_eq!(app.shutdown, ShutdownAsked::No);

    // No account: the download has no owner.
    press_chars(&mut app, &snapshot, "a");
    press_chars(&mut app, &snapshot, "magnet:?xt=urn:btih:abc");
    assert_eq!(
        press(&mut app, &snapshot, KeyCode::Enter),
        vec![Command::AddDownload {
            url: "magnet:?xt=urn:btih:abc".into(),
            account: None,
            subdir: None,
        }]
    );
}

#[test]
fn o_sends_exactly_a_sweep_preview_and_opens_the_dialog_from_any_pane() {
    let snapshot = fixtures::busy_snapshot();
    for pane in [Pane::Temp, Pane::Accounts, Pane::Logs] {
        let mut app = app();
        app.focus = pane;
        assert_eq!(
            run(&mut app, &snapshot, &[Action::Sweep]),
            vec![Command::PreviewSweep],
            "{pane:?}"
        );
        assert_eq!(app.mode(&snapshot), Mode::Sweep);
        // Scanning: Enter/y have nothing to apply yet.
        assert!(run(&mut app, &snapshot, &[Action::Accept]).is_empty());
        assert_eq!(app.hint.as_deref(), Some("still scanning…"));
    }
}

#[test]
fn y_applies_exactly_the_previewed_plan_once() {
    let mut app = app();
    run(&mut app, &fixtures::busy_snapshot(), &[Action::Sweep]);
    let preview = fixtures::sweep_preview_snapshot();
    let plan_id = fixtures::sweep_plan().id;
    assert_eq!(
        run(&mut app, &preview, &[Action::Accept]),
        vec![Command::ApplySweep { plan_id }]
    );
    // A second y before the manager said "applying", and after: nothing.
    assert!(run(&mut app, &preview, &[Action::Accept]).is_empty());
    let mut applying = preview.clone();
    applying.sweep.as_mut().unwrap().applying = true;
    assert!(run(&mut app, &applying, &[Action::Accept, Action::Accept]).is_empty());
    assert_eq!(app.mode(&applying), Mode::Sweep, "the dialog stays up");
    // The results stay until dismissed; Enter dismisses them.
    let results = fixtures::sweep_results_snapshot();
    assert!(run(&mut app, &results, &[Action::MoveDown]).is_empty());
    assert_eq!(app.mode(&results), Mode::Sweep);
    assert_eq!(
        run(&mut app, &results, &[Action::Accept]),
        vec![Command::DismissSweep]
    );
    assert_eq!(app.mode(&results), Mode::Pane(Pane::Accounts));
}

#[test]
fn esc_backs_out_of_a_sweep_at_every_stage() {
    let busy = fixtures::busy_snapshot();
    for snapshot in [
        busy.clone(),
        fixtures::sweep_preview_snapshot(),
        fixtures::sweep_results_snapshot(),
    ] {
        let mut app = app();
        run(&mut app, &busy, &[Action::Sweep]);
        assert_eq!(
            run(&mut app, &snapshot, &[Action::Back]),
            vec![Command::DismissSweep]
        );
        assert!(app.modals.is_empty());
    }
}

#[test]
fn an_old_plan_is_never_applied_as_the_new_preview() {
    // A plan from before `o` still in the snapshot: the dialog waits for the new one.
    let stale = fixtures::sweep_preview_snapshot();
    let mut app = app();
    run(&mut app, &stale, &[Action::Sweep]);
    assert!(run(&mut app, &stale, &[Action::Accept]).is_empty());
    let mut fresh = stale.clone();
    fresh.sweep.as_mut().unwrap().plan.id += 1;
    let plan_id = fresh.sweep.as_ref().unwrap().plan.id;
    assert_eq!(
        run(&mut app, &fresh, &[Action::Accept]),
        vec![Command::ApplySweep { plan_id }]
    );
}

#[test]
fn an_empty_plan_closes_on_enter_without_applying() {
    let mut app = app();
    run(&mut app, &fixtures::busy_snapshot(), &[Action::Sweep]);
    let mut empty = fixtures::busy_snapshot();
    empty.sweep = Some(crate::model::SweepView::default());
    assert_eq!(
        run(&mut app, &empty, &[Action::Accept]),
        vec![Command::DismissSweep]
    );
    assert!(app.modals.is_empty());
}

#[test]
fn the_temp_pane_selects_and_filters_its_owners() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    let mut actions = vec![Action::FocusPane(Pane::Temp), Action::Bottom];
    assert!(run(&mut app, &snapshot, &actions).is_empty());
    assert_eq!(
        app.pane(Pane::Temp).selected_key.as_deref(),
        Some("4100:104100")
    );
    actions = vec![Action::StartFilter];
    actions.extend(typed("dead"));
    actions.push(Action::Accept);
    run(&mut app, &snapshot, &actions);
    assert_eq!(
        app.pane(Pane::Temp).selected_key.as_deref(),
        Some("3990:103990")
    );
    run(&mut app, &snapshot, &[Action::OpenDetails]);
    assert!(app.modals.is_empty());
    assert!(app.hint.is_some());
}

#[test]
fn k_stops_the_selected_foreign_aria2c_only_after_a_confirm() {
    use crossterm::event::KeyCode;
    let snapshot = fixtures::busy_snapshot();
    let foreign = &snapshot.aria2.as_ref().unwrap().foreign[0];
    let mut app = app();
    // On a download, K opens nothing and says where the foreign rows are.
    assert!(press_chars(&mut app, &snapshot, "3K").is_empty());
    assert!(app.modals.is_empty());
    assert!(
        app.hint
            .as_deref()
            .unwrap()
            .contains("select a foreign aria2c")
    );
    // The selection goes on from the last download into the foreign rows.
    press_chars(&mut app, &snapshot, "jj");
    assert!(matches!(
        app.selected_aria2_row(&snapshot),
        Some(Aria2Row::Download(d)) if d.name == "report.pdf"
    ));
    press_chars(&mut app, &snapshot, "j");
    assert_eq!(
        app.selected_aria2_row(&snapshot),
        Some(Aria2Row::Foreign(foreign))
    );
    // There, x and Enter say what they do not do.
    assert!(press_chars(&mut app, &snapshot, "x").is_empty());
    assert!(app.modals.is_empty() && app.hint.as_deref().unwrap().contains("K stops"));
    assert!(press(&mut app, &snapshot, KeyCode::Enter).is_empty());
    assert!(app.modals.is_empty() && app.hint.is_some());
    // K: a confirm that names the process and says it is not steward's.
    assert!(press_chars(&mut app, &snapshot, "K").is_empty());
    let Some(Modal::Confirm(dialog)) = app.modals.last() else {
        panic!("no confirm dialog: {:?}", app.modals);
    };
    let text = dialog.lines.join("\n");
    assert!(
        text.contains("pid 3877") && text.contains("RPC port 6801"),
        "{text}"
    );
    assert!(text.contains("--dir=/home/ops/Downloads"), "{text}");
    assert!(text.contains("not steward's"), "{text}");
    // Esc and n back out without a command.
    assert!(press(&mut app, &snapshot, KeyCode::Esc).is_empty());
    assert!(app.modals.is_empty());
    assert!(press_chars(&mut app, &snapshot, "Kn").is_empty());
    assert!(app.modals.is_empty());
    // y sends exactly one command, for exactly that process.
    assert_eq!(
        press_chars(&mut app, &snapshot, "Ky"),
        vec![Command::StopForeignAria2 {
            pid: 3877,
            start_time: 123_456
        }]
    );
    assert!(app.modals.is_empty());
}

#[test]
fn k_without_a_foreign_aria2c_to_stop_says_so() {
    let mut snapshot = fixtures::busy_snapshot();
    let mut app = app();
    // A filter that hides the foreign rows leaves nothing to stop.
    press_chars(&mut app, &snapshot, "3/debian");
    app.update(Action::Accept, &snapshot);
    assert!(press_chars(&mut app, &snapshot, "GK").is_empty());
    assert!(app.modals.is_empty());
    assert_eq!(
        app.hint.as_deref(),
        Some("no foreign aria2c matches the filter (Esc clears it)")
    );
    // So does a pane with none at all.
    snapshot.aria2.as_mut().unwrap().foreign.clear();
    let mut app = self::app();
    assert!(press_chars(&mut app, &snapshot, "3GK").is_empty());
    assert!(app.modals.is_empty());
    assert_eq!(app.hint.as_deref(), Some("no foreign aria2c is listed"));
}

#[test]
fn a_selected_foreign_aria2c_is_followed_by_pid_and_start_time() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    press_chars(&mut app, &snapshot, "3G");
    assert_eq!(
        app.pane(Pane::Aria2).selected_key.as_deref(),
        Some("foreign:3877:123456")
    );
    // A download finishing and leaving the list does not move the selection
    // off the foreign process onto another row.
    let mut later = snapshot.clone();
    later.aria2.as_mut().unwrap().downloads.remove(0);
    let Some(Aria2Row::Foreign(selected)) = app.selected_aria2_row(&later) else {
        panic!("the foreign row is no longer selected");
    };
    assert_eq!((selected.pid, selected.start_time), (3877, 123_456));
}

#[test]
fn enter_closes_a_sweep_the_manager_could_not_run() {
    let snapshot = fixtures::busy_snapshot();
    let mut app = app();
    run(&mut app, &snapshot, &[Action::Sweep]);
    let mut failed = snapshot.clone();
    failed.sweep = Some(crate::model::SweepView {
        error: Some("another sweep is running".into()),
        ..Default::default()
    });
    assert_eq!(
        run(&mut app, &failed, &[Action::Accept]),
        vec![Command::DismissSweep],
        "nothing is applied; the dialog closes"
    );
    assert!(app.modals.is_empty());
}

#[test]
fn esc_while_applying_hides_the_sweep_and_o_shows_it_again() {
    let mut app = app();
    let preview = fixtures::sweep_preview_snapshot();
    run(&mut app, &fixtures::busy_snapshot(), &[Action::Sweep]);
    let plan_id = preview.sweep.as_ref().unwrap().plan.id;
    assert_eq!(
        run(&mut app, &preview, &[Action::Accept]),
        vec![Command::ApplySweep { plan_id }]
    );
    let mut applying = preview.clone();
    applying.sweep.as_mut().unwrap().applying = true;
    // Esc hides the dialog without dismissing: the results would be lost.
    assert!(run(&mut app, &applying, &[Action::Back]).is_empty());
    assert!(app.modals.is_empty());
    // o shows the same sweep again, without scanning anew.
    assert!(run(&mut app, &applying, &[Action::Sweep]).is_empty());
    assert_eq!(app.mode(&applying), Mode::Sweep);
    let results = fixtures::sweep_results_snapshot();
    let Some(Modal::Sweep(dialog)) = app.modals.last() else {
        panic!("no sweep dialog");
    };
    assert!(matches!(
        dialog.stage(&results),
        super::sweep_view::Stage::Results(_)
    ));
    assert_eq!(
        run(&mut app, &results, &[Action::Accept]),
        vec![Command::DismissSweep]
    );
    // With nothing left to show, o scans again.
    let mut none = results.clone();
    none.sweep = None;
    assert_eq!(
        run(&mut app, &none, &[Action::Sweep]),
        vec![Command::PreviewSweep]
    );
}

#[test]
fn help_pages_with_pgup_pgdn_and_jumps_with_g_and_shift_g() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let snapshot = fixtures::idle_snapshot();
    let mut app = app();
    run(&mut app, &snapshot, &[Action::ToggleHelp]);
    assert_eq!(app.mode(&snapshot), Mode::Help);
    // Through the dispatcher, as the keys arrive from the terminal.
    let mut press = |code: KeyCode| {
        let key = KeyEvent::new(code, KeyModifiers::NONE);
        let action = super::keymap::action_for(app.mode(&snapshot), app.attachment, &key)
            .unwrap_or_else(|| panic!("{code:?} does nothing in help"));
        app.update(action, &snapshot);
        match app.modals.last() {
            Some(Modal::Help { scroll }) => *scroll,
            other => panic!("help closed: {other:?}"),
        }
    };
    let page = super::help::page_lines((80, 24));
    let bottom = super::help::max_scroll((80, 24), Attachment::Embedded);
    assert!(page > 1 && bottom > page, "help must be longer than a page");
    assert_eq!(press(KeyCode::PageDown), page);
    assert_eq!(press(KeyCode::PageDown), 2 * page);
    assert_eq!(press(KeyCode::PageUp), page);
    assert_eq!(press(KeyCode::Char('G')), bottom);
    // At the bottom, more of the same moves nothing (k then moves at once).
    assert_eq!(press(KeyCode::PageDown), bottom);
    assert_eq!(press(KeyCode::Char('j')), bottom);
    assert_eq!(press(KeyCode::Char('k')), bottom - 1);
    assert_eq!(press(KeyCode::Char('g')), 0);
    assert_eq!(press(KeyCode::PageUp), 0);
    assert_eq!(press(KeyCode::End), bottom);
    assert_eq!(press(KeyCode::Home), 0);
}

#[test]
fn a_lost_terminal_shuts_down_gracefully_once_and_the_next_deliberate_quit_is_the_first() {
    let idle = fixtures::idle_snapshot();
    let shutting_down = fixtures::shutting_down_snapshot();
    let mut app = app();
    assert_eq!(
        app.terminal_lost(&idle),
        vec![Command::Shutdown { force: false }]
    );
    assert_eq!(app.shutdown, ShutdownAsked::OnHangUp);
    assert_eq!(app.mode(&idle), Mode::Shutdown);
    // Reported again (SIGHUP after the failed redraw, or the other way round): nothing more.
    assert!(app.terminal_lost(&shutting_down).is_empty());
    assert!(app.stop_requested(false, &shutting_down).is_empty());
    // The operator's own requests: the first is graceful, the second forces.
    assert_eq!(
        run(&mut app, &shutting_down, &[Action::Quit]),
        vec![Command::Shutdown { force: false }]
    );
    assert!(app.terminal_lost(&shutting_down).is_empty());
    assert_eq!(
        run(&mut app, &shutting_down, &[Action::Quit]),
        vec![Command::Shutdown { force: true }]
    );
    assert_eq!(app.shutdown, ShutdownAsked::Forcefully);

    // Lost after the operator quit: still only their second request forces.
    let mut app = self::app();
    run(&mut app, &idle, &[Action::Quit]);
    assert!(app.terminal_lost(&shutting_down).is_empty());
    assert_eq!(app.shutdown, ShutdownAsked::Gracefully);
}
