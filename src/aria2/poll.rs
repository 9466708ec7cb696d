//! The periodic poll: one `system.multicall` (global stat + active + waiting +
//! stopped, asking only for the keys the pane shows) turned into view types.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::error::Aria2Error;
use super::rpc::Aria2Rpc;
use crate::model::{Aria2Global, DownloadStatus, DownloadView};

/// The fields asked of `tellActive` / `tellWaiting` / `tellStopped`.
pub const KEYS: &[&str] = &[
    "gid",
    "status",
    "totalLength",
    "completedLength",
    "downloadSpeed",
    "errorCode",
    "errorMessage",
    "files",
];

/// At most this many waiting and stopped downloads are listed.
pub const LIST_LIMIT: u64 = 100;

/// One poll's result. `account` of every download is left `None` (owners are resolved by the caller).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Poll {
    pub global: Aria2Global,
    /// Active, then waiting, then stopped (newest first).
    pub downloads: Vec<DownloadView>,
}

/// One round trip: `getGlobalStat`, `tellActive`, `tellWaiting(0, N)`, `tellStopped(-1, N)`.
pub async fn poll(rpc: &Aria2Rpc) -> Result<Poll, Aria2Error> {
    let results = rpc
        .multicall(vec![
            ("aria2.getGlobalStat", vec![]),
            ("aria2.tellActive", vec![json!(KEYS)]),
            (
                "aria2.tellWaiting",
                vec![json!(0), json!(LIST_LIMIT), json!(KEYS)],
            ),
            // A negative offset counts from the newest, in reverse order.
            (
                "aria2.tellStopped",
                vec![json!(-1), json!(LIST_LIMIT), json!(KEYS)],
            ),
        ])
        .await?;
    let mut results = results.into_iter();
    let global = match results.next() {
        Some(v) => parse_global(&v?),
        None => return Err(missing()),
    };
    let mut downloads = Vec::new();
    for _ in 0..3 {
        let list = results.next().ok_or_else(missing)??;
        if let Value::Array(items) = list {
            downloads.extend(items.iter().filter_map(parse_download));
        }
    }
    Ok(Poll { global, downloads })
}

fn missing() -> Aria2Error {
    Aria2Error::Protocol {
        method: "system.multicall".into(),
        detail: "fewer results than calls".into(),
    }
}

/// aria2 sends numbers as decimal strings.
fn num(v: &Value, key: &str) -> u64 {
    match v.get(key) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

pub fn parse_global(v: &Value) -> Aria2Global {
    Aria2Global {
        download_speed: num(v, "downloadSpeed"),
        upload_speed: num(v, "uploadSpeed"),
        num_active: num(v, "numActive"),
        num_waiting: num(v, "numWaiting"),
        num_stopped: num(v, "numStoppedTotal").max(num(v, "numStopped")),
    }
}

pub fn parse_status(s: &str) -> Option<DownloadStatus> {
    Some(match s {
        "active" => DownloadStatus::Active,
        "waiting" => DownloadStatus::Waiting,
        "paused" => DownloadStatus::Paused,
        "error" => DownloadStatus::Error,
        "complete" => DownloadStatus::Complete,
        "removed" => DownloadStatus::Removed,
        _ => return None,
    })
}

/// One `tell*` entry → `DownloadView` (owner unset). `None` without gid or a known status.
pub fn parse_download(v: &Value) -> Option<DownloadView> {
    let gid = v.get("gid")?.as_str()?.to_owned();
    let status = parse_status(v.get("status")?.as_str()?)?;
    let total = num(v, "totalLength");
    let completed = num(v, "completedLength");
    let speed = num(v, "downloadSpeed");
    let first = v.get("files").and_then(|f| f.get(0));
    let path = first
        .and_then(|f| f.get("path"))
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let uri = first
        .and_then(|f| f.get("uris"))
        .and_then(|u| u.get(0))
        .and_then(|u| u.get("uri"))
        .and_then(Value::as_str);
    let name = match (&path, uri) {
        (Some(p), _) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string()),
        (None, Some(uri)) => uri_name(uri),
        (None, None) => gid.clone(),
    };
    let eta_secs = (status == DownloadStatus::Active && speed > 0 && total > completed)
        .then(|| (total - completed).div_ceil(speed));
    let error = (status == DownloadStatus::Error).then(|| {
        let code = v.get("errorCode").and_then(Value::as_str).unwrap_or("?");
        let message = v.get("errorMessage").and_then(Value::as_str).unwrap_or("");
        format!("error {code}: {message}")
            .trim_end_matches([' ', ':'])
            .to_owned()
    });
    Some(DownloadView {
        gid,
        status,
        name,
        path,
        total,
        completed,
        speed,
        eta_secs,
        account: None,
        error,
    })
}

/// The last path segment of a URL, without query or fragment; the URL itself when it has none.
fn uri_name(uri: &str) -> String {
    let no_query = uri.split(['?', '#']).next().unwrap_or(uri);
    let after_scheme = no_query
        .split_once("://")
        .map_or(no_query, |(_, rest)| rest);
    match after_scheme.split_once('/') {
        Some((_, path)) => match path.rsplit('/').next() {
            Some(last) if !last.is_empty() => last.to_owned(),
            _ => uri.to_owned(),
        },
        None => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_active_download() {
        let v = json!({
            "gid": "2089b05ecca3d829", "status": "active",
            "totalLength": "1000", "completedLength": "250", "downloadSpeed": "100",
            "files": [{"path": "/d/file.bin", "uris": [{"uri": "http://h/x/file.bin"}]}]
        });
        let d = parse_download(&v).unwrap();
        assert_eq!(d.name, "file.bin");
        assert_eq!(d.path, Some(PathBuf::from("/d/file.bin")));
        assert_eq!(d.eta_secs, Some(8));
        assert_eq!(d.progress(), Some(0.25));
        assert_eq!(d.error, None);
    }

    #[test]
    fn names_come_from_the_url_before_the_path_is_known() {
        let v = json!({"gid": "g", "status": "waiting",
            "files": [{"path": "", "uris": [{"uri": "http://h/a/b.iso?x=1"}]}]});
        let d = parse_download(&v).unwrap();
        assert_eq!(d.name, "b.iso");
        assert_eq!(d.path, None);
        assert_eq!(d.eta_secs, None);
        assert_eq!(uri_name("http://host"), "http://host");
        assert_eq!(uri_name("http://host/"), "http://host/");
    }

    #[test]
    fn errors_carry_code_and_message() {
        let v = json!({"gid": "g", "status": "error", "errorCode": "3",
            "errorMessage": "Resource not found", "files": []});
        let d = parse_download(&v).unwrap();
        assert_eq!(d.error.as_deref(), Some("error 3: Resource not found"));
        assert_eq!(d.status, DownloadStatus::Error);
        assert!(parse_download(&json!({"gid": "g", "status": "weird"})).is_none());
    }

    #[test]
    fn global_stat_numbers_are_strings() {
        let g = parse_global(&json!({"downloadSpeed": "42", "numActive": "1",
            "numWaiting": "2", "numStopped": "3", "numStoppedTotal": "5"}));
        assert_eq!(g.download_speed, 42);
        assert_eq!((g.num_active, g.num_waiting, g.num_stopped), (1, 2, 5));
    }
}
