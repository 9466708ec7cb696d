//! Reaching the aria2c of a running steward from another process
//! (`steward download add URL` in a second shell): the recorded instance in
//! the store gives the port and the secret file; its identity is checked first.

use super::downloads;
use super::error::Aria2Error;
use super::rpc::Aria2Rpc;
use super::secret::RpcSecret;
use super::store::{InstanceRecord, SharedStore, load_instance};
use crate::paths::DataDir;

/// The RPC client of the aria2c recorded for this data dir, if that process still runs.
pub fn recorded_rpc(
    data_dir: &DataDir,
    store: &SharedStore,
) -> Result<(Aria2Rpc, InstanceRecord), Aria2Error> {
    let not_running = |why: &str| Aria2Error::NotRunning {
        state: format!(
            "{why} for data dir {}; start steward first",
            data_dir.root().display()
        ),
    };
    let rec = load_instance(store)?.ok_or_else(|| not_running("no aria2c recorded"))?;
    if !rec.proc.is_alive() {
        return Err(not_running(&format!(
            "the recorded aria2c (pid {}) is gone",
            rec.proc.pid
        )));
    }
    let secret = RpcSecret::read_file(&rec.secret_file).map_err(|e| {
        let detail = match e {
            Aria2Error::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        secret_file_error(&rec, detail)
    })?;
    Ok((Aria2Rpc::new(rec.port, secret), rec))
}

/// The recorded aria2c is alive (pid and start time checked), so a refused
/// secret means the secret file is wrong, not that another program answers.
fn secret_file_error(rec: &InstanceRecord, detail: String) -> Aria2Error {
    Aria2Error::SecretFile {
        path: rec.secret_file.clone(),
        pid: rec.proc.pid,
        detail,
    }
}

/// `aria2.addUri` on the running instance of `data_dir`: URL, account and
/// sub-directory are checked as in the manager; the owner is recorded in the
/// store, so the running manager shows it. Returns the gid.
pub async fn add_download_via_data_dir(
    data_dir: &DataDir,
    store: &SharedStore,
    url: &str,
    account: Option<&str>,
    subdir: Option<&str>,
) -> Result<String, Aria2Error> {
    let (rpc, rec) = recorded_rpc(data_dir, store)?;
    downloads::add(&rpc, store, &rec.download_dir, url, account, subdir)
        .await
        .map_err(|e| match e {
            Aria2Error::Unauthorized { .. } => {
                secret_file_error(&rec, "aria2c refused it".to_string())
            }
            other => other,
        })
}
