//! `steward sweep [--dry-run] [--json]`: scan for orphans, print the plan,
//! and apply it unless `--dry-run`. Works with or without a running
//! instance: the sweep takes `<data-dir>/sweep.lock` (a second sweeper
//! refuses, exit 1, naming the holder's pid) and runs scan and apply here,
//! where identity and lock checks protect everything a live instance holds
//! (see `crate::sweep`).

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::failure::{Failure, store_failure};
use super::globals::{Globals, lock_state};
use crate::lock::LockState;
use crate::model::{SweepAction, SweepOutcome};
use crate::store::{SharedStore, Store};
use crate::sweep::{self, SweepReport, SweepScope};
use crate::time::human_bytes;

/// The store, opened for writing (the hidden test drivers run on a data
/// dir nobody prepared: they make it private here).
pub(super) fn open_store(globals: &Globals) -> Result<SharedStore, Failure> {
    let root = globals.data_dir.root();
    crate::layout::create_private_dir(root).map_err(|e| {
        Failure::runtime(format!(
            "cannot create data dir {}: {e} (check permissions or use --data-dir)",
            root.display()
        ))
    })?;
    let store = Store::open(&globals.data_dir.db_file()).map_err(store_failure)?;
    Ok(Arc::new(Mutex::new(store)))
}

/// What a dry run reads: the store if there is one, else an empty one in
/// memory (a dry run creates no file).
fn read_store(globals: &Globals) -> Result<SharedStore, Failure> {
    let db = globals.data_dir.db_file();
    let store = if db.exists() {
        Store::open_readonly(&db)
    } else {
        Store::open_in_memory()
    }
    .map_err(store_failure)?;
    Ok(Arc::new(Mutex::new(store)))
}

pub(super) fn run(globals: &Globals, dry_run: bool, json: bool) -> Result<(), Failure> {
    let config = globals.config()?;
    if !globals.layout.exists {
        // Only a dry run gets here (a sweep prepares the dir): nothing to plan.
        return print_missing(globals, json);
    }
    let store = match dry_run {
        true => read_store(globals)?,
        false => open_store(globals)?,
    };
    let scope = SweepScope::new(&config, &globals.data_dir);
    let instance = match lock_state(globals)? {
        LockState::HeldBy(pid) => Some(pid),
        LockState::Free => None,
    };
    let report = sweep::run(&scope, &store, dry_run, &CancellationToken::new())
        .map_err(|e| Failure::runtime(e.to_string()))?;
    if json {
        let value = serde_json::json!({
            "dry_run": report.dry_run,
            "instance_running": instance.is_some(),
            "instance_pid": instance.flatten(),
            "plan": report.plan,
            "results": report.results,
            "summary": {
                "done": report.count(|o| matches!(o, SweepOutcome::Done { .. })),
                "skipped": report.count(|o| matches!(o, SweepOutcome::Skipped { .. })),
                "failed": report.count(|o| matches!(o, SweepOutcome::Failed { .. })),
                "freed": report.freed(),
            },
        });
        super::text::json_line(&value.to_string());
    } else {
        print_text(&report, instance);
    }
    if report.count(|o| matches!(o, SweepOutcome::Failed { .. })) > 0 {
        return Err(Failure::runtime(
            "some sweep items failed (see above and the log)",
        ));
    }
    Ok(())
}

fn print_missing(globals: &Globals, json: bool) -> Result<(), Failure> {
    let root = globals.data_dir.root();
    if json {
        let value = serde_json::json!({
            "dry_run": true,
            "instance_running": false,
            "instance_pid": null,
            "plan": crate::model::SweepPlan::default(),
            "results": [],
            "summary": {"done": 0, "skipped": 0, "failed": 0, "freed": 0},
        });
        super::text::json_line(&value.to_string());
    } else {
        super::text::outln!(
            "data dir {} does not exist: nothing to sweep",
            root.display()
        );
    }
    Ok(())
}

fn print_text(report: &SweepReport, instance: Option<Option<i32>>) {
    let plan = &report.plan;
    if let Some(pid) = instance {
        let pid = pid.map_or("?".to_owned(), |p| p.to_string());
        super::text::outln!("instance pid {pid} is running: what it holds is kept");
    }
    for note in &plan.notes {
        super::text::outln!("note: {note}");
    }
    if plan.items.is_empty() {
        super::text::outln!("nothing to sweep");
        return;
    }
    super::text::outln!(
        "sweep plan: {} items, {} to act on, {} to free",
        plan.items.len(),
        plan.actionable(),
        human_bytes(plan.total_bytes)
    );
    for item in &plan.items {
        let size = item.size.map(human_bytes).unwrap_or_else(|| "-".into());
        super::text::outln!(
            "  {:<6}  {:<21}  {:>9}  {}  ({})",
            item.action.label(),
            item.kind.label(),
            size,
            item.target,
            item.reason
        );
    }
    if report.dry_run {
        super::text::outln!("dry run: nothing was changed");
        return;
    }
    let count = |f: fn(&SweepOutcome) -> bool| report.count(f);
    super::text::outln!(
        "results: {} done, {} skipped, {} failed, {} freed (as measured by the plan)",
        count(|o| matches!(o, SweepOutcome::Done { .. })),
        count(|o| matches!(o, SweepOutcome::Skipped { .. })),
        count(|o| matches!(o, SweepOutcome::Failed { .. })),
        human_bytes(report.freed())
    );
    for r in &report.results {
        let left = plan
            .items
            .get(r.item)
            .is_some_and(|i| i.action == SweepAction::Leave);
        if left {
            continue;
        }
        super::text::outln!("  {}  {}", r.target, r.outcome.label());
    }
}
