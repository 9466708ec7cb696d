//! The add-download form (`a` in the Aria2 pane): a URL and an optional owner
//! account, checked as typed with the same rules the manager applies. Enter
//! sends `Command::AddDownload` only when both are valid.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::accounts::id;
use crate::aria2::downloads::check_url;
use crate::manager::Command;

use super::action::Action;
use super::draw::{centered, key_hints};
use super::keymap::Mode;
use super::theme::Theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownloadField {
    #[default]
    Url,
    Account,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddDownloadForm {
    pub url: String,
    pub account: String,
    pub field: DownloadField,
    /// Why the form cannot be sent, shown under the fields.
    pub error: Option<String>,
}

/// Why `url` cannot be downloaded, in the words shown to the operator.
fn url_problem(url: &str) -> Option<String> {
    if url.is_empty() {
        return Some("the URL is empty: give one http(s), ftp, sftp, magnet or file URL".into());
    }
    check_url(url).err().map(|e| e.to_string())
}

/// Why `account` cannot own a download; empty means no owner.
fn account_problem(account: &str) -> Option<String> {
    if account.is_empty() {
        return None;
    }
    id::validate(account).err().map(|e| e.to_string())
}

impl AddDownloadForm {
    fn field_mut(&mut self) -> &mut String {
        match self.field {
            DownloadField::Url => &mut self.url,
            DownloadField::Account => &mut self.account,
        }
    }

    /// Re-checks after an edit. A URL is judged once it holds a `:` (while
    /// `http` is being typed it is not wrong yet) or on submit.
    fn recheck(&mut self) {
        let url = if self.url.contains(':') {
            url_problem(self.url.trim())
        } else {
            None
        };
        self.error = account_problem(self.account.trim()).or(url);
    }

    pub fn type_char(&mut self, c: char) {
        self.field_mut().push(c);
        self.recheck();
    }

    pub fn delete_char(&mut self) {
        self.field_mut().pop();
        self.recheck();
    }

    pub fn next_field(&mut self) {
        self.field = match self.field {
            DownloadField::Url => DownloadField::Account,
            DownloadField::Account => DownloadField::Url,
        };
    }

    /// Applies a key of the form's keymap context; `Some` once a valid download is submitted.
    pub fn update(&mut self, action: Action) -> Option<Command> {
        match action {
            Action::InputChar(c) => self.type_char(c),
            Action::DeleteChar => self.delete_char(),
            Action::NextField => self.next_field(),
            Action::Accept => return self.submit(),
            _ => {}
        }
        None
    }

    /// The command to send, or `None` with `error` set and the faulty field focused.
    pub fn submit(&mut self) -> Option<Command> {
        let url = self.url.trim();
        let account = self.account.trim();
        if let Some(problem) = url_problem(url) {
            self.error = Some(problem);
            self.field = DownloadField::Url;
            return None;
        }
        if let Some(problem) = account_problem(account) {
            self.error = Some(problem);
            self.field = DownloadField::Account;
            return None;
        }
        self.error = None;
        Some(Command::AddDownload {
            url: url.to_string(),
            account: (!account.is_empty()).then(|| account.to_string()),
            subdir: None,
        })
    }
}

/// Label column width, marker included.
const LABEL: u16 = 10;

pub fn render(frame: &mut Frame, area: Rect, form: &AddDownloadForm, theme: &Theme) {
    let width = area.width.saturating_sub(4).min(76);
    let popup = centered(area, width, 10);
    // The URL is usually longer than the field: show its end, where typing happens.
    let room = usize::from(popup.width.saturating_sub(2 + LABEL + 1)).max(1);
    let tail = |text: &str| -> String {
        let count = text.chars().count();
        if count <= room {
            text.to_string()
        } else {
            let skip = count - room + 1;
            format!("…{}", text.chars().skip(skip).collect::<String>())
        }
    };
    let field_line = |label: &'static str, value: &str, focused: bool| {
        let marker = if focused { "▸ " } else { "  " };
        let style = if focused { theme.bold() } else { theme.plain() };
        Line::from(vec![
            Span::styled(format!("{marker}{label:<8}"), style),
            Span::raw(tail(value)),
        ])
    };
    let mut lines = vec![
        field_line("URL", &form.url, form.field == DownloadField::Url),
        field_line(
            "account",
            &form.account,
            form.field == DownloadField::Account,
        ),
        Line::default(),
    ];
    match &form.error {
        Some(error) => lines.push(Line::from(Span::styled(
            format!("✗ {error}"),
            theme.error(),
        ))),
        None => lines.push(Line::from(Span::styled(
            "URL: http(s), ftp, sftp, magnet or file   account: optional owner id",
            theme.dim(),
        ))),
    }
    lines.push(Line::default());
    lines.push(key_hints(Mode::Form, theme));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(Span::styled(" Add download ", theme.accent()))),
        popup,
    );
    let (row, text) = match form.field {
        DownloadField::Url => (0, &form.url),
        DownloadField::Account => (1, &form.account),
    };
    let shown = u16::try_from(tail(text).chars().count()).unwrap_or(u16::MAX);
    let column = popup.x + 1 + LABEL + shown;
    if column < popup.right().saturating_sub(1) {
        frame.set_cursor_position(Position::new(column, popup.y + 1 + row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(form: &mut AddDownloadForm, text: &str) {
        text.chars().for_each(|c| form.type_char(c));
    }

    #[test]
    fn a_url_is_judged_once_it_has_a_scheme_separator() {
        let mut form = AddDownloadForm::default();
        typed(&mut form, "http");
        assert_eq!(form.error, None, "half a scheme is not an error yet");
        typed(&mut form, "x:");
        assert!(form.error.as_deref().unwrap().contains("refused"));
        form.delete_char();
        form.delete_char();
        typed(&mut form, "s://example.org/a.iso");
        assert_eq!(form.error, None);
    }

    #[test]
    fn submit_focuses_the_faulty_field() {
        let mut form = AddDownloadForm::default();
        form.next_field();
        typed(&mut form, "bad id");
        assert!(form.submit().is_none());
        assert_eq!(form.field, DownloadField::Url, "the URL is checked first");
        assert!(form.error.as_deref().unwrap().contains("empty"));
        typed(&mut form, "example.org/a.iso");
        assert!(form.submit().is_none(), "no scheme");
        form.url = "https://example.org/a.iso".into();
        assert!(form.submit().is_none());
        assert_eq!(form.field, DownloadField::Account);
        assert!(
            form.error
                .as_deref()
                .unwrap()
                .contains("character other than")
        );
        form.account = " alice ".into();
        assert_eq!(
            form.submit(),
            Some(Command::AddDownload {
                url: "https://example.org/a.iso".into(),
                account: Some("alice".into()),
                subdir: None,
            })
        );
    }
}
