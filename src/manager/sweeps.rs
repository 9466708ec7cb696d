//! Sweeps from the dashboard: preview (scan into a plan the operator reads),
//! apply exactly that plan (each item re-checked), show the results until
//! dismissed. Each scan or apply is a `Sweep` task, under the data dir's sweep
//! lock so it never runs beside a `steward sweep` from another shell.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::lock::SweepLock;
use crate::model::{
    NoticeLevel, SweepItemResult, SweepKind, SweepOutcome, SweepTotals, SweepView, TaskKind,
};
use crate::store::SharedStore;
use crate::sweep::{self, SweepScope};
use crate::tasks::TaskTable;
use crate::temp::TempRegistry;
use crate::time::now_ms;

type Notices = mpsc::UnboundedSender<(NoticeLevel, String)>;

/// What this run's sweeps removed, shared by every place that applies one
/// (the start-up sweep, its retries, the dashboard's): the metrics' counters.
#[derive(Clone, Default)]
pub(super) struct SweepTally(Arc<Mutex<SweepTotals>>);

impl SweepTally {
    pub fn add_run(&self, results: &[SweepItemResult]) {
        // Plain counters: a panic mid-update leaves them readable.
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add_run(results);
    }

    pub fn totals(&self) -> SweepTotals {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[derive(Clone)]
pub(super) struct Sweeps {
    scope: SweepScope,
    store: SharedStore,
    tasks: TaskTable,
    temp: TempRegistry,
    notices: Notices,
    changed: Arc<Notify>,
    view: Arc<Mutex<Option<SweepView>>>,
    tally: SweepTally,
    /// Parent of every sweep task's token (the task table cancels each one).
    root: CancellationToken,
}

impl Sweeps {
    pub fn new(
        scope: SweepScope,
        store: SharedStore,
        tasks: TaskTable,
        temp: TempRegistry,
        notices: Notices,
        changed: Arc<Notify>,
        tally: SweepTally,
    ) -> Self {
        Sweeps {
            scope,
            store,
            tasks,
            temp,
            notices,
            changed,
            view: Arc::default(),
            tally,
            root: CancellationToken::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<SweepView>> {
        // Plain data: a panic mid-update leaves it readable.
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What this run's sweeps removed so far.
    pub fn totals(&self) -> SweepTotals {
        self.tally.totals()
    }

    pub fn view(&self) -> Option<SweepView> {
        self.lock().clone()
    }

    fn set(&self, view: Option<SweepView>) {
        *self.lock() = view;
        self.changed.notify_one();
    }

    fn tell(&self, level: NoticeLevel, text: String) {
        let _ = self.notices.send((level, text));
    }

    /// Scans every kind into a plan and shows it; not while a plan is being
    /// applied (the new view would replace the one its results go to).
    pub fn preview(&self) {
        if self.lock().as_ref().is_some_and(|v| v.applying) {
            self.tell(
                NoticeLevel::Error,
                "a sweep is being applied: its results come first".into(),
            );
            return;
        }
        let me = self.clone();
        let ticket = self
            .tasks
            .register(TaskKind::Sweep, "sweep scan", None, &self.root);
        tokio::task::spawn_blocking(move || {
            let _lock = match SweepLock::try_acquire(&me.scope.data_dir) {
                Ok(lock) => lock,
                Err(e) => {
                    me.tell(NoticeLevel::Error, format!("cannot sweep: {e}"));
                    let mut failed = SweepView {
                        error: Some(e.to_string()),
                        ..Default::default()
                    };
                    // A fresh id: a reader can tell this failure from an older one.
                    failed.plan.id = sweep::new_plan_id(now_ms());
                    me.set(Some(failed));
                    ticket.fail(e.to_string());
                    return;
                }
            };
            let plan = sweep::scan(&me.scope, &me.store, &SweepKind::ALL);
            me.set(Some(SweepView {
                plan,
                ..Default::default()
            }));
            ticket.finish();
        });
    }

    /// Applies the previewed plan `plan_id`; a stale or repeated id is refused.
    pub fn apply(&self, plan_id: u64) {
        let mut plan = {
            let mut view = self.lock();
            match view.as_mut() {
                Some(v) if v.plan.id == plan_id && !v.applying && v.finished_ms.is_none() => {
                    v.applying = true;
                    v.plan.clone()
                }
                Some(v) => {
                    // Another plan is on screen, or this one ran already: say so in
                    // the view the operator is looking at.
                    if v.plan.id != plan_id {
                        v.error =
                            Some("that sweep plan is no longer current: preview again".into());
                    }
                    drop(view);
                    self.changed.notify_one();
                    self.tell(
                        NoticeLevel::Error,
                        "that sweep plan is no longer current: preview again".into(),
                    );
                    return;
                }
                None => {
                    drop(view);
                    self.tell(
                        NoticeLevel::Error,
                        "no sweep plan is previewed: press o to scan".into(),
                    );
                    return;
                }
            }
        };
        self.changed.notify_one();
        let me = self.clone();
        let ticket = self
            .tasks
            .register(TaskKind::Sweep, "sweep apply", None, &self.root);
        tokio::task::spawn_blocking(move || {
            let (results, error) = match SweepLock::try_acquire(&me.scope.data_dir) {
                Ok(_lock) => {
                    let mut results = sweep::apply(&me.scope, &me.store, &plan, &ticket.cancel);
                    // The temp of the leftover workers just stopped: this
                    // sweep's to free, not the next one's.
                    sweep::sweep_after_stops(
                        &me.scope,
                        &me.store,
                        &mut plan,
                        &mut results,
                        &ticket.cancel,
                    );
                    me.tally.add_run(&results);
                    (results, None)
                }
                Err(e) => {
                    me.tell(NoticeLevel::Error, format!("cannot sweep: {e}"));
                    (Vec::new(), Some(e.to_string()))
                }
            };
            let done = results
                .iter()
                .filter(|r| matches!(r.outcome, SweepOutcome::Done { .. }))
                .count();
            me.tell(
                NoticeLevel::Info,
                format!("sweep applied: {done} of {} items done", results.len()),
            );
            {
                let mut view = me.lock();
                if let Some(v) = view.as_mut().filter(|v| v.plan.id == plan.id) {
                    v.applying = false;
                    // With the items of the follow-up scan the results name.
                    v.plan = plan;
                    v.results = results;
                    v.error = error;
                    v.finished_ms = Some(now_ms());
                }
            }
            me.changed.notify_one();
            ticket.finish();
            let _ = me.temp.refresh_stats();
        });
    }

    /// Drops the sweep on screen, but never one being applied: its results
    /// are still to come and the operator sees them with `o`.
    pub fn dismiss(&self) {
        let mut view = self.lock();
        if view.as_ref().is_some_and(|v| v.applying) {
            return;
        }
        *view = None;
        drop(view);
        self.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::paths::DataDir;
    use crate::store::Store;

    fn sweeps(dir: &std::path::Path) -> (Sweeps, mpsc::UnboundedReceiver<(NoticeLevel, String)>) {
        let data_dir = DataDir::new(dir);
        let store: SharedStore = Arc::new(std::sync::Mutex::new(
            Store::open(&data_dir.db_file()).unwrap(),
        ));
        let config = Config::default();
        let temp =
            TempRegistry::open(&data_dir, config.temp_root(&data_dir), store.clone()).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let scope = SweepScope::new(&config, &data_dir);
        let sweeps = Sweeps::new(
            scope,
            store,
            TaskTable::new(),
            temp,
            tx,
            Arc::default(),
            SweepTally::default(),
        );
        (sweeps, rx)
    }

    #[tokio::test]
    async fn a_sweep_being_applied_is_neither_dismissed_nor_replaced_by_a_preview() {
        let dir = tempfile::tempdir().unwrap();
        let (sweeps, mut notices) = sweeps(dir.path());
        let applying = SweepView {
            applying: true,
            ..Default::default()
        };
        sweeps.set(Some(applying.clone()));

        sweeps.dismiss();
        assert_eq!(
            sweeps.view(),
            Some(applying.clone()),
            "its results are still to come"
        );
        sweeps.preview();
        assert_eq!(sweeps.view(), Some(applying), "no scan replaces it");
        let (level, text) = notices.try_recv().unwrap();
        assert_eq!(level, NoticeLevel::Error);
        assert!(text.contains("being applied"), "{text}");

        // Once it finished, the results go with a dismiss.
        sweeps.lock().as_mut().unwrap().applying = false;
        sweeps.dismiss();
        assert_eq!(sweeps.view(), None);
    }
}
