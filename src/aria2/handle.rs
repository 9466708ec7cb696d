//! `Aria2Handle`: what the manager (and the TUI, through it) holds of the
//! aria2 subsystem: the published view, the RPC coordinates for workers, and
//! the operations (restart, stop, add / remove downloads, save the session).

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::downloads;
use super::error::Aria2Error;
use super::rpc::Aria2Rpc;
use super::secret::RpcSecret;
use super::store::SharedStore;
use crate::model::Aria2View;

/// Messages from handles to the supervisor task.
#[derive(Debug)]
pub(crate) enum Ctl {
    Restart(oneshot::Sender<Result<(), Aria2Error>>),
    Stop {
        deadline: Duration,
        reply: oneshot::Sender<Result<(), Aria2Error>>,
    },
    /// Poll now (a download was just added or removed).
    Poke,
    /// An owner was just recorded by this process.
    Owner {
        gid: String,
        account: String,
    },
}

/// How workers reach aria2: `ARIA2_RPC_URL` and `ARIA2_RPC_SECRET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcInfo {
    pub url: String,
    pub secret: RpcSecret,
}

impl RpcInfo {
    /// The environment variables a worker gets (the secret's value included: handle with care).
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("ARIA2_RPC_URL", self.url.clone()),
            ("ARIA2_RPC_SECRET", self.secret.expose().to_owned()),
        ]
    }
}

/// A handle on the aria2 supervisor task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Aria2Handle {
    pub(crate) ctl: mpsc::Sender<Ctl>,
    pub(crate) view: watch::Receiver<Aria2View>,
    pub(crate) rpc: watch::Receiver<Option<Aria2Rpc>>,
    pub(crate) done: watch::Receiver<bool>,
    pub(crate) store: SharedStore,
    pub(crate) download_dir: PathBuf,
    /// Downloads paused for low space (see `hold_downloads`).
    pub(crate) held: super::hold::Held,
}

impl Aria2Handle {
    /// The published view; changes on every state change and poll.
    pub fn view(&self) -> watch::Receiver<Aria2View> {
        self.view.clone()
    }

    /// The RPC client of the running instance, `None` while aria2c is not confirmed running.
    pub fn rpc(&self) -> Option<Aria2Rpc> {
        self.rpc.borrow().clone()
    }

    /// Changes whenever aria2c (re)starts or stops. The port and secret stay the
    /// same across restarts within one steward run unless the port was taken.
    pub fn rpc_changes(&self) -> watch::Receiver<Option<Aria2Rpc>> {
        self.rpc.clone()
    }

    /// URL and secret for a worker's environment, while aria2c runs.
    pub fn rpc_info(&self) -> Option<RpcInfo> {
        self.rpc().map(|rpc| RpcInfo {
            url: rpc.url(),
            secret: rpc.secret().clone(),
        })
    }

    fn running_rpc(&self) -> Result<Aria2Rpc, Aria2Error> {
        self.rpc().ok_or_else(|| {
            let view = self.view.borrow();
            match &view.state {
                crate::model::Aria2State::Disabled => Aria2Error::Disabled,
                state => Aria2Error::NotRunning {
                    state: state.label(crate::time::now_ms()),
                },
            }
        })
    }

    async fn request(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), Aria2Error>>) -> Ctl,
    ) -> Result<(), Aria2Error> {
        let (tx, rx) = oneshot::channel();
        self.ctl
            .send(make(tx))
            .await
            .map_err(|_| Aria2Error::Gone)?;
        rx.await.map_err(|_| Aria2Error::Gone)?
    }

    /// Save the session, stop the process group, start again. Returns once the
    /// new instance answers (or the start failed). Concurrent requests are
    /// merged into one restart.
    pub async fn restart(&self) -> Result<(), Aria2Error> {
        self.request(Ctl::Restart).await
    }

    /// Save the session, SIGTERM the group, wait up to `deadline`, SIGKILL what
    /// is left. aria2 stays stopped until `restart`.
    pub async fn stop(&self, deadline: Duration) -> Result<(), Aria2Error> {
        self.request(|reply| Ctl::Stop { deadline, reply }).await
    }

    /// `aria2.saveSession` (the shutdown plan's "save aria2 session" phase).
    pub async fn save_session(&self) -> Result<(), Aria2Error> {
        self.running_rpc()?.save_session().await
    }

    /// Adds `url` into the download dir (or `subdir` below it), owned by `account`; returns the gid.
    pub async fn add_download(
        &self,
        url: &str,
        account: Option<String>,
        subdir: Option<String>,
    ) -> Result<String, Aria2Error> {
        let rpc = self.running_rpc()?;
        let gid = downloads::add(
            &rpc,
            &self.store,
            &self.download_dir,
            url,
            account.as_deref(),
            subdir.as_deref(),
        )
        .await?;
        if let Some(account) = account {
            let _ = self.ctl.try_send(Ctl::Owner {
                gid: gid.clone(),
                account,
            });
        }
        let _ = self.ctl.try_send(Ctl::Poke);
        Ok(gid)
    }

    /// Polls aria2c now rather than at the next period (e.g. after another
    /// process added a download: the idle period is seconds long).
    pub fn poke(&self) {
        let _ = self.ctl.try_send(Ctl::Poke);
    }

    /// Cancels a download (`aria2.remove`), or forgets a stopped one.
    pub async fn remove(&self, gid: &str) -> Result<(), Aria2Error> {
        let rpc = self.running_rpc()?;
        downloads::remove(&rpc, &self.store, gid).await?;
        let _ = self.ctl.try_send(Ctl::Poke);
        Ok(())
    }

    /// Pauses the active and waiting downloads (low space), remembering
    /// them; returns the gids newly paused. Downloads already paused (by the
    /// operator) are left alone; called again, it pauses those started since.
    pub async fn hold_downloads(&self) -> Result<Vec<String>, Aria2Error> {
        let rpc = self.running_rpc()?;
        let paused = super::hold::hold(&rpc, &self.store, &self.held).await?;
        if !paused.is_empty() {
            self.poke();
        }
        Ok(paused)
    }

    /// Whether downloads are held (this run's, or an earlier one's: see
    /// `release_held_downloads`). False while a hold or release is under way.
    pub fn holds_downloads(&self) -> bool {
        self.held.try_lock().is_ok_and(|held| !held.is_empty())
    }

    /// Unpauses exactly the downloads `hold_downloads` paused (in this run
    /// or, recorded in the store, an earlier one); returns the gids resumed.
    pub async fn release_held_downloads(&self) -> Result<Vec<String>, Aria2Error> {
        let rpc = self.running_rpc()?;
        let resumed = super::hold::release(&rpc, &self.store, &self.held).await?;
        if !resumed.is_empty() {
            self.poke();
        }
        Ok(resumed)
    }

    /// Waits until the supervisor task has ended (after the cancel token fired:
    /// aria2c is stopped by then).
    pub async fn join(&self) {
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }
}
