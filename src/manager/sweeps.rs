//! Sweeps from the dashboard: preview (scan into a plan the operator reads),
//! apply exactly that plan (each item re-checked), show the results until
//! dismissed. Each scan or apply is a `Sweep` task, under the data dir's sweep
//! lock so it never runs beside a `steward sweep` from another shell.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::manager::snapshot::{NoticeLevel, SweepKind, SweepOutcome, SweepView, TaskKind};
use crate::orphans::{self, SweepLock, SweepScope};
use crate::store::SharedStore;
use crate::tasks::TaskTable;
use crate::temp::TempRegistry;
use crate::time::now_ms;

type Notices = mpsc::UnboundedSender<(NoticeLevel, String)>;

#[derive(Clone)]
pub(super) struct Sweeps {
    scope: SweepScope,
    store: SharedStore,
    tasks: TaskTable,
    temp: TempRegistry,
    notices: Notices,
    changed: Arc<Notify>,
    view: Arc<Mutex<Option<SweepView>>>,
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
    ) -> Self {
        Sweeps {
            scope,
            store,
            tasks,
            temp,
            notices,
            changed,
            view: Arc::default(),
            root: CancellationToken::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<SweepView>> {
        // Plain data: a panic mid-update leaves it readable.
        self.view.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Scans every kind into a plan and shows it.
    pub fn preview(&self) {
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
                    failed.plan.id = orphans::new_plan_id(now_ms());
                    me.set(Some(failed));
                    ticket.fail(e.to_string());
                    return;
                }
            };
            let plan = orphans::scan(&me.scope, &me.store, &SweepKind::ALL);
            me.set(Some(SweepView {
                plan,
                ..Default::default()
            }));
            ticket.finish();
        });
    }

    /// Applies the previewed plan `plan_id`; a stale or repeated id is refused.
    pub fn apply(&self, plan_id: u64) {
        let plan = {
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
                Ok(_lock) => (
                    orphans::apply(&me.scope, &me.store, &plan, &ticket.cancel),
                    None,
                ),
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

    pub fn dismiss(&self) {
        self.set(None);
    }
}
