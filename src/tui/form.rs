//! What the add forms share: one-line text fields edited one at a time and
//! re-checked after every edit (`TextForm`), and the popup they are drawn in
//! (`FormView`: fields, the error or a hint, the keys, the cursor). Each form
//! keeps its own fields and checks.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::model::{Command, Snapshot};

use super::action::Action;
use super::format::fit_start;
use super::hints::key_hints;
use super::keymap::Mode;
use super::link::Attachment;
use super::rect::centered;
use super::theme::Theme;

/// A form of text fields. Implementors say which text has the keyboard, how
/// to move on, and what is wrong; typing, deleting and the keys are shared.
pub trait TextForm {
    /// The focused field's text.
    fn focused_text(&mut self) -> &mut String;
    fn next_field(&mut self);
    /// Re-checks after an edit and sets (or clears) the form's error.
    fn recheck(&mut self, snapshot: &Snapshot);
    /// The command to send, or `None` with the error set and the faulty field focused.
    fn submit(&mut self, snapshot: &Snapshot) -> Option<Command>;

    fn type_char(&mut self, c: char, snapshot: &Snapshot) {
        self.focused_text().push(c);
        self.recheck(snapshot);
    }

    fn delete_char(&mut self, snapshot: &Snapshot) {
        self.focused_text().pop();
        self.recheck(snapshot);
    }

    /// Applies a key of the form's keymap context; `Some` once a valid form is submitted.
    fn update(&mut self, action: Action, snapshot: &Snapshot) -> Option<Command> {
        match action {
            Action::InputChar(c) => self.type_char(c, snapshot),
            Action::DeleteChar => self.delete_char(snapshot),
            Action::NextField => self.next_field(),
            Action::Accept => return self.submit(snapshot),
            _ => {}
        }
        None
    }
}

/// How a form looks right now.
pub struct FormView<'a> {
    /// The popup's title, e.g. `Add account`.
    pub title: &'a str,
    /// Widest the popup gets.
    pub max_width: u16,
    /// Width of the label column (the focus marker comes before it).
    pub label_width: u16,
    /// Each field's label and text, in order.
    pub fields: &'a [(&'a str, &'a str)],
    /// Index into `fields` of the one with the keyboard.
    pub focused: usize,
    /// Why the form cannot be sent, shown under the fields; else `hint`.
    pub error: Option<&'a str>,
    pub hint: &'a str,
}

/// Columns before a field's label: the focus marker.
const MARKER: u16 = 2;

pub fn render(frame: &mut Frame, area: Rect, form: &FormView, theme: &Theme) {
    let width = area.width.saturating_sub(4).min(form.max_width);
    let popup = centered(area, width, 10);
    let label = usize::from(form.label_width);
    // A long text shows its end, where typing happens.
    let room = usize::from(
        popup
            .width
            .saturating_sub(2 + MARKER + form.label_width + 1),
    )
    .max(1);
    let shown = |text: &str| fit_start(text, room);
    let mut lines: Vec<Line> = form
        .fields
        .iter()
        .enumerate()
        .map(|(i, (name, text))| {
            let focused = i == form.focused;
            let marker = if focused { "▸ " } else { "  " };
            let style = if focused { theme.bold() } else { theme.plain() };
            Line::from(vec![
                Span::styled(format!("{marker}{name:<label$}"), style),
                Span::raw(shown(text)),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(match form.error {
        Some(error) => Line::from(Span::styled(format!("✗ {error}"), theme.error())),
        None => Line::from(Span::styled(form.hint, theme.dim())),
    });
    lines.push(Line::default());
    lines.push(key_hints(
        Mode::Form,
        // A form offers the same keys however the dashboard is attached.
        Attachment::Embedded,
        popup.width.saturating_sub(2),
        theme,
    ));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered().title(Span::styled(format!(" {} ", form.title), theme.accent())),
        ),
        popup,
    );
    // The terminal cursor sits where the next character will go.
    let Some((_, text)) = form.fields.get(form.focused) else {
        return;
    };
    let typed = u16::try_from(shown(text).chars().count()).unwrap_or(u16::MAX);
    let column = popup.x + 1 + MARKER + form.label_width + typed;
    let row = u16::try_from(form.focused).unwrap_or(u16::MAX);
    if column < popup.right().saturating_sub(1) {
        frame.set_cursor_position(Position::new(column, popup.y + 1 + row));
    }
}
