//! Trying again until a deadline: the one loop for "a lock is in the way,
//! but only for an instant". A prober's shared flock, or a sibling thread's
//! child between its fork and its exec (it holds copies of every open file
//! description of steward until then), let go within milliseconds; a real
//! holder does not. Callers say which failures are worth another try.

use std::time::{Duration, Instant};

use crate::time::Later;

/// Calls `attempt` until it returns `Ok`, or fails with an error that
/// `again` refuses, or `wait` has passed since the call: then the last
/// error is returned. The first attempt is made at once, then one every
/// `pause`. Blocks the calling thread: not for an async worker thread
/// (use `spawn_blocking`).
pub fn within<T, E>(
    wait: Duration,
    pause: Duration,
    mut attempt: impl FnMut() -> Result<T, E>,
    mut again: impl FnMut(&E) -> bool,
) -> Result<T, E> {
    let deadline = Instant::now().later(wait);
    loop {
        match attempt() {
            Ok(done) => return Ok(done),
            Err(e) if again(&e) && Instant::now() < deadline => std::thread::sleep(pause),
            Err(e) => return Err(e),
        }
    }
}

/// [`within`] for a condition: true as soon as `done()` is, false if it
/// still is not once `wait` has passed.
pub fn until(wait: Duration, pause: Duration, mut done: impl FnMut() -> bool) -> bool {
    within(
        wait,
        pause,
        || if done() { Ok(()) } else { Err(()) },
        |()| true,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);
    const PAUSE: Duration = Duration::from_millis(1);

    #[test]
    fn tries_again_until_an_attempt_succeeds() {
        let mut calls = 0;
        let got = within(
            LONG,
            PAUSE,
            || {
                calls += 1;
                if calls < 3 { Err(calls) } else { Ok("done") }
            },
            |_| true,
        );
        assert_eq!((got, calls), (Ok("done"), 3));
    }

    #[test]
    fn an_error_not_worth_another_try_is_returned_at_once() {
        let mut calls = 0;
        let got: Result<(), &str> = within(
            LONG,
            PAUSE,
            || {
                calls += 1;
                Err(if calls == 1 { "busy" } else { "broken" })
            },
            |e| *e == "busy",
        );
        assert_eq!((got, calls), (Err("broken"), 2));
    }

    #[test]
    fn past_the_deadline_the_last_error_is_returned() {
        let mut calls = 0;
        let got: Result<(), i32> = within(
            Duration::ZERO,
            PAUSE,
            || {
                calls += 1;
                Err(calls)
            },
            |_| true,
        );
        assert_eq!(got, Err(1));
    }

    #[test]
    fn a_condition_is_looked_at_until_it_holds_or_time_is_up() {
        let mut looks = 0;
        assert!(until(LONG, PAUSE, || {
            looks += 1;
            looks == 4
        }));
        assert_eq!(looks, 4);
        assert!(!until(Duration::ZERO, PAUSE, || false));
    }
}
