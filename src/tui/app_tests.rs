//! `App::update` as plain data: actions in, UI state and `Command`s out. No
//! terminal, no async, no clock.

use crate::manager::{Command, Snapshot, WorkerState};

use super::action::Action;
use super::app::{App, DetailsTarget, Modal, ShutdownAsked};
use super::fixtures;
use super::keymap::Mode;
use super::pane::Pane;

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
        &[Action::FocusPane(Pane::Aria2), Action::StartFilter],
    );
    assert_eq!(app.mode(&snapshot), Mode::Pane(Pane::Aria2));
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
    newer.notices.push(crate::manager::Notice {
        seq: 3,
        at_ms: now,
        level: crate::manager::NoticeLevel::Info,
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
