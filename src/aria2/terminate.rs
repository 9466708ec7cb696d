//! Stopping an aria2c that is not our child (a leftover of an earlier run, a
//! foreign one the operator confirmed): `proc::Termination` (identity
//! re-checked before every signal) with aria2's deadlines. Our own child is
//! stopped by the supervisor, which can also wait on it.

use std::time::Duration;

use super::error::Aria2Error;
use crate::model::ForeignAria2;
use crate::proc::{Ended, SignalError, Target, Termination, read_stat};

/// How long to wait for the exit after SIGKILL.
pub const KILL_WAIT: Duration = Duration::from_secs(2);

/// SIGTERM, wait up to `deadline`, SIGKILL, wait up to `KILL_WAIT`.
/// A process that turns out to be another one (pid reuse) is not signalled
/// and counts as gone.
pub async fn terminate(target: Target, deadline: Duration) -> Ended {
    match Termination::begin(target, deadline, KILL_WAIT) {
        Ok(stop) => stop.finish().await,
        Err(SignalError::Gone | SignalError::NotSameProcess { .. }) => Ended::Exited,
        Err(e) => Ended::Refused(e),
    }
}

/// Stops a foreign aria2c the operator selected and confirmed: only if the
/// process with that pid still has the start time shown and is still named
/// `aria2c` (otherwise `NotRunning`, nothing sent). Never called by steward on its own.
pub async fn stop_foreign(foreign: &ForeignAria2, deadline: Duration) -> Result<Ended, Aria2Error> {
    let gone = || Aria2Error::NotRunning {
        state: format!(
            "aria2c pid {} is gone or is another process now",
            foreign.pid
        ),
    };
    let stat = read_stat(foreign.pid).map_err(|_| gone())?;
    if stat.start_time != foreign.start_time || stat.comm != "aria2c" || stat.is_zombie() {
        return Err(gone());
    }
    Ok(terminate(Target::of(&stat), deadline).await)
}
