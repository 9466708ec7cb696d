//! The reply to a command that came with one (the control socket's
//! requests): what the command's effects said, and for work that finishes
//! beside the loop, what it said when it finished. Notices still go to
//! every screen; the reply goes to the one who asked.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::model::{Answer, NoticeLevel, WorkerState, WorkerView};

/// How long a reply waits for a new or enabled account's worker to start.
const WORKER_START_WAIT: Duration = Duration::from_secs(10);

/// A reply being put together while one command's effects run.
pub(super) struct Answering {
    reply: oneshot::Sender<Answer>,
    /// What the effects said so far; an error sticks.
    outcome: Option<Answer>,
}

impl Answering {
    pub(super) fn new(reply: oneshot::Sender<Answer>) -> Answering {
        Answering {
            reply,
            outcome: None,
        }
    }

    pub(super) fn heard(&mut self, level: NoticeLevel, text: &str) {
        if self.outcome.as_ref().is_some_and(|o| !o.ok) {
            return;
        }
        self.outcome = Some(answer_of(level, text));
    }

    /// Sends what the effects said ("done" when they said nothing).
    pub(super) fn finish(self) {
        let answer = self.outcome.unwrap_or_else(|| Answer::ok("done"));
        let _ = self.reply.send(answer);
    }

    /// Hands the reply to work that finishes later; an error already heard
    /// is sent now instead (nothing will run).
    pub(super) fn later(self) -> Option<oneshot::Sender<Answer>> {
        match self.outcome {
            Some(error) if !error.ok => {
                let _ = self.reply.send(error);
                None
            }
            _ => Some(self.reply),
        }
    }
}

pub(super) fn answer_of(level: NoticeLevel, text: &str) -> Answer {
    match level {
        NoticeLevel::Error => Answer::error(text),
        NoticeLevel::Info | NoticeLevel::Warn => Answer::ok(text),
    }
}

/// Says `answer` as a notice (an error, or info) and, when somebody waits,
/// as their reply.
pub(super) fn tell(
    notices: &mpsc::UnboundedSender<(NoticeLevel, String)>,
    reply: Option<oneshot::Sender<Answer>>,
    answer: Answer,
) {
    let level = if answer.ok {
        NoticeLevel::Info
    } else {
        NoticeLevel::Error
    };
    let _ = notices.send((level, answer.text.clone()));
    if let Some(reply) = reply {
        let _ = reply.send(answer);
    }
}

/// `done` plus how the account's worker came up: waits (briefly) until it
/// runs or gave up, then sends the reply.
pub(super) async fn after_worker_starts(
    reply: oneshot::Sender<Answer>,
    done: String,
    mut view: watch::Receiver<WorkerView>,
) {
    let settled = tokio::time::timeout(
        WORKER_START_WAIT,
        view.wait_for(|v| !matches!(v.state, WorkerState::Starting | WorkerState::Stopped)),
    )
    .await;
    let answer = match settled {
        Ok(Ok(view)) => worker_answer(&done, &view),
        Ok(Err(_)) => Answer::ok(format!("{done}; its worker is gone again")),
        Err(_) => Answer::ok(format!(
            "{done}; its worker has not started within {}s",
            WORKER_START_WAIT.as_secs()
        )),
    };
    let _ = reply.send(answer);
}

fn worker_answer(done: &str, view: &WorkerView) -> Answer {
    match (&view.state, view.pid) {
        (WorkerState::Running, Some(pid)) => {
            Answer::ok(format!("{done}; worker pid {pid} running"))
                .with_value(serde_json::json!({ "pid": pid }))
        }
        (state, _) => Answer::ok(format!(
            "{done}; worker {}",
            state.label(crate::time::now_ms())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_sticks_and_silence_is_done() {
        let (tx, mut rx) = oneshot::channel();
        let mut answering = Answering::new(tx);
        answering.heard(NoticeLevel::Error, "no account bob");
        answering.heard(NoticeLevel::Info, "later line");
        answering.finish();
        assert_eq!(rx.try_recv().unwrap(), Answer::error("no account bob"));

        let (tx, mut rx) = oneshot::channel();
        Answering::new(tx).finish();
        assert_eq!(rx.try_recv().unwrap(), Answer::ok("done"));
    }

    #[test]
    fn later_sends_an_error_at_once() {
        let (tx, mut rx) = oneshot::channel();
        let mut answering = Answering::new(tx);
        answering.heard(NoticeLevel::Error, "refused");
        assert!(answering.later().is_none());
        assert!(!rx.try_recv().unwrap().ok);
    }
}
