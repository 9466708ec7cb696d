//! Download owners. aria2 has no free-form tag on a download, so the account
//! a download was added for is kept in the store as `aria2.owner.<gid>` (gids
//! survive restarts: the session file keeps them). This cache resolves owners
//! for each poll without a store read per download per second.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::store::{SharedStore, owner_of};
use crate::model::DownloadView;

/// How long "no owner recorded" is believed before asking the store again
/// (an owner recorded by `steward download add` in another process shows up within this).
const RECHECK_UNKNOWN: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct OwnerCache {
    known: HashMap<String, String>,
    unknown: HashMap<String, Instant>,
}

impl OwnerCache {
    /// Notes an owner just recorded by this process.
    pub fn insert(&mut self, gid: &str, account: &str) {
        self.unknown.remove(gid);
        self.known.insert(gid.to_owned(), account.to_owned());
    }

    /// Fills `account` of every download; forgets gids no longer listed.
    pub fn resolve(&mut self, store: &SharedStore, downloads: &mut [DownloadView]) {
        let now = Instant::now();
        for d in downloads.iter_mut() {
            if let Some(owner) = self.known.get(&d.gid) {
                d.account = Some(owner.clone());
                continue;
            }
            if self
                .unknown
                .get(&d.gid)
                .is_some_and(|at| now.duration_since(*at) < RECHECK_UNKNOWN)
            {
                continue;
            }
            match owner_of(store, &d.gid) {
                Ok(Some(owner)) => {
                    self.unknown.remove(&d.gid);
                    self.known.insert(d.gid.clone(), owner.clone());
                    d.account = Some(owner);
                }
                Ok(None) => {
                    self.unknown.insert(d.gid.clone(), now);
                }
                Err(e) => tracing::debug!("reading the owner of {}: {e}", d.gid),
            }
        }
        let listed: std::collections::HashSet<&str> =
            downloads.iter().map(|d| d.gid.as_str()).collect();
        self.known.retain(|gid, _| listed.contains(gid.as_str()));
        self.unknown.retain(|gid, _| listed.contains(gid.as_str()));
    }
}
