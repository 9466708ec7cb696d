//! Holding downloads while space is low: the active and waiting downloads
//! are paused (`aria2.pause`) and remembered; releasing unpauses exactly
//! those. A download the operator paused is never in the set (it was
//! already `paused` when the hold came), so it stays paused after the
//! release; one the operator resumed or removed meanwhile fails its unpause
//! harmlessly. The set is kept in the store (`aria2.held`): a run that ends
//! while holding leaves them paused in aria2's session, and the next run
//! resumes them once space allows.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::error::Aria2Error;
use super::rpc::Aria2Rpc;
use super::store::{SharedStore, save_held};

/// Gids paused by steward, not by the operator. The lock is held across the
/// RPC calls, so a hold and a release never interleave.
pub(crate) type Held = Arc<tokio::sync::Mutex<BTreeSet<String>>>;

/// More queued downloads than this are left to the next hold (one per sample while space stays low).
const WAITING_LIMIT: u64 = 1000;

/// Pauses every active or waiting download not held yet; returns the gids
/// newly paused. Called again while space stays low, it catches downloads
/// added since.
pub(crate) async fn hold(
    rpc: &Aria2Rpc,
    store: &SharedStore,
    held: &Held,
) -> Result<Vec<String>, Aria2Error> {
    let mut held = held.lock().await;
    let keys = json!(["gid", "status"]);
    let lists = rpc
        .multicall(vec![
            ("aria2.tellActive", vec![keys.clone()]),
            (
                "aria2.tellWaiting",
                vec![json!(0), json!(WAITING_LIMIT), keys],
            ),
        ])
        .await?;
    let mut gids = Vec::new();
    for list in lists {
        let Value::Array(items) = list? else { continue };
        for item in items {
            let status = item.get("status").and_then(Value::as_str);
            let gid = item.get("gid").and_then(Value::as_str);
            if let (Some("active" | "waiting"), Some(gid)) = (status, gid)
                && !held.contains(gid)
            {
                gids.push(gid.to_owned());
            }
        }
    }
    if gids.is_empty() {
        return Ok(gids);
    }
    let calls = gids
        .iter()
        .map(|gid| ("aria2.pause", vec![json!(gid)]))
        .collect();
    let results = rpc.multicall(calls).await?;
    // One that finished or was removed in between fails: not ours to resume.
    let paused: Vec<String> = gids
        .into_iter()
        .zip(results)
        .filter_map(|(gid, r)| r.ok().map(|_| gid))
        .collect();
    held.extend(paused.iter().cloned());
    if let Err(e) = save_held(store, &held) {
        tracing::warn!("downloads paused, but not recorded as held: {e}");
    }
    Ok(paused)
}

/// Unpauses every download `hold` paused; returns the gids resumed. The set
/// is emptied whatever each unpause answered.
pub(crate) async fn release(
    rpc: &Aria2Rpc,
    store: &SharedStore,
    held: &Held,
) -> Result<Vec<String>, Aria2Error> {
    let mut held = held.lock().await;
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let gids: Vec<String> = held.iter().cloned().collect();
    let calls = gids
        .iter()
        .map(|gid| ("aria2.unpause", vec![json!(gid)]))
        .collect();
    let results = rpc.multicall(calls).await?;
    held.clear();
    if let Err(e) = save_held(store, &held) {
        tracing::warn!("downloads resumed, but the held record stays: {e}");
    }
    Ok(gids
        .into_iter()
        .zip(results)
        .filter_map(|(gid, r)| r.ok().map(|_| gid))
        .collect())
}
