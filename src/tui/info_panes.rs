//! The Temp pane (what the temp registry publishes), and the plain "not built
//! yet" placeholder a pane shows while its subsystem's part of `Snapshot` is `None`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::manager::Snapshot;
use crate::time;

use super::format;
use super::theme::Theme;

fn field(name: &str, value: String, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{name:<10}"), theme.bold()),
        Span::raw(value),
    ])
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

pub fn render_temp(frame: &mut Frame, area: Rect, snapshot: &Snapshot, now_ms: i64, theme: &Theme) {
    let Some(temp) = &snapshot.temp else {
        return placeholder(
            frame,
            area,
            "Temp",
            "This build has no temp registry yet. When it lands, this pane shows the registered temp files and dirs, their size, and the orphans a sweep would remove.",
            theme,
        );
    };
    let orphaned_style = if temp.orphaned > 0 {
        theme.warn()
    } else {
        theme.plain()
    };
    let lines = vec![
        field("files", temp.files.to_string(), theme),
        field("dirs", temp.dirs.to_string(), theme),
        field("size", time::human_bytes(temp.bytes), theme),
        Line::from(vec![
            Span::styled(format!("{:<10}", "orphaned"), theme.bold()),
            Span::styled(temp.orphaned.to_string(), orphaned_style),
        ]),
        field(
            "counted",
            format!("{} ago", format::coarse_age(temp.refreshed_ms, now_ms)),
            theme,
        ),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Temp ")),
        area,
    );
}
