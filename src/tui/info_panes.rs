//! What the info panes and details views are made of: `field` lines (a bold
//! label, then the value) and the plain "not built yet" placeholder a pane
//! shows while its subsystem's part of `Snapshot` is `None`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;

/// Width of a field's label column.
pub const LABEL_WIDTH: usize = 10;

/// `name      value`: the label padded to `LABEL_WIDTH` in bold, then `value`.
pub fn field(name: &str, value: Vec<Span<'static>>, theme: &Theme) -> Line<'static> {
    let mut line = vec![Span::styled(format!("{name:<LABEL_WIDTH$}"), theme.bold())];
    line.extend(value);
    Line::from(line)
}

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
