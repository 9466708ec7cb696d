//! Adding and removing downloads, shared by the running service and by
//! `steward download add` from another shell: checks of URL, account and
//! sub-directory, `aria2.addUri` into `<download_dir>/<subdir>`, and the owner record.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::error::Aria2Error;
use super::rpc::Aria2Rpc;
use super::store::{SharedStore, forget_owner, record_owner};

/// URL schemes aria2 downloads from.
const SCHEMES: &[&str] = &["http", "https", "ftp", "sftp", "magnet", "file"];

pub fn check_url(url: &str) -> Result<(), Aria2Error> {
    let bad = || Aria2Error::InvalidUrl(url.to_owned());
    if url.is_empty()
        || url.len() > 8192
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    let (scheme, _) = url.split_once(':').ok_or_else(bad)?;
    if SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// `download_dir` joined with `subdir`, which must be relative and stay below it.
pub fn target_dir(download_dir: &Path, subdir: Option<&str>) -> Result<PathBuf, Aria2Error> {
    let Some(sub) = subdir.filter(|s| !s.is_empty()) else {
        return Ok(download_dir.to_owned());
    };
    let rel = Path::new(sub);
    let fine = rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !fine || sub.chars().any(char::is_control) {
        return Err(Aria2Error::InvalidSubdir(sub.to_owned()));
    }
    Ok(download_dir.join(rel))
}

/// aria2 gids are 16 hex digits.
pub fn check_gid(gid: &str) -> Result<(), Aria2Error> {
    if gid.len() == 16 && gid.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Aria2Error::Rpc {
            code: 1,
            message: format!("{gid:?} is not a gid (16 hex digits)"),
        })
    }
}

/// Adds `url` to aria2 under `<download_dir>/<subdir>`; records `account` as its owner.
/// The owner record failing is logged, not an error: the download itself was added.
pub async fn add(
    rpc: &Aria2Rpc,
    store: &SharedStore,
    download_dir: &Path,
    url: &str,
    account: Option<&str>,
    subdir: Option<&str>,
) -> Result<String, Aria2Error> {
    check_url(url)?;
    if let Some(account) = account {
        crate::accounts::id::validate(account)
            .map_err(|e| Aria2Error::InvalidAccount(e.to_string()))?;
    }
    let dir = target_dir(download_dir, subdir)?;
    let mut options = Map::new();
    options.insert("dir".into(), Value::String(dir.display().to_string()));
    let gid = rpc.add_uri(url, options).await?;
    if let Some(account) = account
        && let Err(e) = record_owner(store, &gid, account)
    {
        tracing::warn!(
            gid,
            account,
            "download added, but its owner was not recorded: {e}"
        );
    }
    tracing::info!(gid, account, dir = %dir.display(), "download added");
    Ok(gid)
}

/// Cancels a download (`aria2.remove`: it stays listed as `removed`), or, when
/// it has already stopped, forgets it (`aria2.removeDownloadResult`) and its owner.
pub async fn remove(rpc: &Aria2Rpc, store: &SharedStore, gid: &str) -> Result<(), Aria2Error> {
    check_gid(gid)?;
    match rpc.remove(gid).await {
        Ok(()) => {
            tracing::info!(gid, "download removed");
            Ok(())
        }
        Err(first @ Aria2Error::Rpc { .. }) => match rpc.remove_download_result(gid).await {
            Ok(()) => {
                if let Err(e) = forget_owner(store, gid) {
                    tracing::debug!(gid, "forgetting the owner: {e}");
                }
                tracing::info!(gid, "download result removed");
                Ok(())
            }
            Err(_) => Err(first),
        },
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:8000/a.bin").is_ok());
        assert!(check_url("HTTPS://x/y").is_ok());
        assert!(check_url("magnet:?xt=urn:btih:abc").is_ok());
        for bad in [
            "",
            "x",
            "/etc/passwd",
            "http://a b",
            "javascript:alert(1)",
            "http://x/\n",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subdirs_stay_below_the_download_dir() {
        let base = Path::new("/d/downloads");
        assert_eq!(target_dir(base, None).unwrap(), base);
        assert_eq!(target_dir(base, Some("")).unwrap(), base);
        assert_eq!(
            target_dir(base, Some("alice/isos")).unwrap(),
            base.join("alice/isos")
        );
        for bad in ["../x", "/etc", "a/../../b", "a/.."] {
            assert!(target_dir(base, Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn gids() {
        assert!(check_gid("2089b05ecca3d829").is_ok());
        assert!(check_gid("2089b05ecca3d82").is_err());
        assert!(check_gid("zz89b05ecca3d829").is_err());
    }
}
