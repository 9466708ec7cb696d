//! The add-download form (`a` in the Aria2 pane): a URL and an optional owner
//! account, checked as typed with the same rules the manager applies. Enter
//! sends `Command::AddDownload` only when both are valid.

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::accounts::id;
use crate::aria2::downloads::check_url;
use crate::model::{Command, Snapshot};

use super::form::{self, FormView, TextForm};
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

impl TextForm for AddDownloadForm {
    fn focused_text(&mut self) -> &mut String {
        match self.field {
            DownloadField::Url => &mut self.url,
            DownloadField::Account => &mut self.account,
        }
    }

    fn next_field(&mut self) {
        self.field = match self.field {
            DownloadField::Url => DownloadField::Account,
            DownloadField::Account => DownloadField::Url,
        };
    }

    /// A URL is judged once it holds a `:` (while `http` is being typed it
    /// is not wrong yet) or on submit.
    fn recheck(&mut self, _snapshot: &Snapshot) {
        let url = if self.url.contains(':') {
            url_problem(self.url.trim())
        } else {
            None
        };
        self.error = account_problem(self.account.trim()).or(url);
    }

    fn submit(&mut self, _snapshot: &Snapshot) -> Option<Command> {
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

pub fn render(frame: &mut Frame, area: Rect, form: &AddDownloadForm, theme: &Theme) {
    let view = FormView {
        title: "Add download",
        max_width: 76,
        label_width: 8,
        fields: &[("URL", &form.url), ("account", &form.account)],
        focused: match form.field {
            DownloadField::Url => 0,
            DownloadField::Account => 1,
        },
        error: form.error.as_deref(),
        hint: "URL: http(s), ftp, sftp, magnet or file   account: optional owner id",
    };
    form::render(frame, area, &view, theme);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(form: &mut AddDownloadForm, text: &str) {
        text.chars()
            .for_each(|c| form.type_char(c, &Snapshot::default()));
    }

    #[test]
    fn a_url_is_judged_once_it_has_a_scheme_separator() {
        let mut form = AddDownloadForm::default();
        typed(&mut form, "http");
        assert_eq!(form.error, None, "half a scheme is not an error yet");
        typed(&mut form, "x:");
        assert!(form.error.as_deref().unwrap().contains("refused"));
        form.delete_char(&Snapshot::default());
        form.delete_char(&Snapshot::default());
        typed(&mut form, "s://example.org/a.iso");
        assert_eq!(form.error, None);
    }

    #[test]
    fn submit_focuses_the_faulty_field() {
        let mut form = AddDownloadForm::default();
        form.next_field();
        typed(&mut form, "bad id");
        assert!(form.submit(&Snapshot::default()).is_none());
        assert_eq!(form.field, DownloadField::Url, "the URL is checked first");
        assert!(form.error.as_deref().unwrap().contains("empty"));
        typed(&mut form, "example.org/a.iso");
        assert!(form.submit(&Snapshot::default()).is_none(), "no scheme");
        form.url = "https://example.org/a.iso".into();
        assert!(form.submit(&Snapshot::default()).is_none());
        assert_eq!(form.field, DownloadField::Account);
        assert!(
            form.error
                .as_deref()
                .unwrap()
                .contains("character other than")
        );
        form.account = " alice ".into();
        assert_eq!(
            form.submit(&Snapshot::default()),
            Some(Command::AddDownload {
                url: "https://example.org/a.iso".into(),
                account: Some("alice".into()),
                subdir: None,
            })
        );
    }
}
