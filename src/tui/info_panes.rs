//! The plain "not built yet" placeholder a pane shows while its subsystem's
//! part of `Snapshot` is `None`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;

pub fn placeholder(frame: &mut Frame, area: Rect, title: &str, what: &str, theme: &Theme) {
    let lines = vec![
        Line::from(Span::styled(
            format!("{title}: not built yet"),
            theme.bold(),
        )),
        Line::default(),
        Line::from(Span::styled(what.to_string(), theme.dim())),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" {title} "))),
        area,
    );
}
