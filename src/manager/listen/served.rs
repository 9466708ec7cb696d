//! `Served`: what every connection of the control socket works with (its
//! own leaf, so the listener and the connections need not name each other).

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::feed;
use crate::manager::handle::Call;
use crate::model::{Snapshot, Welcome};

/// What every connection works with. Deliberately not a `ManagerHandle`: a
/// client of the socket never holds the manager's command sender, whose
/// last drop means "nobody is left to ask for a shutdown".
#[derive(Clone)]
pub(crate) struct Served {
    pub(crate) calls: mpsc::Sender<Call>,
    pub(crate) snapshots: watch::Receiver<Arc<Snapshot>>,
    pub(super) json: Arc<feed::SnapshotJson>,
    /// The instance's part of every welcome (the role is the client's).
    pub(super) welcome: Arc<Welcome>,
    /// Cancelled when the instance has stopped: each connection sends what
    /// it has not sent of the last snapshot, then closes.
    pub(super) closing: CancellationToken,
}

impl Served {
    pub(crate) fn new(
        calls: mpsc::Sender<Call>,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        welcome: Welcome,
    ) -> Served {
        Served {
            calls,
            snapshots,
            json: Arc::default(),
            welcome: Arc::new(welcome),
            closing: CancellationToken::new(),
        }
    }
}
