//! The `?` overlay: every key with its description, generated from the keymap
//! table (the same one the dispatcher uses), scrollable with j/k, PgUp/PgDn,
//! g/G like every list.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::keymap::{self, HelpLine};
use super::link::Attachment;
use super::rect::centered;
use super::theme::Theme;

fn popup(area: Rect) -> Rect {
    centered(
        area,
        area.width.saturating_sub(4).min(84),
        area.height.saturating_sub(2),
    )
}

/// How many help lines show at once on a terminal of `size` (columns, rows).
pub fn page_lines(size: (u16, u16)) -> u16 {
    popup(Rect::new(0, 0, size.0, size.1))
        .height
        .saturating_sub(2)
}

/// The scroll offset that shows the last help line at the bottom.
pub fn max_scroll(size: (u16, u16), attachment: Attachment) -> u16 {
    let total = u16::try_from(keymap::help_lines(attachment).len()).unwrap_or(u16::MAX);
    total.saturating_sub(page_lines(size))
}

pub fn render(frame: &mut Frame, area: Rect, scroll: u16, attachment: Attachment, theme: &Theme) {
    let popup = popup(area);
    let lines: Vec<Line> = keymap::help_lines(attachment)
        .into_iter()
        .map(|line| match line {
            HelpLine::Heading(heading) => Line::from(Span::styled(heading, theme.accent())),
            HelpLine::Key { keys, description } => Line::from(vec![
                Span::styled(format!("  {keys:<18}"), theme.bold()),
                Span::raw(description),
            ]),
        })
        .collect();
    let visible = popup.height.saturating_sub(2);
    let total = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let scroll = scroll.min(total.saturating_sub(visible));
    let last = (scroll + visible).min(total);
    let title = format!(
        " Keys: lines {}-{last} of {total} · j/k scroll · Esc close ",
        scroll + 1
    );
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(Block::bordered().title(Span::styled(title, theme.bold()))),
        popup,
    );
}
