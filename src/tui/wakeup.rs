//! When the screen's text next changes with no event at all: a countdown
//! ticking, a minute-grained age rolling over, a notice expiring. The loop
//! sleeps until then and not a moment more often; with nothing of the sort
//! visible it does not wake at all.

use crate::model::{
    AccountView, Aria2State, Aria2View, Snapshot, TaskState, TaskView, WorkerState,
};

use super::app::{App, Modal, NOTICE_VISIBLE_MS};
use super::details::DetailsTarget;
use super::pane::Pane;
use super::rows;

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60_000;

/// When `time::secs_until(deadline, now)` next changes; `None` once it shows 0.
fn countdown_tick(deadline_ms: i64, now_ms: i64) -> Option<i64> {
    let left = deadline_ms - now_ms;
    (left > 0).then(|| deadline_ms - SECOND_MS * ((left + SECOND_MS - 1) / SECOND_MS - 1))
}

/// When an age counted from `from_ms` next crosses a multiple of `unit_ms`.
fn age_tick(from_ms: i64, now_ms: i64, unit_ms: i64) -> i64 {
    if now_ms < from_ms {
        return from_ms;
    }
    from_ms + ((now_ms - from_ms) / unit_ms + 1) * unit_ms
}

fn worker_ticks(account: &AccountView, now_ms: i64, out: &mut Vec<i64>) {
    let worker = &account.worker;
    match worker.state {
        WorkerState::Backoff { until_ms: deadline }
        | WorkerState::Stopping {
            deadline_ms: deadline,
        } => {
            out.extend(countdown_tick(deadline, now_ms));
        }
        _ => {}
    }
    if let (true, Some(started)) = (worker.state.is_active(), worker.started_ms) {
        out.push(age_tick(started, now_ms, MINUTE_MS));
    }
}

fn task_ticks(task: &TaskView, now_ms: i64, out: &mut Vec<i64>) {
    if let TaskState::Cancelling {
        deadline_ms,
        force: false,
    } = task.state
    {
        out.extend(countdown_tick(deadline_ms, now_ms));
    }
    out.push(age_tick(task.started_ms, now_ms, MINUTE_MS));
}

/// The Aria2 pane's clock-driven text: a restart or stop countdown, the uptime
/// and the last exit's age. Download progress arrives with new snapshots.
fn aria2_ticks(aria2: &Aria2View, now_ms: i64, out: &mut Vec<i64>) {
    match aria2.state {
        Aria2State::Restarting {
            until_ms: deadline, ..
        }
        | Aria2State::Stopping {
            deadline_ms: deadline,
        } => out.extend(countdown_tick(deadline, now_ms)),
        _ => {}
    }
    if let (Aria2State::Running, Some(started)) = (&aria2.state, aria2.started_ms) {
        out.push(age_tick(started, now_ms, MINUTE_MS));
    }
    if let Some(exit) = &aria2.last_exit {
        out.push(age_tick(exit.at_ms, now_ms, MINUTE_MS));
    }
}

/// The next instant (unix ms) at which `draw` would paint different text, if any.
pub fn next_change_ms(app: &App, snapshot: &Snapshot, now_ms: i64) -> Option<i64> {
    let mut ticks = vec![age_tick(snapshot.instance.started_ms, now_ms, MINUTE_MS)];
    if let Some(notice) = app.visible_notice(snapshot, now_ms) {
        ticks.push(notice.at_ms + NOTICE_VISIBLE_MS);
    }
    match app.focus {
        // Only rows on screen: a row scrolled out of view changes nothing visible.
        Pane::Accounts => {
            let visible = rows::accounts(snapshot, &app.pane(Pane::Accounts).filter);
            let selected = app
                .pane(Pane::Accounts)
                .selected(&rows::account_keys(&visible));
            let shown = rows::on_screen(visible.len(), selected, app.page_rows());
            for account in &visible[shown] {
                worker_ticks(account, now_ms, &mut ticks);
            }
        }
        Pane::Tasks => {
            let visible = rows::tasks(snapshot, &app.pane(Pane::Tasks).filter);
            let selected = app.pane(Pane::Tasks).selected(&rows::task_keys(&visible));
            let shown = rows::on_screen(visible.len(), selected, app.page_rows());
            for task in &visible[shown] {
                task_ticks(task, now_ms, &mut ticks);
            }
        }
        Pane::Temp => {
            if let Some(temp) = &snapshot.temp {
                // "counted 3m ago" and "oldest 2h05m old"; not yet counted shows no age.
                if temp.refreshed_ms > 0 {
                    ticks.push(age_tick(temp.refreshed_ms, now_ms, MINUTE_MS));
                }
                if let Some(oldest) = temp.oldest_ms {
                    ticks.push(age_tick(oldest, now_ms, MINUTE_MS));
                }
            }
        }
        Pane::Aria2 => {
            if let Some(aria2) = &snapshot.aria2 {
                aria2_ticks(aria2, now_ms, &mut ticks);
            }
        }
        Pane::Logs => {}
    }
    for modal in &app.modals {
        match modal {
            Modal::Details(DetailsTarget::Account(id)) => {
                if let Some(account) = snapshot.accounts.iter().find(|a| &a.id == id) {
                    worker_ticks(account, now_ms, &mut ticks);
                    let worker = &account.worker;
                    let exits = worker.last_exit.iter().map(|e| e.at_ms);
                    let restarts = worker.restart_history.iter().map(|r| r.at_ms);
                    ticks.extend(
                        exits
                            .chain(restarts)
                            .map(|at| age_tick(at, now_ms, MINUTE_MS)),
                    );
                }
            }
            Modal::Details(DetailsTarget::Task(id)) => {
                if let Some(task) = snapshot.tasks.iter().find(|t| t.id == *id) {
                    task_ticks(task, now_ms, &mut ticks);
                }
            }
            _ => {}
        }
    }
    if let Some(shutdown) = &snapshot.shutdown {
        // "12s since the shutdown began" counts seconds.
        ticks.push(age_tick(shutdown.started_ms, now_ms, SECOND_MS));
        for phase in &shutdown.phases {
            let deadlines = phase.deadline_ms.into_iter();
            let pending = phase.pending.iter().filter_map(|item| item.deadline_ms);
            ticks.extend(
                deadlines
                    .chain(pending)
                    .filter_map(|d| countdown_tick(d, now_ms)),
            );
        }
    }
    ticks.into_iter().filter(|t| *t > now_ms).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures;

    #[test]
    fn countdowns_tick_when_their_seconds_text_changes() {
        assert_eq!(countdown_tick(10_000, 6_800), Some(7_000)); // "4s" -> "3s" at 7.0
        assert_eq!(countdown_tick(10_000, 7_000), Some(8_000));
        assert_eq!(countdown_tick(10_000, 9_999), Some(10_000)); // "1s" -> "0s"
        assert_eq!(countdown_tick(10_000, 10_000), None);
    }

    #[test]
    fn an_idle_screen_wakes_only_when_a_minute_rolls_over() {
        let snapshot = fixtures::idle_snapshot();
        let app = App::new((120, 40), true);
        let now = fixtures::NOW_MS;
        let next = next_change_ms(&app, &snapshot, now).unwrap();
        assert!(next - now > 1_000, "woke after {} ms", next - now);
        assert!(next - now <= MINUTE_MS);
    }

    #[test]
    fn only_rows_on_screen_wake_the_loop() {
        let mut snapshot = fixtures::idle_snapshot_with_accounts(1_000);
        let now = fixtures::NOW_MS;
        // Row 500's uptime rolls over to the next minute in 0.5 s.
        snapshot.accounts[500].worker.started_ms = Some(now - 2 * MINUTE_MS + 500);
        let mut app = App::new((120, 40), true);
        let next = next_change_ms(&app, &snapshot, now).unwrap();
        assert!(next - now > SECOND_MS, "row 500 is off screen");
        let keys = rows::account_keys(&rows::accounts(&snapshot, ""));
        app.panes[Pane::Accounts.index()].select(&keys, 500);
        assert_eq!(next_change_ms(&app, &snapshot, now), Some(now + 500));
    }

    #[test]
    fn a_visible_backoff_wakes_every_second_and_a_hidden_one_does_not() {
        let snapshot = fixtures::busy_snapshot();
        let now = fixtures::NOW_MS;
        let mut app = App::new((120, 40), true);
        let next = next_change_ms(&app, &snapshot, now).unwrap();
        assert!(next - now <= SECOND_MS, "accounts pane shows a countdown");
        app.focus = Pane::Aria2;
        let next = next_change_ms(&app, &snapshot, now).unwrap();
        assert!(next - now > SECOND_MS, "aria2 pane shows no countdown");
    }

    #[test]
    fn an_aria2_restart_countdown_wakes_every_second_only_in_its_pane() {
        let mut snapshot = fixtures::idle_snapshot();
        let now = fixtures::NOW_MS;
        let mut aria2 = fixtures::aria2_running();
        aria2.state = Aria2State::Restarting {
            until_ms: now + 2_300,
            reason: "crashed".into(),
        };
        assert!(aria2.state.has_countdown());
        snapshot.aria2 = Some(aria2);
        let mut app = App::new((120, 40), true);
        app.focus = Pane::Aria2;
        assert_eq!(next_change_ms(&app, &snapshot, now), Some(now + 300));
        // The header shows only "↻ restarting": elsewhere nothing ticks by the second.
        app.focus = Pane::Tasks;
        let next = next_change_ms(&app, &snapshot, now).unwrap();
        assert!(next - now > SECOND_MS, "woke after {} ms", next - now);
    }

    #[test]
    fn a_running_aria2_wakes_when_its_uptime_rolls_over_a_minute() {
        let mut snapshot = fixtures::idle_snapshot();
        let now = fixtures::NOW_MS;
        let mut aria2 = fixtures::aria2_running();
        aria2.last_exit = None;
        aria2.started_ms = Some(now - 59_500);
        snapshot.aria2 = Some(aria2);
        let mut app = App::new((120, 40), true);
        app.focus = Pane::Aria2;
        assert_eq!(next_change_ms(&app, &snapshot, now), Some(now + 500));
        app.focus = Pane::Accounts;
        assert_ne!(next_change_ms(&app, &snapshot, now), Some(now + 500));
    }

    #[test]
    fn the_temp_pane_wakes_when_an_age_it_shows_rolls_over_a_minute() {
        let mut snapshot = fixtures::busy_snapshot();
        let now = fixtures::NOW_MS;
        let temp = snapshot.temp.as_mut().unwrap();
        temp.oldest_ms = Some(now - 59_700);
        let mut app = App::new((120, 40), true);
        app.focus = Pane::Temp;
        assert_eq!(next_change_ms(&app, &snapshot, now), Some(now + 300));
        // Nothing counted yet and nothing stored: only the header's uptime ticks.
        let temp = snapshot.temp.as_mut().unwrap();
        temp.oldest_ms = None;
        temp.refreshed_ms = 0;
        let next = next_change_ms(&app, &snapshot, now).unwrap();
        assert!(next - now > 1_000, "woke after {} ms", next - now);
    }
}
