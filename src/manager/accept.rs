//! Taking the next connection for a server beside the manager (the control
//! socket, the metrics endpoint): until told to stop, and never giving up
//! on a failed `accept` (out of descriptors, say: the next may succeed).

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;

/// The pause after a failed accept, so a lasting failure does not spin.
const AFTER_FAILURE: Duration = Duration::from_millis(50);

/// The next accepted stream; `None` once `stop` is cancelled. `server`
/// names the server in the log line of a failure.
pub(super) async fn next_connection<S, A, F>(
    stop: &CancellationToken,
    server: &str,
    mut accept: impl FnMut() -> F,
) -> Option<S>
where
    F: Future<Output = io::Result<(S, A)>>,
{
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return None,
            accepted = accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => return Some(stream),
            Err(e) => {
                warn!(error = %e, "{server}: accept failed");
                tokio::time::sleep(AFTER_FAILURE).await;
            }
        }
    }
}
