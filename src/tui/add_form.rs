//! The add-account form: id and name, the id checked with
//! `accounts::id::validate` (and against existing ids) as it is typed, the
//! error shown inline. Enter sends `Command::AddAccount` only when valid.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::accounts::id;
use crate::manager::{Command, Snapshot};

use super::action::Action;
use super::draw::{centered, key_hints};
use super::keymap::Mode;
use super::theme::Theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormField {
    #[default]
    Id,
    Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddAccountForm {
    pub id: String,
    pub name: String,
    pub field: FormField,
    /// Why the id cannot be used, shown under the fields.
    pub error: Option<String>,
}

/// Why `id` cannot be added, in the words shown to the operator.
fn id_problem(id: &str, snapshot: &Snapshot) -> Option<String> {
    if let Err(invalid) = id::validate(id) {
        return Some(invalid.to_string());
    }
    snapshot
        .accounts
        .iter()
        .any(|a| a.id == id)
        .then(|| format!("account {id} already exists"))
}

impl AddAccountForm {
    fn field_mut(&mut self) -> &mut String {
        match self.field {
            FormField::Id => &mut self.id,
            FormField::Name => &mut self.name,
        }
    }

    /// Re-checks the id after an edit; an empty id is only an error on submit.
    fn recheck(&mut self, snapshot: &Snapshot) {
        self.error = if self.id.is_empty() {
            None
        } else {
            id_problem(&self.id, snapshot)
        };
    }

    pub fn type_char(&mut self, c: char, snapshot: &Snapshot) {
        self.field_mut().push(c);
        self.recheck(snapshot);
    }

    pub fn delete_char(&mut self, snapshot: &Snapshot) {
        self.field_mut().pop();
        self.recheck(snapshot);
    }

    pub fn next_field(&mut self) {
        self.field = match self.field {
            FormField::Id => FormField::Name,
            FormField::Name => FormField::Id,
        };
    }

    /// Applies a key of the form's keymap context; `Some` once a valid account is submitted.
    pub fn update(&mut self, action: Action, snapshot: &Snapshot) -> Option<Command> {
        match action {
            Action::InputChar(c) => self.type_char(c, snapshot),
            Action::DeleteChar => self.delete_char(snapshot),
            Action::NextField => self.next_field(),
            Action::Accept => return self.submit(snapshot),
            _ => {}
        }
        None
    }

    /// The command to send, or `None` with `error` set.
    pub fn submit(&mut self, snapshot: &Snapshot) -> Option<Command> {
        self.error = id_problem(&self.id, snapshot);
        if self.error.is_some() {
            self.field = FormField::Id;
            return None;
        }
        let name = self.name.trim();
        Some(Command::AddAccount {
            id: self.id.clone(),
            name: (!name.is_empty()).then(|| name.to_string()),
            secret: None,
            enabled: true,
        })
    }
}

pub fn render(frame: &mut Frame, area: Rect, form: &AddAccountForm, theme: &Theme) {
    let width = area.width.saturating_sub(4).min(64);
    let popup = centered(area, width, 10);
    let field_line = |label: &'static str, value: &str, focused: bool| {
        let marker = if focused { "▸ " } else { "  " };
        let style = if focused { theme.bold() } else { theme.plain() };
        Line::from(vec![
            Span::styled(format!("{marker}{label:<6}"), style),
            Span::raw(value.to_string()),
        ])
    };
    let mut lines = vec![
        field_line("id", &form.id, form.field == FormField::Id),
        field_line("name", &form.name, form.field == FormField::Name),
        Line::default(),
    ];
    match &form.error {
        Some(error) => lines.push(Line::from(Span::styled(
            format!("✗ {error}"),
            theme.error(),
        ))),
        None => lines.push(Line::from(Span::styled(
            "id: 1-64 of A-Z a-z 0-9 _ . -   name: optional",
            theme.dim(),
        ))),
    }
    lines.push(Line::default());
    lines.push(key_hints(Mode::Form, theme));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(Span::styled(" Add account ", theme.accent()))),
        popup,
    );
    // The terminal cursor sits where the next character will go.
    let (row, text) = match form.field {
        FormField::Id => (0, &form.id),
        FormField::Name => (1, &form.name),
    };
    let column = popup.x + 1 + 8 + u16::try_from(text.chars().count()).unwrap_or(u16::MAX);
    if column < popup.right().saturating_sub(1) {
        frame.set_cursor_position(Position::new(column, popup.y + 1 + row));
    }
}
