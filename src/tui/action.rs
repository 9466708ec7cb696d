//! `Action`: everything a key (or a quit signal) can mean to the UI. Keys become
//! actions through the keymap; `App::update` turns actions into UI state and `Command`s.

use super::pane::Pane;

/// One thing the operator asked for. Plain data: no IO, no manager access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    NextPane,
    PrevPane,
    FocusPane(Pane),
    MoveUp,
    MoveDown,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter on a row: the details view.
    OpenDetails,
    /// `/`: start typing a filter for the focused pane.
    StartFilter,
    /// Enter in a dialog, a form or the filter line.
    Accept,
    /// Esc: close the top modal, stop or clear the filter, dismiss the notice.
    Back,
    ToggleHelp,
    CancelTask,
    ForceCancelTask,
    /// Start the selected account's worker, or stop it when it is active.
    ToggleWorker,
    RestartWorker,
    AddAccount,
    RemoveAccount,
    /// `r` in the Aria2 pane: confirm, then `Command::RestartAria2`.
    RestartAria2,
    /// `x`/Delete on a download: confirm, then `Command::RemoveDownload`.
    RemoveDownload,
    /// `K` on a foreign aria2c: confirm, then `Command::StopForeignAria2`.
    StopForeignAria2,
    /// `a` in the Aria2 pane: the add-download form.
    AddDownload,
    /// `o`: scan for orphans (`Command::PreviewSweep`) and open the sweep preview.
    Sweep,
    /// Show one more (or, wrapping, fewer) log level in the Logs pane.
    CycleLogLevel,
    /// Tab in an add form.
    NextField,
    /// A typed character while a text field has the keyboard.
    InputChar(char),
    DeleteChar,
    /// `q`, Ctrl+C, SIGTERM, SIGINT: graceful shutdown, then force.
    Quit,
    /// `q`, Ctrl+C in an attached dashboard: leave; the fleet keeps running.
    Detach,
    /// `Q` in an attached dashboard: shut the instance down (asks first);
    /// during its shutdown: force.
    ShutdownInstance,
    Resize(u16, u16),
}

impl Action {
    /// Whether the action makes the fleet do something (so a read-only
    /// dashboard neither offers nor takes it).
    pub fn acts(self) -> bool {
        matches!(
            self,
            Action::CancelTask
                | Action::ForceCancelTask
                | Action::ToggleWorker
                | Action::RestartWorker
                | Action::AddAccount
                | Action::RemoveAccount
                | Action::RestartAria2
                | Action::RemoveDownload
                | Action::StopForeignAria2
                | Action::AddDownload
                | Action::Sweep
                | Action::Quit
                | Action::ShutdownInstance
        )
    }
}
