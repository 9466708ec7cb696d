//! The UI loop: `select!` over terminal events, new snapshots, quit signals, a
//! timer set to the next visible change, and new log lines while the Logs pane
//! shows. Pending events are drained, then the screen is drawn once if anything
//! changed; nothing is drawn otherwise. Generic over the ratatui `Backend` so
//! tests drive it on `TestBackend`.

use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crossterm::event::Event;
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use crate::config::OnHangup;
use crate::model::{Command, Snapshot};
use crate::time;

use super::action::Action;
use super::app::App;
use super::draw::draw;
use super::keymap;
use super::link::{Attachment, Link};
use super::logs_pane;
use super::pane::Pane;
use super::signals::{QuitSignals, StopRequest};
use super::theme::UiOptions;
use super::wakeup;

/// How long after a log line the Logs pane repaints: batches bursts of lines.
const LOG_REPAINT_DELAY_MS: i64 = 50;

/// Input errors in a row after which the terminal counts as gone (one alone
/// may be transient; a dead tty keeps failing).
const INPUT_ERRORS_MEANING_LOST: u32 = 3;

/// Why the UI ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiEnd {
    /// The shutdown finished (the last snapshot shows its report), or the
    /// embedded manager went away.
    Stopped,
    /// `q` in an attached dashboard: the fleet keeps running.
    Detached,
    /// The terminal is gone (SIGHUP, a failed write, dead input) and the
    /// fleet keeps running: attached, or embedded with `on_hangup =
    /// "keep-running"`. Nothing may be written to the terminal any more.
    HungUp,
    /// An attached dashboard's instance went away without a finished
    /// shutdown (it crashed or was killed).
    Lost,
}

/// Everything the loop owns besides the terminal.
struct Ui {
    app: App,
    snapshot: Arc<Snapshot>,
    commands: mpsc::Sender<Command>,
    /// False once the terminal is lost (e.g. SSH dropped): keep running the shutdown, draw no more.
    screen_alive: bool,
    /// Set by the first sign that the terminal is gone; later signs are the same event.
    terminal_lost: bool,
    dirty: bool,
    on_hangup: OnHangup,
    /// Set when the loop should end.
    end: Option<UiEnd>,
}

/// How the loop learnt that the terminal is gone; all of them are one event.
#[derive(Debug, Clone, Copy)]
enum LostBy {
    /// A redraw failed (EIO on a hung-up pty).
    Draw,
    /// Reading keys kept failing, or the input stream ended.
    Input,
    /// SIGHUP.
    HangUp,
}

impl Ui {
    /// Runs `action` through `App::update` and sends the commands it yields.
    /// `Err` when the manager no longer takes commands.
    async fn apply(&mut self, action: Action) -> Result<(), ()> {
        let commands = self.app.update(action, &self.snapshot);
        self.dirty = true;
        self.send(commands).await
    }

    async fn stop_requested(&mut self, request: StopRequest) -> Result<(), ()> {
        if self.app.attachment.attached() {
            // The fleet is not this process's: a signal to the dashboard
            // ends the dashboard, never the fleet.
            self.end = Some(match request {
                StopRequest::HangUp => UiEnd::HungUp,
                _ => UiEnd::Detached,
            });
            return Ok(());
        }
        let commands = match request {
            StopRequest::Quit => return self.apply(Action::Quit).await,
            StopRequest::HangUp => return self.terminal_lost(LostBy::HangUp).await,
            StopRequest::Graceful => self.app.stop_requested(false, &self.snapshot),
            StopRequest::Force => self.app.stop_requested(true, &self.snapshot),
        };
        self.dirty = true;
        self.send(commands).await
    }

    async fn send(&mut self, commands: Vec<Command>) -> Result<(), ()> {
        for command in commands {
            if self.commands.send(command).await.is_err() {
                return Err(());
            }
        }
        Ok(())
    }

    fn handle_event(&mut self, event: &Event) -> Option<Action> {
        match event {
            Event::Key(key) => {
                keymap::action_for(self.app.mode(&self.snapshot), self.app.attachment, key)
            }
            Event::Resize(columns, rows) => Some(Action::Resize(*columns, *rows)),
            _ => None,
        }
    }

    /// The terminal is gone: nobody can press `q` any more, so shut down as
    /// if they had (unless a shutdown is already under way). A failed redraw,
    /// failing input and SIGHUP all report the same loss, in any order and
    /// any number of times: only the first acts, and none of them forces.
    async fn terminal_lost(&mut self, by: LostBy) -> Result<(), ()> {
        self.screen_alive = false;
        if self.terminal_lost {
            tracing::debug!(?by, "terminal loss reported again");
            return Ok(());
        }
        self.terminal_lost = true;
        if self.app.attachment.attached() || self.on_hangup == OnHangup::KeepRunning {
            tracing::info!(?by, "terminal lost; drawing stops, the fleet keeps running");
            self.end = Some(UiEnd::HungUp);
            return Ok(());
        }
        tracing::warn!(
            ?by,
            "terminal lost; drawing stops, a graceful shutdown runs"
        );
        let commands = self.app.terminal_lost(&self.snapshot);
        self.send(commands).await
    }
}

/// The next item if the stream has one ready, without waiting. Polls with this
/// task's own waker: crossterm's `EventStream` remembers only the first waker
/// it is polled with while idle, so draining with a no-op waker (`now_or_never`)
/// would leave the loop deaf to every later key.
async fn ready_now<S: Stream + Unpin>(events: &mut S) -> Option<Option<S::Item>> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match events.poll_next_unpin(cx) {
            Poll::Ready(item) => Some(item),
            Poll::Pending => None,
        })
    })
    .await
}

/// Runs the UI on `terminal` until the shutdown finished, the dashboard
/// detached, the terminal hung up with the fleet left running, or the fleet
/// went away; says which. `events` is crossterm's `EventStream` in
/// production, any stream in tests.
pub async fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    events: impl Stream<Item = io::Result<Event>>,
    link: Link,
    options: &UiOptions,
    quit_signals: &mut QuitSignals,
) -> io::Result<UiEnd> {
    let mut events = pin!(events);
    let mut events_open = true;
    let size = terminal
        .size()
        .map_err(|err| io::Error::other(err.to_string()))?;
    let Link {
        commands,
        mut snapshots,
        attachment,
    } = link;
    let snapshot = snapshots.borrow_and_update().clone();
    let mut app = App::new((size.width, size.height), options.color);
    if let Attachment::Attached { read_only } = attachment {
        app = app.attached(read_only);
    }
    let mut ui = Ui {
        app,
        snapshot,
        commands,
        screen_alive: true,
        terminal_lost: false,
        dirty: true,
        on_hangup: options.on_hangup,
        end: None,
    };
    // Set while a repaint for new log lines is due.
    let mut logs_repaint_at: Option<i64> = None;
    let mut input_errors_in_a_row = 0;

    loop {
        if ui
            .snapshot
            .shutdown
            .as_ref()
            .is_some_and(|s| s.is_finished())
        {
            return Ok(UiEnd::Stopped);
        }
        if ui.app.detached {
            return Ok(UiEnd::Detached);
        }
        if let Some(end) = ui.end {
            return Ok(end);
        }
        let now_ms = time::now_ms();
        if ui.dirty && ui.screen_alive {
            if ui.app.focus == Pane::Logs {
                logs_pane::move_new_lines();
            }
            let drawn = terminal.draw(|frame| draw(frame, &ui.app, &ui.snapshot, now_ms));
            if let Err(err) = drawn {
                tracing::warn!(error = %err, "terminal write failed");
                if ui.terminal_lost(LostBy::Draw).await.is_err() {
                    return Ok(UiEnd::Stopped);
                }
                if let Some(end) = ui.end {
                    return Ok(end);
                }
            }
        }
        ui.dirty = false;

        let wake_at = wakeup::next_change_ms(&ui.app, &ui.snapshot, now_ms)
            .into_iter()
            .chain(logs_repaint_at)
            .min();
        let timer = async {
            match wake_at {
                Some(at) => {
                    tokio::time::sleep(Duration::from_millis(
                        at.saturating_sub(now_ms).max(0) as u64
                    ))
                    .await
                }
                None => std::future::pending().await,
            }
        };
        let logs_showing = ui.app.focus == Pane::Logs && ui.app.modals.is_empty();

        let outcome: Result<(), ()> = tokio::select! {
            first = events.next(), if events_open => {
                // Drain whatever else is already waiting, then draw once.
                let mut batch = vec![first];
                while let Some(next) = ready_now(&mut events).await {
                    let ends = !matches!(next, Some(Ok(_)));
                    batch.push(next);
                    if ends {
                        break;
                    }
                }
                let mut result = Ok(());
                for item in batch {
                    match item {
                        Some(Ok(event)) => {
                            input_errors_in_a_row = 0;
                            if let Some(action) = ui.handle_event(&event) {
                                result = ui.apply(action).await;
                            }
                        }
                        Some(Err(err)) => {
                            input_errors_in_a_row += 1;
                            tracing::warn!(error = %err, in_a_row = input_errors_in_a_row, "terminal input failed");
                            if input_errors_in_a_row >= INPUT_ERRORS_MEANING_LOST {
                                events_open = false;
                                result = ui.terminal_lost(LostBy::Input).await;
                            }
                        }
                        None => {
                            events_open = false;
                            result = ui.terminal_lost(LostBy::Input).await;
                        }
                    }
                    if result.is_err() || !events_open {
                        break;
                    }
                }
                result
            }
            changed = snapshots.changed() => match changed {
                Ok(()) => {
                    ui.snapshot = snapshots.borrow_and_update().clone();
                    ui.dirty = true;
                    Ok(())
                }
                // The fleet's side is gone: nothing left to show or to stop.
                Err(_) if attachment.attached() => {
                    let pid = ui.snapshot.instance.pid;
                    ui.app.hint = Some(format!("lost steward pid {pid}: it stopped or crashed"));
                    if ui.screen_alive {
                        let now_ms = time::now_ms();
                        let _ = terminal.draw(|frame| draw(frame, &ui.app, &ui.snapshot, now_ms));
                    }
                    return Ok(UiEnd::Lost);
                }
                Err(_) => return Ok(UiEnd::Stopped),
            },
            request = quit_signals.recv() => ui.stop_requested(request).await,
            () = timer => {
                ui.dirty = true;
                if logs_repaint_at.is_some_and(|at| at <= time::now_ms()) {
                    logs_repaint_at = None;
                }
                Ok(())
            }
            () = logs_pane::new_log_lines(), if logs_showing && logs_repaint_at.is_none() => {
                logs_repaint_at = Some(time::now_ms() + LOG_REPAINT_DELAY_MS);
                Ok(())
            }
        };
        if outcome.is_err() {
            // The fleet stopped taking commands; it is gone or going.
            return Ok(if attachment.attached() {
                UiEnd::Lost
            } else {
                UiEnd::Stopped
            });
        }
    }
}
