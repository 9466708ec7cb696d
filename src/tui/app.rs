//! `App`: the UI's own state (focus, selections, filters, modal stack, shutdown
//! progress asked for) and `App::update`, a pure function from an `Action` to
//! state changes plus the `Command`s the loop must send. No IO, no clock.

use tui_logger::LevelFilter;

use crate::model::{Aria2State, Command, Notice, Snapshot};

use super::action::Action;
use super::add_form::AddAccountForm;
use super::confirm::ConfirmDialog;
use super::details::DetailsTarget;
use super::download_form::AddDownloadForm;
use super::form::TextForm;
use super::help;
use super::keymap::Mode;
use super::link::Attachment;
use super::pane::Pane;
use super::rows::{self, Aria2Row, PaneState};
use super::sweep_view::{Stage, SweepDialog};

/// How long a notice from the manager stays in the status line.
pub const NOTICE_VISIBLE_MS: i64 = 6_000;

/// Rows of the screen that are not table rows (header, tabs, borders, table
/// header, status line, footer); what is left is one page.
const CHROME_ROWS: u16 = 8;

/// A dialog over the panes. The top of `App::modals` has the keyboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    Help {
        scroll: u16,
    },
    Details(DetailsTarget),
    Confirm(ConfirmDialog),
    AddAccount(AddAccountForm),
    AddDownload(AddDownloadForm),
    /// `o`: the sweep's preview, progress and results.
    Sweep(SweepDialog),
}

/// What the UI asked of the manager about shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShutdownAsked {
    #[default]
    No,
    /// Graceful, because the terminal went away (failed redraw or SIGHUP):
    /// nobody asked, so the operator's next request is their first.
    OnHangUp,
    Gracefully,
    Forcefully,
}

/// UI state only: everything else is read from the current `Snapshot`.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub focus: Pane,
    pub panes: [PaneState; 5],
    /// `/` was pressed and typed characters go into the focused pane's filter.
    pub filter_editing: bool,
    pub modals: Vec<Modal>,
    pub shutdown: ShutdownAsked,
    /// Notices up to this seq were dismissed with Esc.
    pub dismissed_notice_seq: u64,
    /// A one-line answer to the last key (e.g. "select an account first"); cleared by the next key.
    pub hint: Option<String>,
    /// Terminal size as (columns, rows).
    pub size: (u16, u16),
    /// The lowest level the Logs pane shows.
    pub log_level: LevelFilter,
    /// False when `NO_COLOR` is set: no colours at all.
    pub color: bool,
    /// Embedded or attached (and read-only): what `q` means, which keys act.
    pub attachment: Attachment,
    /// Set by `q` in an attached dashboard: the loop ends, the fleet runs on.
    pub detached: bool,
}

impl App {
    pub fn new(size: (u16, u16), color: bool) -> App {
        App {
            focus: Pane::Accounts,
            panes: Default::default(),
            filter_editing: false,
            modals: Vec::new(),
            shutdown: ShutdownAsked::No,
            dismissed_notice_seq: 0,
            hint: None,
            size,
            log_level: LevelFilter::Info,
            color,
            attachment: Attachment::Embedded,
            detached: false,
        }
    }

    /// The same dashboard, driving an instance it attached to.
    pub fn attached(mut self, read_only: bool) -> App {
        self.attachment = Attachment::Attached { read_only };
        self
    }

    /// Whether the shutdown progress view is up (asked here, or begun by the manager).
    pub fn shutdown_shown(&self, snapshot: &Snapshot) -> bool {
        self.shutdown != ShutdownAsked::No || snapshot.shutdown.is_some()
    }

    /// Who has the keyboard.
    pub fn mode(&self, snapshot: &Snapshot) -> Mode {
        if self.shutdown_shown(snapshot) {
            return Mode::Shutdown;
        }
        match self.modals.last() {
            Some(Modal::Help { .. }) => Mode::Help,
            Some(Modal::Details(_)) => Mode::Details,
            Some(Modal::Confirm(_)) => Mode::Confirm,
            Some(Modal::AddAccount(_) | Modal::AddDownload(_)) => Mode::Form,
            Some(Modal::Sweep(_)) => Mode::Sweep,
            None if self.filter_editing => Mode::Filter,
            None => Mode::Pane(self.focus),
        }
    }

    pub fn pane(&self, pane: Pane) -> &PaneState {
        &self.panes[pane.index()]
    }

    fn pane_mut(&mut self, pane: Pane) -> &mut PaneState {
        &mut self.panes[pane.index()]
    }

    /// Table rows that fit on one page at the current size.
    pub fn page_rows(&self) -> usize {
        usize::from(self.size.1.saturating_sub(CHROME_ROWS).max(1))
    }

    /// The newest notice that is neither dismissed nor older than `NOTICE_VISIBLE_MS`.
    pub fn visible_notice<'s>(&self, snapshot: &'s Snapshot, now_ms: i64) -> Option<&'s Notice> {
        snapshot
            .notices
            .iter()
            .max_by_key(|n| n.seq)
            .filter(|n| n.seq > self.dismissed_notice_seq && now_ms < n.at_ms + NOTICE_VISIBLE_MS)
    }

    /// Keys of the focused pane's visible rows (empty for panes without rows).
    fn visible_keys(&self, snapshot: &Snapshot) -> Vec<String> {
        let filter = &self.pane(self.focus).filter;
        match self.focus {
            Pane::Accounts => rows::account_keys(&rows::accounts(snapshot, filter)),
            Pane::Tasks => rows::task_keys(&rows::tasks(snapshot, filter)),
            Pane::Aria2 => rows::aria2_keys(&rows::aria2_rows(snapshot, filter)),
            Pane::Temp => rows::temp_owner_keys(&rows::temp_owners(snapshot, filter)),
            Pane::Logs => Vec::new(),
        }
    }

    /// The selected account's id, if the Accounts pane has one selected.
    pub fn selected_account<'s>(
        &self,
        snapshot: &'s Snapshot,
    ) -> Option<&'s crate::model::AccountView> {
        let visible = rows::accounts(snapshot, &self.pane(Pane::Accounts).filter);
        let index = self
            .pane(Pane::Accounts)
            .selected(&rows::account_keys(&visible))?;
        visible.get(index).copied()
    }

    pub fn selected_task<'s>(&self, snapshot: &'s Snapshot) -> Option<&'s crate::model::TaskView> {
        let visible = rows::tasks(snapshot, &self.pane(Pane::Tasks).filter);
        let index = self
            .pane(Pane::Tasks)
            .selected(&rows::task_keys(&visible))?;
        visible.get(index).copied()
    }

    /// The Aria2 pane's selected row: a download or a foreign aria2c.
    pub fn selected_aria2_row<'s>(&self, snapshot: &'s Snapshot) -> Option<Aria2Row<'s>> {
        let visible = rows::aria2_rows(snapshot, &self.pane(Pane::Aria2).filter);
        let index = self
            .pane(Pane::Aria2)
            .selected(&rows::aria2_keys(&visible))?;
        visible.get(index).copied()
    }

    fn move_selection(&mut self, snapshot: &Snapshot, to: impl FnOnce(usize, usize) -> usize) {
        let keys = self.visible_keys(snapshot);
        let Some(current) = self.pane(self.focus).selected(&keys) else {
            return;
        };
        let target = to(current, keys.len());
        let focus = self.focus;
        self.pane_mut(focus).select(&keys, target);
    }

    /// Applies `action` against the current `snapshot`; returns what to send to the manager.
    pub fn update(&mut self, action: Action, snapshot: &Snapshot) -> Vec<Command> {
        self.hint = None;
        if let Action::Resize(columns, rows) = action {
            self.size = (columns, rows);
            return Vec::new();
        }
        // Whatever the keymap offered, a read-only dashboard never acts.
        if self.attachment.read_only() && action.acts() {
            self.hint = Some("read-only: attach without --read-only to act".into());
            return Vec::new();
        }
        match action {
            Action::Quit => return self.quit(snapshot),
            Action::Detach => {
                self.detached = true;
                return Vec::new();
            }
            Action::ShutdownInstance => return self.shutdown_instance(snapshot),
            _ => {}
        }
        match self.mode(snapshot) {
            // Only Quit (above) and Resize act during a shutdown.
            Mode::Shutdown => Vec::new(),
            Mode::Help => {
                self.update_help(action);
                Vec::new()
            }
            Mode::Details => {
                if action == Action::Back {
                    self.modals.pop();
                }
                Vec::new()
            }
            Mode::Confirm => self.update_confirm(action),
            Mode::Sweep => self.update_sweep(action, snapshot),
            Mode::Form => self.update_form(action, snapshot),
            Mode::Filter => {
                self.update_filter(action, snapshot);
                Vec::new()
            }
            Mode::Pane(_) => self.update_pane(action, snapshot),
        }
    }

    fn quit(&mut self, snapshot: &Snapshot) -> Vec<Command> {
        // Only a second deliberate request forces: the shutdown a hang-up began
        // does not count as the first.
        let force = match self.shutdown {
            ShutdownAsked::No => snapshot.shutdown.is_some(),
            ShutdownAsked::OnHangUp => false,
            ShutdownAsked::Gracefully | ShutdownAsked::Forcefully => true,
        };
        self.shutdown = if force {
            ShutdownAsked::Forcefully
        } else {
            ShutdownAsked::Gracefully
        };
        self.filter_editing = false;
        vec![Command::Shutdown { force }]
    }

    /// `Q` attached: asks first; once the instance shuts down, forces.
    fn shutdown_instance(&mut self, snapshot: &Snapshot) -> Vec<Command> {
        if self.shutdown_shown(snapshot) {
            self.shutdown = ShutdownAsked::Forcefully;
            return vec![Command::Shutdown { force: true }];
        }
        if self.modals.is_empty() {
            self.modals
                .push(Modal::Confirm(ConfirmDialog::shutdown_instance(
                    snapshot.instance.pid,
                    snapshot.accounts.len(),
                )));
        }
        Vec::new()
    }

    /// A stop request from outside (`steward stop`'s signals): graceful is
    /// sent at most once and never escalates; force always forces.
    pub fn stop_requested(&mut self, force: bool, snapshot: &Snapshot) -> Vec<Command> {
        if force {
            self.shutdown = ShutdownAsked::Forcefully;
        } else if self.shutdown_shown(snapshot) {
            return Vec::new();
        } else {
            self.shutdown = ShutdownAsked::Gracefully;
        }
        self.filter_editing = false;
        vec![Command::Shutdown { force }]
    }

    /// The terminal is gone (however many ways that is reported, in whatever
    /// order): nobody can press `q` any more, so shut down gracefully unless a
    /// shutdown already runs. Never forces.
    pub fn terminal_lost(&mut self, snapshot: &Snapshot) -> Vec<Command> {
        if self.shutdown_shown(snapshot) {
            return Vec::new();
        }
        self.shutdown = ShutdownAsked::OnHangUp;
        self.filter_editing = false;
        vec![Command::Shutdown { force: false }]
    }

    fn update_help(&mut self, action: Action) {
        let Some(Modal::Help { scroll }) = self.modals.last_mut() else {
            return;
        };
        // The same limits the overlay is drawn with, so every key moves what is seen.
        let page = help::page_lines(self.size).max(1);
        let max_scroll = help::max_scroll(self.size, self.attachment);
        match action {
            Action::MoveUp => *scroll = scroll.saturating_sub(1),
            Action::MoveDown => *scroll = scroll.saturating_add(1).min(max_scroll),
            Action::PageUp => *scroll = scroll.saturating_sub(page),
            Action::PageDown => *scroll = scroll.saturating_add(page).min(max_scroll),
            Action::Top => *scroll = 0,
            Action::Bottom => *scroll = max_scroll,
            Action::Back | Action::ToggleHelp => {
                self.modals.pop();
            }
            _ => {}
        }
    }

    fn update_confirm(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Accept => match self.modals.pop() {
                Some(Modal::Confirm(dialog)) => vec![dialog.command],
                _ => Vec::new(),
            },
            Action::Back => {
                self.modals.pop();
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Keys in the sweep dialog. `y` sends `ApplySweep` for exactly the plan on
    /// screen, once; Esc (and Enter on results or an empty plan) closes it and
    /// tells the manager to drop the sweep.
    fn update_sweep(&mut self, action: Action, snapshot: &Snapshot) -> Vec<Command> {
        let page = u16::try_from(self.page_rows()).unwrap_or(u16::MAX);
        let size = self.size;
        let Some(Modal::Sweep(dialog)) = self.modals.last_mut() else {
            return Vec::new();
        };
        let max_scroll = dialog.max_scroll(snapshot, size);
        let scroll = |to: u16| to.min(max_scroll);
        match action {
            Action::MoveUp => dialog.scroll = dialog.scroll.saturating_sub(1),
            Action::MoveDown => dialog.scroll = scroll(dialog.scroll.saturating_add(1)),
            Action::PageUp => dialog.scroll = dialog.scroll.saturating_sub(page),
            Action::PageDown => dialog.scroll = scroll(dialog.scroll.saturating_add(page)),
            Action::Top => dialog.scroll = 0,
            Action::Bottom => dialog.scroll = max_scroll,
            Action::Accept => match dialog.stage(snapshot) {
                Stage::Scanning => self.hint = Some("still scanning…".into()),
                Stage::Applying(_) => self.hint = Some("the sweep is being applied…".into()),
                Stage::Preview(sweep) => match dialog.apply_command(snapshot) {
                    Some(command) => {
                        dialog.applied = Some(sweep.plan.id);
                        dialog.scroll = 0;
                        return vec![command];
                    }
                    // Nothing to do: Enter just closes.
                    None => return self.close_sweep(),
                },
                Stage::Results(_) | Stage::Failed(_) => return self.close_sweep(),
            },
            // Esc while applying hides the dialog; the manager keeps the
            // results for `o` (dismissing now would throw them away).
            Action::Back if matches!(dialog.stage(snapshot), Stage::Applying(_)) => {
                self.modals.pop();
                self.hint = Some("the sweep goes on; o shows its results".into());
            }
            Action::Back => return self.close_sweep(),
            _ => {}
        }
        Vec::new()
    }

    fn close_sweep(&mut self) -> Vec<Command> {
        self.modals.pop();
        vec![Command::DismissSweep]
    }

    fn update_form(&mut self, action: Action, snapshot: &Snapshot) -> Vec<Command> {
        if action == Action::Back {
            self.modals.pop();
            return Vec::new();
        }
        let submitted = match self.modals.last_mut() {
            Some(Modal::AddAccount(form)) => form.update(action, snapshot),
            Some(Modal::AddDownload(form)) => form.update(action, snapshot),
            _ => None,
        };
        match submitted {
            Some(command) => {
                self.modals.pop();
                vec![command]
            }
            None => Vec::new(),
        }
    }

    fn update_filter(&mut self, action: Action, snapshot: &Snapshot) {
        let focus = self.focus;
        match action {
            Action::InputChar(c) => self.pane_mut(focus).filter.push(c),
            Action::DeleteChar => {
                self.pane_mut(focus).filter.pop();
            }
            Action::Accept => self.filter_editing = false,
            Action::Back => {
                self.filter_editing = false;
                self.pane_mut(focus).filter.clear();
            }
            _ => return,
        }
        // The filter changed what is visible: keep the selected row if it is still there.
        let keys = self.visible_keys(snapshot);
        let index = self.pane(focus).selected(&keys).unwrap_or(0);
        self.pane_mut(focus).select(&keys, index);
    }

    fn update_pane(&mut self, action: Action, snapshot: &Snapshot) -> Vec<Command> {
        let page = self.page_rows();
        match action {
            Action::NextPane => self.focus = self.focus.next(),
            Action::PrevPane => self.focus = self.focus.prev(),
            Action::FocusPane(pane) => self.focus = pane,
            Action::MoveUp => self.move_selection(snapshot, |i, _| i.saturating_sub(1)),
            Action::MoveDown => self.move_selection(snapshot, |i, _| i + 1),
            Action::PageUp => self.move_selection(snapshot, |i, _| i.saturating_sub(page)),
            Action::PageDown => self.move_selection(snapshot, |i, _| i + page),
            Action::Top => self.move_selection(snapshot, |_, _| 0),
            Action::Bottom => self.move_selection(snapshot, |_, len| len.saturating_sub(1)),
            Action::ToggleHelp => self.modals.push(Modal::Help { scroll: 0 }),
            Action::StartFilter if self.focus.has_rows() => self.filter_editing = true,
            Action::Back => {
                let focus = self.focus;
                if self.pane(focus).filter.is_empty() {
                    self.dismissed_notice_seq = snapshot
                        .notices
                        .iter()
                        .map(|n| n.seq)
                        .max()
                        .unwrap_or(self.dismissed_notice_seq);
                } else {
                    self.update_filter(Action::Back, snapshot);
                }
            }
            Action::OpenDetails => self.open_details(snapshot),
            Action::CycleLogLevel => self.log_level = next_level(self.log_level),
            Action::AddAccount => self
                .modals
                .push(Modal::AddAccount(AddAccountForm::default())),
            Action::ToggleWorker => {
                return self.on_account(snapshot, |a| {
                    if a.worker.state.is_active() {
                        Command::StopWorker { id: a.id.clone() }
                    } else {
                        Command::StartWorker { id: a.id.clone() }
                    }
                });
            }
            Action::RestartWorker => {
                return self.on_account(snapshot, |a| Command::RestartWorker { id: a.id.clone() });
            }
            Action::RemoveAccount => {
                if let Some(account) = self.selected_account(snapshot) {
                    let dialog = ConfirmDialog::remove_account(account);
                    self.modals.push(Modal::Confirm(dialog));
                } else {
                    self.hint = Some("no account selected".into());
                }
            }
            Action::RestartAria2 => self.restart_aria2(snapshot),
            Action::RemoveDownload => match self.selected_aria2_row(snapshot) {
                Some(Aria2Row::Download(download)) => {
                    let dialog = ConfirmDialog::remove_download(download);
                    self.modals.push(Modal::Confirm(dialog));
                }
                Some(Aria2Row::Foreign(_)) => {
                    self.hint = Some("x removes downloads; K stops a foreign aria2c".into());
                }
                None => self.hint = Some("no download selected".into()),
            },
            Action::StopForeignAria2 => match self.selected_aria2_row(snapshot) {
                Some(Aria2Row::Foreign(foreign)) => {
                    let dialog = ConfirmDialog::stop_foreign_aria2(foreign);
                    self.modals.push(Modal::Confirm(dialog));
                }
                _ => {
                    let listed = snapshot.aria2.as_ref().map_or(0, |a| a.foreign.len());
                    let shown = rows::foreign(snapshot, &self.pane(Pane::Aria2).filter).len();
                    let hint = match (listed, shown) {
                        (0, _) => "no foreign aria2c is listed",
                        (_, 0) => "no foreign aria2c matches the filter (Esc clears it)",
                        _ => "select a foreign aria2c first (they are below the downloads)",
                    };
                    self.hint = Some(hint.into());
                }
            },
            Action::Sweep => {
                // A sweep closed while it was applied goes on: `o` shows it
                // (its progress, then its results) instead of scanning anew.
                if let Some(dialog) = SweepDialog::resume(snapshot) {
                    self.modals.push(Modal::Sweep(dialog));
                    return Vec::new();
                }
                self.modals.push(Modal::Sweep(SweepDialog::new(snapshot)));
                return vec![Command::PreviewSweep];
            }
            Action::AddDownload => self
                .modals
                .push(Modal::AddDownload(AddDownloadForm::default())),
            Action::CancelTask => return self.cancel_task(snapshot, false),
            Action::ForceCancelTask => return self.cancel_task(snapshot, true),
            _ => {}
        }
        Vec::new()
    }

    fn on_account(
        &mut self,
        snapshot: &Snapshot,
        command: impl FnOnce(&crate::model::AccountView) -> Command,
    ) -> Vec<Command> {
        match self.selected_account(snapshot) {
            Some(account) => vec![command(account)],
            None => {
                self.hint = Some("no account selected".into());
                Vec::new()
            }
        }
    }

    /// `r`: a confirm dialog, unless there is no aria2 to restart.
    fn restart_aria2(&mut self, snapshot: &Snapshot) {
        match &snapshot.aria2 {
            None => self.hint = Some("this build has no aria2 subsystem".into()),
            Some(aria2) if aria2.state == Aria2State::Disabled => {
                self.hint =
                    Some("aria2 is disabled: set [aria2] enabled = true in the config".into());
            }
            Some(aria2) => {
                let dialog = ConfirmDialog::restart_aria2(aria2);
                self.modals.push(Modal::Confirm(dialog));
            }
        }
    }

    fn cancel_task(&mut self, snapshot: &Snapshot, force: bool) -> Vec<Command> {
        match self.selected_task(snapshot) {
            Some(task) if task.state.is_live() => vec![Command::CancelTask { id: task.id, force }],
            Some(task) => {
                self.hint = Some(format!(
                    "task {} is {}: nothing to cancel",
                    task.id,
                    super::format::task_word(&task.state)
                ));
                Vec::new()
            }
            None => {
                self.hint = Some("no task selected".into());
                Vec::new()
            }
        }
    }

    fn open_details(&mut self, snapshot: &Snapshot) {
        let target = match self.focus {
            Pane::Accounts => self
                .selected_account(snapshot)
                .map(|a| DetailsTarget::Account(a.id.clone())),
            Pane::Tasks => self
                .selected_task(snapshot)
                .map(|t| DetailsTarget::Task(t.id)),
            Pane::Aria2 => match self.selected_aria2_row(snapshot) {
                Some(Aria2Row::Download(d)) => Some(DetailsTarget::Download(d.gid.clone())),
                Some(Aria2Row::Foreign(_)) => {
                    self.hint = Some(
                        "a foreign aria2c has no details view; K stops it (asks first)".into(),
                    );
                    return;
                }
                None => None,
            },
            Pane::Temp => {
                self.hint = Some("temp owners have no details view; o previews a sweep".into());
                return;
            }
            Pane::Logs => None,
        };
        match target {
            Some(target) => self.modals.push(Modal::Details(target)),
            None => self.hint = Some("no row selected".into()),
        }
    }
}

/// Error → Warn → Info → Debug → Trace → Error.
fn next_level(level: LevelFilter) -> LevelFilter {
    match level {
        LevelFilter::Off | LevelFilter::Trace => LevelFilter::Error,
        LevelFilter::Error => LevelFilter::Warn,
        LevelFilter::Warn => LevelFilter::Info,
        LevelFilter::Info => LevelFilter::Debug,
        LevelFilter::Debug => LevelFilter::Trace,
    }
}
