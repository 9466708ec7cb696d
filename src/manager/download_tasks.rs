//! Download monitors: one task in the task table per live aria2 download,
//! derived from the aria2 view on every poll. Cancelling the task removes the
//! download from aria2 (`aria2.remove`); a download that ends ends its task.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::aria2::Aria2Handle;
use crate::model::{Aria2View, TaskKind};
use crate::tasks::{TaskTable, TaskTicket};

pub(super) struct DownloadTasks {
    tasks: TaskTable,
    /// Parent of every monitor's token: the shutdown's "cancel tasks" phase
    /// cancels them through the table like any other task.
    root: CancellationToken,
    live: HashMap<String, TaskTicket>,
}

impl DownloadTasks {
    pub fn new(tasks: TaskTable) -> Self {
        DownloadTasks {
            tasks,
            root: CancellationToken::new(),
            live: HashMap::new(),
        }
    }

    /// Brings the monitors in line with the downloads aria2 reports.
    pub fn sync(&mut self, view: &Aria2View, aria2: &Aria2Handle) {
        let current: HashMap<&str, _> = view
            .downloads
            .iter()
            .filter(|d| d.status.is_live())
            .map(|d| (d.gid.as_str(), d))
            .collect();
        let ended: Vec<String> = self
            .live
            .keys()
            .filter(|gid| !current.contains_key(gid.as_str()))
            .cloned()
            .collect();
        for gid in ended {
            if let Some(ticket) = self.live.remove(&gid) {
                ticket.finish();
            }
        }
        for (gid, download) in current {
            if self.live.contains_key(gid) {
                continue;
            }
            let ticket = self.tasks.register(
                TaskKind::Download,
                format!("download {}", download.name),
                download.account.clone(),
                &self.root,
            );
            let (cancel, aria2, gid_owned) =
                (ticket.cancel.clone(), aria2.clone(), gid.to_string());
            tokio::spawn(async move {
                cancel.cancelled().await;
                match aria2.remove(&gid_owned).await {
                    Ok(()) => info!(gid = %gid_owned, "download removed (task cancelled)"),
                    Err(e) => warn!(gid = %gid_owned, error = %e, "cannot remove download"),
                }
            });
            self.live.insert(gid.to_string(), ticket);
        }
    }

    /// Ends every monitor (aria2 stopped: nothing is monitored any more).
    pub fn end_all(&mut self) {
        for (_, ticket) in self.live.drain() {
            ticket.finish();
        }
    }
}
