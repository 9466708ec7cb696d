//! The fleet: one supervisor per account, kept in line with the accounts
//! table. `reconcile` is the only way accounts appear, change or go, whether
//! the change came from the TUI, the CLI in another shell, or start-up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::accounts::spec::WorkerSpec;
use crate::accounts::supervisor::{Op, SupervisorContext, SupervisorHandle, spawn_supervisor};
use crate::config::Config;
use crate::model::AccountView;
use crate::paths::{DataDir, session_lock_of};
use crate::store::AccountRow;
use crate::trash;

/// How long a removal waits, after the worker's group is gone, for the last
/// users of the session to let go (a process being forked for another
/// account holds copies of steward's descriptors until its exec; a
/// descendant that escaped the group may hold the lock for longer).
const RETIRE_WAIT: Duration = Duration::from_secs(5);

struct Member {
    row: AccountRow,
    spec: WorkerSpec,
    handle: SupervisorHandle,
}

pub struct Fleet {
    ctx: SupervisorContext,
    config: Config,
    data_dir: DataDir,
    self_exe: PathBuf,
    /// Variables every worker gets beside its own (aria2's RPC coordinates).
    shared_env: Vec<(String, String)>,
    /// Secrets that are not an account's (aria2's RPC secret), kept in the
    /// mask whatever the accounts.
    fixed_secrets: Vec<String>,
    members: BTreeMap<String, Member>,
    /// Where removals run, so the manager's end waits for them (and their record).
    actions: TaskTracker,
}

/// What a reconcile did, for notices.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub updated: Vec<String>,
}

impl Fleet {
    pub fn new(
        ctx: SupervisorContext,
        config: Config,
        data_dir: DataDir,
        self_exe: PathBuf,
        shared_env: Vec<(String, String)>,
        fixed_secrets: Vec<String>,
        actions: TaskTracker,
    ) -> Self {
        Fleet {
            ctx,
            config,
            data_dir,
            self_exe,
            shared_env,
            fixed_secrets,
            members: BTreeMap::new(),
            actions,
        }
    }

    /// Brings the supervisors in line with `rows` (the whole accounts table).
    pub fn reconcile(&mut self, rows: Vec<AccountRow>) -> Changes {
        let mut changes = Changes::default();
        let wanted: BTreeMap<String, AccountRow> =
            rows.into_iter().map(|r| (r.id.clone(), r)).collect();
        // Before any worker of a new or changed account starts: its first
        // line is masked already. A removed account's secret stays masked
        // while its worker may still print (until the next reconcile).
        let mut secrets: Vec<&str> = self.fixed_secrets.iter().map(String::as_str).collect();
        secrets.extend(wanted.values().filter_map(|r| r.secret.as_deref()));
        secrets.extend(
            self.members
                .values()
                .filter_map(|m| m.row.secret.as_deref()),
        );
        self.ctx.mask.set(secrets);
        let gone: Vec<String> = self
            .members
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(member) = self.members.remove(&id) {
                self.retire(member);
                changes.removed.push(id);
            }
        }
        for (id, row) in wanted {
            let mut spec = WorkerSpec::resolve(&self.config, &self.data_dir, &row, &self.self_exe);
            spec.env.extend(self.shared_env.iter().cloned());
            match self.members.get_mut(&id) {
                None => {
                    let handle = spawn_supervisor(spec.clone(), self.ctx.clone(), row.enabled);
                    info!(account = %id, enabled = row.enabled, "account added");
                    self.members
                        .insert(id.clone(), Member { row, spec, handle });
                    changes.added.push(id);
                }
                Some(member) => {
                    let mut touched = false;
                    if member.spec != spec {
                        let _ = member
                            .handle
                            .ops
                            .try_send(Op::Replace(Box::new(spec.clone())));
                        member.spec = spec;
                        touched = true;
                    }
                    if member.row.enabled != row.enabled {
                        let op = if row.enabled {
                            Op::Start
                        } else {
                            Op::Stop {
                                done: None,
                                asked: None,
                            }
                        };
                        let _ = member.handle.ops.try_send(op);
                        touched = true;
                    }
                    if member.row != row {
                        member.row = row;
                        touched = true;
                    }
                    if touched {
                        changes.updated.push(id);
                    }
                }
            }
        }
        changes
    }

    /// Removal: stop the worker to the end, wait until nobody holds the
    /// account's lock or has its session file open, move the session file
    /// (with its SQLite companions) to trash, record it. The lock file stays:
    /// see `session_in_use`. Runs beside the loop; the account's own actor
    /// serialises it after anything already queued.
    fn retire(&self, member: Member) {
        let data_dir = self.data_dir.clone();
        let store = self.ctx.store.clone();
        let id = member.row.id.clone();
        self.actions.spawn(async move {
            member.handle.remove().await;
            let session = data_dir.session_file(&id);
            let deadline = tokio::time::Instant::now() + RETIRE_WAIT;
            let users = loop {
                let users = crate::lock::session_users(&session);
                if users.is_empty() || tokio::time::Instant::now() >= deadline {
                    break users;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let result = if users.is_empty() {
                // The lock file stays (see `SessionLock`).
                trash::move_to_trash(&data_dir, &session)
            } else {
                Err(trash::TrashError::InUse {
                    path: session.clone(),
                    pids: users,
                })
            };
            let (detail, outcome) = match &result {
                Ok(Some(path)) => (
                    format!("session file moved to {}", path.display()),
                    "ok".to_string(),
                ),
                Ok(None) => ("no session file".to_string(), "ok".to_string()),
                Err(e) => (e.to_string(), "failed".to_string()),
            };
            if let Err(e) = &result {
                warn!(account = %id, error = %e, "cannot move session file to trash");
            }
            info!(account = %id, %detail, "account removed");
            let store = store.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = store.record_event("account.remove", &id, &detail, &outcome) {
                warn!(account = %id, error = %e, "cannot record event");
            }
        });
    }

    pub fn handle(&self, id: &str) -> Option<&SupervisorHandle> {
        self.members.get(id).map(|m| &m.handle)
    }

    pub fn handles(&self) -> Vec<(String, SupervisorHandle)> {
        self.members
            .iter()
            .map(|(id, m)| (id.clone(), m.handle.clone()))
            .collect()
    }

    pub fn views(&self) -> Vec<AccountView> {
        self.members
            .values()
            .map(|m| AccountView {
                id: m.row.id.clone(),
                name: m.row.name.clone(),
                enabled: m.row.enabled,
                secret_len: m.row.secret.as_ref().map(|s| s.chars().count()),
                worker: m.handle.view.borrow().clone(),
            })
            .collect()
    }

    /// Pids of live workers with their lock files, for sampling.
    pub fn live_workers(&self) -> Vec<(i32, PathBuf)> {
        self.members
            .values()
            .filter_map(|m| {
                let view = m.handle.view.borrow();
                view.pid
                    .map(|pid| (pid, session_lock_of(&view.session_file)))
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}
