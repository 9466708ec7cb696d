//! `steward metrics`: the running instance's Prometheus text, printed once
//! (for node_exporter's textfile collector, or `ssh host steward metrics`).
//! The snapshot comes over the control socket and is encoded by the same
//! function that serves `GET /metrics`.

use std::sync::Arc;

use super::failure::Failure;
use super::globals::Globals;
use crate::link::{Client, LinkError};
use crate::model::{Ask, Role, Snapshot};
use crate::time::now_ms;

pub(super) fn run(globals: &Globals) -> Result<(), Failure> {
    let root = globals.data_dir.root().to_path_buf();
    let socket = globals.data_dir.control_socket();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    let snapshot = rt.block_on(async {
        let mut client = Client::connect(&root, &socket, Role::View, "steward metrics")
            .await
            .map_err(link_failure)?;
        let reply = client.ask(Ask::Status).await.map_err(link_failure)?;
        if !reply.ok {
            return Err(Failure::runtime(reply.text));
        }
        let value = reply
            .value
            .ok_or_else(|| Failure::runtime("the instance sent no snapshot"))?;
        serde_json::from_str::<Snapshot>(value.get())
            .map_err(|e| Failure::runtime(format!("unreadable snapshot from the instance: {e}")))
    })?;
    super::text::print(&crate::manager::metrics::encode(
        Arc::new(snapshot),
        now_ms(),
    ));
    Ok(())
}

fn link_failure(e: LinkError) -> Failure {
    match e {
        LinkError::NotRunning { dir } => {
            Failure::runtime(format!("no instance running on {}", dir.display()))
        }
        other => Failure::runtime(other.to_string()),
    }
}
