//! Snapshots as JSON, encoded once per published snapshot however many
//! clients follow it (and not at all while nobody does).

use std::sync::{Arc, Mutex};

use crate::model::Snapshot;

/// The latest snapshot's JSON, shared by every connection.
#[derive(Default)]
pub(super) struct SnapshotJson {
    cached: Mutex<Option<(u64, Arc<str>)>>,
}

impl SnapshotJson {
    /// `snapshot` as JSON: from the cache when it is the one encoded last.
    pub(super) fn of(&self, snapshot: &Snapshot) -> Arc<str> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seq, json)) = cached.as_ref()
            && *seq == snapshot.seq
        {
            return json.clone();
        }
        // Plain data with string keys: encoding cannot fail.
        let json: Arc<str> = serde_json::to_string(snapshot).unwrap_or_default().into();
        *cached = Some((snapshot.seq, json.clone()));
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_encoding_per_seq() {
        let json = SnapshotJson::default();
        let mut snap = Snapshot {
            seq: 1,
            ..Default::default()
        };
        let first = json.of(&snap);
        assert!(Arc::ptr_eq(&first, &json.of(&snap)));
        snap.seq = 2;
        assert!(!Arc::ptr_eq(&first, &json.of(&snap)));
        assert!(json.of(&snap).contains(r#""seq":2"#));
    }
}
