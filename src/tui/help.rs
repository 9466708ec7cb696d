//! The `?` overlay: every key with its description, generated from the keymap
//! table (the same one the dispatcher uses), scrollable with j/k.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::draw::centered;
use super::keymap::{self, HelpLine};
use super::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, scroll: u16, theme: &Theme) {
    let popup = centered(
        area,
        area.width.saturating_sub(4).min(84),
        area.height.saturating_sub(2),
    );
    let lines: Vec<Line> = keymap::help_lines()
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
