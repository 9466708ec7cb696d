//! `key_hints`: the keys of a mode as one line, generated from the keymap and
//! cut to a width; the footer and the modals draw it.

use ratatui::text::{Line, Span};

use super::keymap::{self, Mode};
use super::link::Attachment;
use super::theme::Theme;

/// The keys of `mode` as `? help  q quit  ...`, generated from the keymap,
/// in at most `width` columns: when they do not all fit, whole hints are
/// left out, least important first (help and quit always stay).
pub fn key_hints(mode: Mode, attachment: Attachment, width: u16, theme: &Theme) -> Line<'static> {
    const GAP: &str = "  ";
    let mut entries = keymap::footer_entries(mode, attachment);
    let columns = |text: &str| Span::raw(text).width();
    let hint_width = |e: &keymap::FooterEntry| columns(&e.keys) + 1 + columns(e.word);
    let total = |entries: &[keymap::FooterEntry]| {
        entries.iter().map(hint_width).sum::<usize>()
            + columns(GAP) * entries.len().saturating_sub(1)
    };
    while total(&entries) > usize::from(width) {
        let Some(least) = entries.iter().map(|e| e.rank).filter(|&r| r > 0).max() else {
            break;
        };
        let Some(last) = entries.iter().rposition(|e| e.rank == least) else {
            break;
        };
        entries.remove(last);
    }
    let mut spans = Vec::new();
    for entry in entries {
        if !spans.is_empty() {
            spans.push(Span::raw(GAP));
        }
        spans.push(Span::styled(entry.keys, theme.bold()));
        spans.push(Span::styled(format!(" {}", entry.word), theme.dim()));
    }
    Line::from(spans)
}
