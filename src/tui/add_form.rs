//! The add-account form: id and name, the id checked with
//! `accounts::id::validate` (and against existing ids) as it is typed, the
//! error shown inline. Enter sends `Command::AddAccount` only when valid.

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::accounts::id;
use crate::model::{Command, Snapshot};

use super::form::{self, FormView, TextForm};
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

impl TextForm for AddAccountForm {
    fn focused_text(&mut self) -> &mut String {
        match self.field {
            FormField::Id => &mut self.id,
            FormField::Name => &mut self.name,
        }
    }

    fn next_field(&mut self) {
        self.field = match self.field {
            FormField::Id => FormField::Name,
            FormField::Name => FormField::Id,
        };
    }

    /// Re-checks the id after an edit; an empty id is only an error on submit.
    fn recheck(&mut self, snapshot: &Snapshot) {
        self.error = if self.id.is_empty() {
            None
        } else {
            id_problem(&self.id, snapshot)
        };
    }

    fn submit(&mut self, snapshot: &Snapshot) -> Option<Command> {
        self.error = id_problem(&self.id, snapshot);
        if self.error.is_some() {
            self.field = FormField::Id;
            return None;
        }
        let name = self.name.trim();
        if let Err(invalid) = id::validate_name(name) {
            self.error = Some(invalid.to_string());
            self.field = FormField::Name;
            return None;
        }
        Some(Command::AddAccount {
            id: self.id.clone(),
            name: (!name.is_empty()).then(|| name.to_string()),
            secret: None,
            enabled: true,
        })
    }
}

pub fn render(frame: &mut Frame, area: Rect, form: &AddAccountForm, theme: &Theme) {
    let view = FormView {
        title: "Add account",
        max_width: 64,
        label_width: 6,
        fields: &[("id", &form.id), ("name", &form.name)],
        focused: match form.field {
            FormField::Id => 0,
            FormField::Name => 1,
        },
        error: form.error.as_deref(),
        hint: "id: 1-64 of A-Z a-z 0-9 _ . -   name: optional",
    };
    form::render(frame, area, &view, theme);
}
