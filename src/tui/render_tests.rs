//! Render tests: every pane and modal drawn on `TestBackend` at 80x24 and
//! 120x40 from fixed snapshots and a fixed clock, kept as insta snapshots, plus
//! assertions on the text that matters.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use crate::model::Snapshot;

use super::action::Action;
use super::app::App;
use super::draw::{TOO_SMALL, draw};
use super::fixtures::{self, NOW_MS};
use super::hints::key_hints;
use super::keymap::Mode;
use super::pane::Pane;
use super::theme::Theme;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn render(app: &App, snapshot: &Snapshot, (columns, rows): (u16, u16)) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(columns, rows)).unwrap();
    terminal
        .draw(|frame| draw(frame, app, snapshot, NOW_MS))
        .unwrap();
    terminal
}

/// Renders at both sizes, snapshots each as `<name>_<cols>x<rows>`, returns the texts.
fn snapshot_both(name: &str, app: &App, snapshot: &Snapshot) -> Vec<String> {
    SIZES
        .iter()
        .map(|&size| {
            let mut app = app.clone();
            app.size = size;
            let text = render(&app, snapshot, size).backend().to_string();
            insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), text);
            text
        })
        .collect()
}

/// The screen line with the selection marker (numbers are right-aligned,
/// so the marker and a leading pid or id have spaces between them).
fn selected_line(text: &str) -> &str {
    text.lines().find(|l| l.contains('▸')).unwrap_or("")
}

fn app_after(actions: &[Action], snapshot: &Snapshot) -> App {
    let mut app = App::new((80, 24), true);
    for action in actions {
        app.update(*action, snapshot);
    }
    app
}

#[test]
fn accounts_pane() {
    let snapshot = fixtures::busy_snapshot();
    let texts = snapshot_both("accounts", &app_after(&[], &snapshot), &snapshot);
    for text in &texts {
        assert!(text.contains("↻ backoff (next in 4s)"), "{text}");
        assert!(text.contains("◌ stopping (kill in 8s)"), "{text}");
        assert!(text.contains("✗ exited (code 1)"));
        assert!(text.contains("accounts 2/5 running"));
        assert!(text.contains("up 42m"));
        assert!(text.contains("⚠ last run crashed"));
        assert!(text.contains("error: cannot start eve: no such file"));
        assert!(text.contains("▸ alice"), "the first row is selected");
    }
    assert!(
        !texts[0].contains("Alice's shop"),
        "80 columns drop the name"
    );
    assert!(texts[1].contains("Alice's shop") && texts[1].contains("4203,4100"));
}

#[test]
fn low_disk_space_turns_the_header_to_a_warning() {
    let mut snapshot = fixtures::busy_snapshot();
    snapshot.host = Some(fixtures::host_view(true));
    let app = app_after(&[], &snapshot);
    let texts = snapshot_both("low_disk_space", &app, &snapshot);
    // At 80 columns the warning is on the first line; the figures are cut.
    assert!(
        texts[0]
            .lines()
            .next()
            .unwrap()
            .contains("⚠ disk low: 512M free, downloads paused"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("load 0.4 · mem 3.2G/16G · free 120G, 512M"),
        "{}",
        texts[1]
    );
}

#[test]
fn tasks_pane() {
    let snapshot = fixtures::busy_snapshot();
    let app = app_after(
        &[Action::FocusPane(Pane::Tasks), Action::MoveDown],
        &snapshot,
    );
    for text in snapshot_both("tasks", &app, &snapshot) {
        assert!(text.contains("[2 Tasks]"));
        assert!(text.contains("◌ cancelling (5s)"));
        assert!(text.contains("✓ finished"));
        assert!(
            selected_line(&text).contains("   2 worker   worker bob"),
            "{text}"
        );
        assert!(text.contains("c cancel"), "footer names the pane's keys");
    }
}

#[test]
fn aria2_pane_running_with_downloads_and_a_foreign_aria2c() {
    let snapshot = fixtures::busy_snapshot();
    let aria2 = app_after(&[Action::FocusPane(Pane::Aria2)], &snapshot);
    let texts = snapshot_both("aria2", &aria2, &snapshot);
    for text in &texts {
        assert!(text.contains("aria2 ● running ·"), "short header: {text}");
        assert!(text.contains("● running (pid 4150, port 6800, 1.37.0)"));
        assert!(text.contains("up 25m · restarts 1"), "{text}");
        assert!(text.contains("↓ 12.3 MiB/s ↑ 0 B/s · 1 active · 1 waiting · 1 stopped"));
        assert!(text.contains("✗ pid 4120 · signal 9 · 25m ago"));
        assert!(text.contains("│ 11/22 09:34:45 [NOTICE] Download complete"));
        assert!(text.contains("Downloads (3)"));
        assert!(
            text.contains("↓ active") && text.contains("… waiting") && text.contains("✗ error")
        );
        assert!(
            text.contains("███░░") && text.contains("45%"),
            "a gauge: {text}"
        );
        assert!(text.contains("2.5G/5.6G") && text.contains("12M/s") && text.contains("4m41s"));
        assert!(text.contains("Foreign aria2c (1): not steward's"));
        assert!(text.contains("3877") && text.contains("6801"));
        assert!(
            text.contains("r restart")
                && text.contains("x/Delete remove")
                && text.contains("a add")
        );
        // Active first, then waiting, then stopped.
        let order: Vec<usize> = ["ubuntu-24", "debian-13", "report.pdf"]
            .iter()
            .map(|name| text.find(name).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }
    assert!(
        texts[0].contains("▸ 2089b0 "),
        "narrow: short gid, first row selected"
    );
    assert!(texts[1].contains("▸ 2089b05ecca3d829"), "wide: whole gid");
    assert!(
        texts[1].contains("3: resource not"),
        "wide: an error column"
    );
    // The selected row's whole error shows under the table. (The last
    // download is one up from the bottom: the foreign row comes last.)
    let failed = app_after(
        &[
            Action::FocusPane(Pane::Aria2),
            Action::Bottom,
            Action::MoveUp,
        ],
        &snapshot,
    );
    let text = render(&failed, &snapshot, (80, 24)).backend().to_string();
    assert!(
        text.contains("✗ 5c1e9f: 3: resource not found (HTTP 404)"),
        "{text}"
    );
    let text = render(&failed, &snapshot, (120, 40)).backend().to_string();
    assert!(
        text.contains("✗ 5c1e9f00aa11bb22: 3: resource not found (HTTP 404)"),
        "{text}"
    );
}

#[test]
fn aria2_pane_when_aria2c_is_not_installed() {
    let snapshot = fixtures::aria2_not_installed_snapshot();
    let app = app_after(&[Action::FocusPane(Pane::Aria2)], &snapshot);
    for text in snapshot_both("aria2_not_installed", &app, &snapshot) {
        assert!(text.contains("aria2 ✗ not installed ·"), "{text}");
        assert!(text.contains("✗ not installed (aria2c not found on PATH: apt install aria2)"));
        assert!(text.contains("no downloads (aria2c is not running)"));
        assert!(!text.contains("Foreign aria2c"));
    }
}

#[test]
fn aria2_confirm_dialogs_and_download_details() {
    let snapshot = fixtures::busy_snapshot();
    let restart = app_after(
        &[Action::FocusPane(Pane::Aria2), Action::RestartAria2],
        &snapshot,
    );
    for text in snapshot_both("confirm_restart_aria2", &restart, &snapshot) {
        assert!(text.contains("Restart aria2c? Its session is saved first; downloads resume."));
        assert!(text.contains("pid 4150"));
        assert!(text.contains("Enter/y confirm"));
    }
    let remove = app_after(
        &[Action::FocusPane(Pane::Aria2), Action::RemoveDownload],
        &snapshot,
    );
    let text = render(&remove, &snapshot, (80, 24)).backend().to_string();
    assert!(text.contains("Remove download 2089b0?"), "{text}");
    assert!(text.contains("aria2 stops the transfer"));
    let details = app_after(
        &[
            Action::FocusPane(Pane::Aria2),
            Action::Bottom,
            Action::MoveUp,
            Action::OpenDetails,
        ],
        &snapshot,
    );
    let text = render(&details, &snapshot, (80, 24)).backend().to_string();
    assert!(text.contains("Download 5c1e9f00aa11bb22"), "{text}");
    assert!(text.contains("✗ 3: resource not found (HTTP 404)"));
}

#[test]
fn a_foreign_aria2c_is_selected_below_the_downloads_and_k_asks_first() {
    let snapshot = fixtures::busy_snapshot();
    let selected = app_after(&[Action::FocusPane(Pane::Aria2), Action::Bottom], &snapshot);
    for text in snapshot_both("aria2_foreign_selected", &selected, &snapshot) {
        assert!(
            text.contains("Foreign aria2c (1): not steward's · K stops the selected one"),
            "{text}"
        );
        assert!(
            selected_line(&text).contains(" 3877  6801 aria2c"),
            "the foreign row is selected: {text}"
        );
        assert!(!text.contains("▸ 2089b0") && !text.contains("▸ 5c1e9f"));
        assert!(text.contains("K stop foreign"), "{text}");
    }
    let mut actions = vec![Action::FocusPane(Pane::Aria2), Action::Bottom];
    actions.push(Action::StopForeignAria2);
    let confirm = app_after(&actions, &snapshot);
    for text in snapshot_both("confirm_stop_foreign", &confirm, &snapshot) {
        assert!(text.contains("Stop foreign aria2c pid 3877?"), "{text}");
        assert!(
            text.contains("(RPC port 6801)? It is not steward's."),
            "{text}"
        );
        assert!(
            text.contains("--dir=/home/ops/Downloads"),
            "the whole command line: {text}"
        );
        assert!(text.contains("Enter/y confirm") && text.contains("Esc/n back"));
    }
    // Many foreign processes: the selection scrolls through them.
    let mut many = snapshot.clone();
    let aria2 = many.aria2.as_mut().unwrap();
    let first = aria2.foreign[0].clone();
    aria2.foreign = (0..6)
        .map(|n| crate::model::ForeignAria2 {
            pid: 7000 + n,
            ..first.clone()
        })
        .collect();
    let last = app_after(&[Action::FocusPane(Pane::Aria2), Action::Bottom], &many);
    let text = render(&last, &many, (80, 24)).backend().to_string();
    assert!(text.contains("Foreign aria2c (6)"), "{text}");
    assert!(selected_line(&text).contains(" 7005 "), "{text}");
    assert!(!text.contains(" 7000 "), "{text}");
}

#[test]
fn add_download_form_with_an_error() {
    let snapshot = fixtures::busy_snapshot();
    let mut actions = vec![Action::FocusPane(Pane::Aria2), Action::AddDownload];
    actions.extend("ftp:/x y".chars().map(Action::InputChar));
    let app = app_after(&actions, &snapshot);
    for text in snapshot_both("add_download_error", &app, &snapshot) {
        assert!(text.contains("Add download"));
        assert!(text.contains("✗ URL \"ftp:/x y\" refused"), "{text}");
    }
}

#[test]
fn temp_pane_with_data() {
    let snapshot = fixtures::busy_snapshot();
    let temp = app_after(
        &[Action::FocusPane(Pane::Temp), Action::MoveDown],
        &snapshot,
    );
    for text in snapshot_both("temp", &temp, &snapshot) {
        assert!(text.contains("/srv/steward/tmp"), "{text}");
        assert!(text.contains("12 files · 3 dirs · 5.3 MiB"));
        assert!(text.contains("8 registered · 1 untracked"));
        assert!(text.contains("⚠ 2 entries whose owner is dead"));
        assert!(text.contains("1d02h old"));
        assert!(text.contains("3m ago (the walk took 140ms)"));
        assert!(!text.contains("walking now"));
        assert!(text.contains("Owners (4)"));
        assert!(text.contains("✗ dead") && text.contains("● live"));
        assert!(text.contains("(steward)"));
        assert!(
            selected_line(&text).contains(" 4201 alice"),
            "the second row is selected: {text}"
        );
        assert!(text.contains("o sweep") && text.contains("/ filter"));
    }
    // A walk running, nothing orphaned, and a filter on the owners.
    let mut walking = snapshot.clone();
    let view = walking.temp.as_mut().unwrap();
    view.walking = true;
    view.orphaned = 0;
    let mut actions = vec![Action::FocusPane(Pane::Temp), Action::StartFilter];
    actions.extend("dead".chars().map(Action::InputChar));
    let app = app_after(&actions, &walking);
    let text = render(&app, &walking, (80, 24)).backend().to_string();
    assert!(
        text.contains("◐ walking now") && text.contains("✓ none"),
        "{text}"
    );
    assert!(text.contains("Owners (1 of 4 match \"dead\")"), "{text}");
    assert!(text.contains("3990") && !text.contains("4201"));
}

/// The app after `o` on the Temp pane (sent before the plan existed).
fn sweep_app() -> App {
    app_after(
        &[Action::FocusPane(Pane::Temp), Action::Sweep],
        &fixtures::busy_snapshot(),
    )
}

#[test]
fn sweep_scanning_then_preview() {
    let app = sweep_app();
    let scanning = render(&app, &fixtures::busy_snapshot(), (80, 24))
        .backend()
        .to_string();
    assert!(scanning.contains("scanning for orphans…"), "{scanning}");
    assert!(scanning.contains("Esc back out"));

    let snapshot = fixtures::sweep_preview_snapshot();
    let texts = snapshot_both("sweep_preview", &app, &snapshot);
    for text in &texts {
        assert!(text.contains("Sweep preview · /srv/steward"), "{text}");
        assert!(text.contains("5 items to act on · 1 left alone · 3.8 MiB to free"));
        assert!(text.contains("delete") && text.contains("tmp/worker-alice-3990"));
        assert!(text.contains("temp (owner dead)") && text.contains("owner dead (pid 3990"));
        assert!(text.contains("trash") && text.contains("sessions/zed.session"));
        assert!(text.contains("leave") && text.contains("sessions/yan.session"));
        assert!(text.contains("y/Enter apply · Esc back out"));
    }
    for text in &texts {
        assert!(text.contains("in use by pid 5150"));
        assert!(text.contains("stop") && text.contains("pid 3991 (group)"));
        assert!(text.contains("expired trash") && text.contains("in trash for 12d01h"));
        assert!(text.contains("! cannot read /srv/steward/tmp/locked-by-root"));
        assert!(!text.contains("j/k scroll"), "it all fits: {text}");
    }
}

#[test]
fn a_long_sweep_plan_scrolls() {
    let mut snapshot = fixtures::sweep_preview_snapshot();
    let plan = &mut snapshot.sweep.as_mut().unwrap().plan;
    let items = plan.items.clone();
    for round in 1..4 {
        plan.items.extend(items.iter().cloned().map(|mut item| {
            item.id += round * items.len();
            item
        }));
    }
    // 24 items of two lines, then the note: 50 lines; 80x24 shows 18.
    let mut app = sweep_app();
    let text = render(&app, &snapshot, (80, 24)).backend().to_string();
    assert!(text.contains("j/k scroll · lines 1-18 of 50"), "{text}");
    app.update(Action::PageDown, &snapshot);
    let text = render(&app, &snapshot, (80, 24)).backend().to_string();
    assert!(
        text.contains("lines 17-34 of 50"),
        "a page is 16 rows: {text}"
    );
    app.update(Action::Bottom, &snapshot);
    for _ in 0..3 {
        app.update(Action::MoveDown, &snapshot);
    }
    let text = render(&app, &snapshot, (80, 24)).backend().to_string();
    assert!(text.contains("lines 33-50 of 50"), "{text}");
    assert!(text.contains("! cannot read /srv/steward/tmp/locked-by-root"));
    app.update(Action::MoveUp, &snapshot);
    let text = render(&app, &snapshot, (80, 24)).backend().to_string();
    assert!(
        text.contains("lines 32-49 of 50"),
        "one up from the end: {text}"
    );
}

#[test]
fn sweep_applying_and_results() {
    let mut app = sweep_app();
    let preview = fixtures::sweep_preview_snapshot();
    app.update(Action::Accept, &preview);
    let text = render(&app, &preview, (80, 24)).backend().to_string();
    assert!(
        text.contains("Sweep: applying…") && text.contains("applying: 5 items"),
        "{text}"
    );
    assert!(
        text.contains("Esc hide (it goes on; o shows it again)"),
        "{text}"
    );

    let snapshot = fixtures::sweep_results_snapshot();
    for text in snapshot_both("sweep_results", &app, &snapshot) {
        assert!(text.contains("Sweep results"), "{text}");
        assert!(text.contains("✗ swept: 4 done, 1 skipped, 1 failed · 3.8 MiB freed"));
        assert!(text.contains("✓ done") && text.contains("removed 7 files, 1 dirs"));
        assert!(text.contains("○ skipped") && text.contains("in use by pid 5150"));
        assert!(text.contains("Enter/Esc close"));
    }
    let text = render(&app, &snapshot, (120, 40)).backend().to_string();
    assert!(text.contains("✗ failed") && text.contains("Permission denied (os error 13)"));
    assert!(text.contains("moved to /srv/steward/trash/zed.session"));
}

#[test]
fn a_refused_sweep_shows_the_managers_error_instead_of_waiting_forever() {
    const BUSY: &str = "another sweep is running (pid 777): wait for it to finish";
    let app = sweep_app();
    // An error notice alone is not read as the sweep's: the view says.
    let mut snapshot = fixtures::busy_snapshot();
    snapshot.notices.push(crate::model::Notice {
        seq: 3,
        at_ms: NOW_MS,
        level: crate::model::NoticeLevel::Error,
        text: format!("cannot sweep: {BUSY}"),
    });
    let text = render(&app, &snapshot, (80, 24)).backend().to_string();
    assert!(
        text.contains("scanning for orphans…") && !text.contains("✗ cannot sweep"),
        "{text}"
    );
    // The scan could not run: the view carries the error and no plan.
    snapshot.sweep = Some(crate::model::SweepView {
        error: Some(BUSY.into()),
        ..Default::default()
    });
    let text = render(&app, &snapshot, (120, 40)).backend().to_string();
    assert!(text.contains("Sweep: could not run"), "{text}");
    assert!(
        text.contains(&format!("✗ cannot sweep: {BUSY} · nothing was done")),
        "{text}"
    );
    assert!(text.contains(" Enter/Esc close ") && !text.contains("nothing to sweep"));
    // The apply could not run: the previewed plan comes back finished, unapplied.
    let mut app = sweep_app();
    let preview = fixtures::sweep_preview_snapshot();
    app.update(Action::Accept, &preview);
    let mut refused = preview.clone();
    let view = refused.sweep.as_mut().unwrap();
    view.finished_ms = Some(NOW_MS);
    view.error = Some(BUSY.into());
    let text = render(&app, &refused, (80, 24)).backend().to_string();
    assert!(
        text.contains("Sweep: could not run") && text.contains("✗ cannot sweep: another sweep"),
        "{text}"
    );
    assert!(
        !text.contains("swept:") && !text.contains("applying"),
        "{text}"
    );
}

#[test]
fn an_empty_sweep_says_so() {
    let mut snapshot = fixtures::busy_snapshot();
    snapshot.sweep = Some(crate::model::SweepView::default());
    let text = render(&sweep_app(), &snapshot, (80, 24))
        .backend()
        .to_string();
    assert!(text.contains("✓ nothing to sweep"), "{text}");
    assert!(text.contains(" Enter/Esc close ") && !text.contains("y/Enter apply ·"));
}

#[test]
fn aria2_and_temp_placeholders_until_their_subsystems_land() {
    let snapshot = fixtures::idle_snapshot();
    let aria2 = app_after(&[Action::FocusPane(Pane::Aria2)], &snapshot);
    for text in snapshot_both("aria2_placeholder", &aria2, &snapshot) {
        assert!(text.contains("Aria2: not built yet"));
        assert!(text.contains("aria2 n/a"));
    }
    let temp = app_after(&[Action::FocusPane(Pane::Temp)], &snapshot);
    for text in snapshot_both("temp_placeholder", &temp, &snapshot) {
        assert!(text.contains("Temp: not built yet"));
    }
}

#[test]
fn logs_pane() {
    // Empty and repeatable: no test puts a line into tui-logger's global buffer
    // (the layer's own test logs to a target tui-logger is told to drop).
    let snapshot = fixtures::idle_snapshot();
    let app = app_after(
        &[Action::FocusPane(Pane::Logs), Action::CycleLogLevel],
        &snapshot,
    );
    for text in snapshot_both("logs", &app, &snapshot) {
        assert!(text.contains("Logs (debug and above)"));
        assert!(text.contains("l level"));
    }
}

#[test]
fn help_overlay() {
    let snapshot = fixtures::idle_snapshot();
    let app = app_after(&[Action::ToggleHelp], &snapshot);
    let texts = snapshot_both("help", &app, &snapshot);
    for text in &texts {
        assert!(text.contains("Everywhere"));
        assert!(text.contains("Ctrl+C"));
        assert!(text.contains("Esc close"));
    }
    assert!(texts[1].contains("force-cancel the selected task"));
    let scrolled = app_after(
        &[Action::ToggleHelp, Action::MoveDown, Action::MoveDown],
        &snapshot,
    );
    let text = render(&scrolled, &snapshot, (80, 24)).backend().to_string();
    assert!(text.contains("lines 3-"), "{text}");
}

#[test]
fn confirm_dialog_for_removing_an_account() {
    let snapshot = fixtures::busy_snapshot();
    let app = app_after(
        &[Action::MoveDown, Action::MoveDown, Action::RemoveAccount],
        &snapshot,
    );
    for text in snapshot_both("confirm_remove", &app, &snapshot) {
        assert!(text.contains("Remove account carol?"), "{text}");
        assert!(text.contains("pid 4203"));
        assert!(text.contains("trash"));
        assert!(text.contains("Enter/y confirm"));
    }
}

#[test]
fn add_form_with_an_error() {
    let snapshot = fixtures::busy_snapshot();
    let mut actions = vec![Action::AddAccount];
    actions.extend("bad id".chars().map(Action::InputChar));
    let app = app_after(&actions, &snapshot);
    for text in snapshot_both("add_form_error", &app, &snapshot) {
        assert!(text.contains("Add account"));
        assert!(
            text.contains("✗ account id \"bad id\" has a character"),
            "{text}"
        );
    }
}

#[test]
fn account_details() {
    let snapshot = fixtures::busy_snapshot();
    let app = app_after(
        &[Action::Bottom, Action::MoveUp, Action::OpenDetails],
        &snapshot,
    );
    for text in snapshot_both("details_dave", &app, &snapshot) {
        assert!(text.contains("Account dave"));
        assert!(text.contains("STEWARD_SECRET"), "env names are shown");
        assert!(text.contains("secret •••• (12 chars)"), "values never are");
        assert!(text.contains("code 1, 2m ago"));
        assert!(text.contains("5m ago: exited (code 1)"));
        assert!(text.contains("dave: 3 messages answered"));
    }
}

#[test]
fn filtered_rows() {
    let snapshot = fixtures::busy_snapshot();
    let mut actions = vec![Action::StartFilter];
    actions.extend("back".chars().map(Action::InputChar));
    let app = app_after(&actions, &snapshot);
    for text in snapshot_both("filter", &app, &snapshot) {
        assert!(text.contains("filter: /back"));
        assert!(text.contains("1 of 5 match \"back\""));
        assert!(text.contains("bob") && !text.contains("alice "), "{text}");
    }
}

#[test]
fn shutdown_progress() {
    let snapshot = fixtures::shutting_down_snapshot();
    let app = App::new((80, 24), true);
    let texts = snapshot_both("shutdown", &app, &snapshot);
    for text in &texts {
        assert!(text.contains("Shutting down"));
        assert!(text.contains("3s since the shutdown began"), "{text}");
        assert!(text.contains("✓ stop intake"));
        assert!(text.contains("▶ stop workers"));
        assert!(text.contains("running · deadline in 8s"));
        assert!(text.contains("alice") && text.contains("pid 4201") && text.contains("kill in 8s"));
        assert!(text.contains("· stop aria2"));
        assert!(text.contains("q/Ctrl+C again: force: SIGKILL"), "{text}");
    }
    let mut forced = app.clone();
    forced.update(Action::Quit, &snapshot);
    let text = render(&forced, &snapshot, (80, 24)).backend().to_string();
    assert!(
        text.contains("Shutting down (forced)") && text.contains("forced (SIGKILL)"),
        "{text}"
    );
}

#[test]
fn the_footer_drops_whole_hints_to_fit_and_keeps_help_and_quit() {
    let snapshot = fixtures::busy_snapshot();
    for (pane, kept) in [
        (Pane::Accounts, "d remove"),
        (Pane::Aria2, "K stop foreign"),
    ] {
        let app = app_after(&[Action::FocusPane(pane)], &snapshot);
        let text = render(&app, &snapshot, (80, 24)).backend().to_string();
        let footer = text.lines().last().unwrap();
        assert!(footer.starts_with("\"? help  q quit  "), "{footer}");
        assert!(
            footer.contains(kept) && footer.contains("o sweep"),
            "{footer}"
        );
        assert!(
            !footer.contains("Enter open"),
            "least important first: {footer}"
        );
        assert!(
            footer.ends_with(" \""),
            "nothing is cut at the edge: {footer}"
        );
    }
    let text = |width| -> String {
        let line = key_hints(
            Mode::Pane(Pane::Aria2),
            super::link::Attachment::Embedded,
            width,
            &Theme::new(false),
        );
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    };
    assert_eq!(text(20), "? help  q quit");
    assert_eq!(text(0), "? help  q quit", "help and quit are never dropped");
    assert!(text(200).contains("/ filter  Enter open  o sweep"));
}

#[test]
fn too_small_shows_one_line() {
    let snapshot = fixtures::busy_snapshot();
    let app = App::new((79, 24), true);
    for size in [(79, 24), (80, 23), (40, 10)] {
        let terminal = render(&app, &snapshot, size);
        let buffer = terminal.backend().buffer();
        let text = terminal.backend().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with(&format!("\"{}", &TOO_SMALL[..size.0.min(31) as usize])),
            "{text}"
        );
        assert!(
            buffer
                .content
                .iter()
                .skip(usize::from(size.0))
                .all(|cell| cell.symbol() == " "),
            "only one line is drawn: {text}"
        );
    }
    insta::assert_snapshot!(
        "too_small_79x24",
        render(&app, &snapshot, (79, 24)).backend().to_string()
    );
}

#[test]
fn no_color_draws_no_colour_but_keeps_words_and_symbols() {
    let snapshot = fixtures::busy_snapshot();
    for pane in Pane::ALL {
        let mut app = App::new((120, 40), false);
        app.focus = pane;
        let terminal = render(&app, &snapshot, (120, 40));
        let coloured = terminal
            .backend()
            .buffer()
            .content
            .iter()
            .filter(|cell| cell.fg != Color::Reset || cell.bg != Color::Reset)
            .count();
        assert_eq!(coloured, 0, "{pane:?}");
    }
    let app = App::new((120, 40), false);
    let text = render(&app, &snapshot, (120, 40)).backend().to_string();
    assert!(text.contains("● running") && text.contains("✗ failed (no such file)"));
}

#[test]
fn a_long_list_shows_the_page_that_ends_at_the_selection() {
    let snapshot = fixtures::idle_snapshot_with_accounts(1_000);
    let mut app = App::new((120, 40), true);
    for _ in 0..40 {
        app.update(Action::MoveDown, &snapshot);
    }
    let text = render(&app, &snapshot, (120, 40)).backend().to_string();
    let lines: Vec<&str> = text.lines().collect();
    // Header (2), tabs, the pane's top border, its header line: rows start on line 6.
    let table: Vec<&str> = lines[5..37].to_vec();
    assert!(table[0].contains("acct-0009"), "{text}");
    assert!(table[31].contains("▸ acct-0040"), "{text}");
    assert!(lines[37].contains("└"), "{text}");
    assert!(!text.contains("acct-0008") && !text.contains("acct-0041"));
    assert!(text.contains("Accounts (1000)"), "{text}");
}

#[test]
fn the_header_warns_when_steward_runs_as_root() {
    let mut snapshot = fixtures::busy_snapshot();
    let app = app_after(&[], &snapshot);
    let text = render(&app, &snapshot, (200, 24)).backend().to_string();
    assert!(!text.contains("root"), "{text}");
    snapshot.instance.as_root = true;
    let text = render(&app, &snapshot, (200, 24)).backend().to_string();
    let header = text.lines().next().unwrap_or("");
    assert!(
        header.contains("⚠ workers and aria2c run as root; run steward as a dedicated user"),
        "{header}"
    );
}

#[test]
fn account_details_name_escaped_descendants_and_the_isolation_mode() {
    let mut snapshot = fixtures::busy_snapshot();
    let app = app_after(
        &[Action::Bottom, Action::MoveUp, Action::OpenDetails],
        &snapshot,
    );
    // A stopped instance's status knows no mode: no line.
    let text = render(&app, &snapshot, (100, 30)).backend().to_string();
    assert!(!text.contains("escaped"), "{text}");
    snapshot.instance.isolation = "subreaper only".into();
    let text = render(&app, &snapshot, (100, 30)).backend().to_string();
    assert!(
        text.contains("escaped   none outside the group · subreaper only"),
        "{text}"
    );
    let dave = snapshot
        .accounts
        .iter_mut()
        .find(|a| a.id == "dave")
        .unwrap();
    dave.worker.escaped = vec![4321, 4322];
    let text = render(&app, &snapshot, (100, 30)).backend().to_string();
    assert!(
        text.contains("outside the group: pid 4321, pid 4322 (stopped with it)"),
        "{text}"
    );
}
