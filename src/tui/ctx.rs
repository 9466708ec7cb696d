//! `Ctx`: what the panes and the shutdown view are drawn from, built once per
//! frame by `draw`. Its own module so that the panes need not import `draw`
//! (which imports every pane).

use crate::model::Snapshot;

use super::app::App;
use super::theme::Theme;

/// What every part of the screen is drawn from: UI state, the manager's
/// snapshot, the clock reading of this frame, and the styles.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub snapshot: &'a Snapshot,
    pub now_ms: i64,
    pub theme: Theme,
}
