//! `ListFrame`: what every list of the panes shares: a title with counts (and
//! the filter), a message instead of an empty table, a header row, the
//! selection marker, and only the rows that fit on screen being built.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, HighlightSpacing, Paragraph, Row, Table, TableState};

use super::rows;
use super::theme::Theme;

/// One column of a list: its header word, its width, and whether it holds
/// numbers (pids, counts, sizes, ages), which are right-aligned, header too.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub title: &'static str,
    pub width: Constraint,
    pub numeric: bool,
}

/// A column of text, left-aligned.
pub const fn column(title: &'static str, width: Constraint) -> Column {
    Column {
        title,
        width,
        numeric: false,
    }
}

/// A column of numbers, right-aligned.
pub const fn number(title: &'static str, width: Constraint) -> Column {
    Column {
        title,
        width,
        numeric: true,
    }
}

impl Column {
    fn cell<'r>(&self, text: Text<'r>) -> Cell<'r> {
        Cell::from(if self.numeric {
            text.right_aligned()
        } else {
            text
        })
    }
}

/// A list's frame: its title, what it says without rows, and its borders.
pub struct ListFrame<'a> {
    /// The title word: `Accounts`, `Downloads`.
    pub name: &'a str,
    /// Said in the title after the counts.
    pub note: Option<&'a str>,
    /// One row in words, for `no account matches "x"`.
    pub noun: &'a str,
    /// What the list says when there are no rows at all.
    pub empty: &'a str,
    /// Rows before the filter.
    pub total: usize,
    pub filter: &'a str,
    /// `ALL` for a whole pane, `TOP` for a section under other lines.
    pub borders: Borders,
    pub columns: &'a [Column],
}

impl ListFrame<'_> {
    /// Draws `visible` (the filtered rows) as a table with `selected` marked,
    /// building only the rows that fit; or the empty / no-match message.
    /// `cells` gives a row's cells in column order.
    pub fn render<'r, T>(
        &self,
        frame: &mut Frame,
        area: Rect,
        visible: &[T],
        selected: Option<usize>,
        cells: impl Fn(&T) -> Vec<Text<'r>>,
        theme: &Theme,
    ) {
        let block = Block::new()
            .borders(self.borders)
            .title(self.title(visible.len(), theme));
        if visible.is_empty() {
            let text = if self.total == 0 {
                self.empty.to_string()
            } else {
                format!(
                    "no {} matches \"{}\" (Esc clears the filter)",
                    self.noun, self.filter
                )
            };
            frame.render_widget(
                Paragraph::new(Span::styled(text, theme.dim())).block(block),
                area,
            );
            return;
        }
        // The header line takes one line of the block's inside.
        let page = usize::from(block.inner(area).height.saturating_sub(1));
        let shown = rows::on_screen(visible.len(), selected, page);
        let offset = shown.start;
        let row = |item: &T| Row::new(self.columns.iter().zip(cells(item)).map(|(c, t)| c.cell(t)));
        let header = self.columns.iter().map(|c| c.cell(Text::from(c.title)));
        let table = Table::new(
            visible[shown].iter().map(row),
            self.columns.iter().map(|c| c.width),
        )
        .header(Row::new(header).style(theme.bold()))
        .block(block)
        .row_highlight_style(theme.selected_row())
        .highlight_symbol("▸ ")
        // The marker's column stays when the selection is in another list
        // of the pane (Aria2's downloads, then its foreign rows).
        .highlight_spacing(HighlightSpacing::Always);
        let mut table_state = TableState::default().with_selected(selected.map(|s| s - offset));
        frame.render_stateful_widget(table, area, &mut table_state);
    }
}

impl ListFrame<'_> {
    /// ` Accounts (3) ` or ` Accounts (2 of 3 match "ali") `, then the note if any.
    fn title(&self, shown: usize, theme: &Theme) -> Line<'static> {
        let (name, total, filter) = (self.name, self.total, self.filter);
        let counts = if filter.is_empty() {
            format!("{name} ({total})")
        } else {
            format!("{name} ({shown} of {total} match \"{filter}\")")
        };
        let text = match self.note {
            Some(note) => format!(" {counts}: {note} "),
            None => format!(" {counts} "),
        };
        Line::from(Span::styled(text, theme.bold()))
    }
}
